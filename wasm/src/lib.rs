//! The Slicer SDK for JavaScript runtimes: browsers, web workers, Node,
//! Deno and Cloudflare-style workers, from one WebAssembly module.
//!
//! This crate adds two things to `slicer-core`:
//!
//! - `FetchTransport` (module `transport`), a `slicer_core::HttpTransport`
//!   over the runtime's `fetch` (or a caller-supplied one) that streams
//!   response bodies chunk by chunk and aborts the fetch when the Rust
//!   future or stream is dropped;
//! - the JavaScript API of the official TypeScript SDK (`SlicerClient`,
//!   `vms`, `VM`, `fs`, `bg`, ...), exported through wasm-bindgen as the
//!   internal `Core` class (module `api`), which the package's thin
//!   hand-written JavaScript layer (`wasm/npm/api.js`) wraps into the public
//!   classes and async generators.
//!
//! Everything is compiled for `wasm32` only; on other targets this crate is
//! empty.
//!
//! # Limits
//!
//! - No UNIX sockets: a socket base URL needs a caller-supplied `fetch`
//!   bound to the socket.
//! - Request bodies are sent whole: a streamed body is collected in memory
//!   first, because browsers cannot stream uploads universally (and never in
//!   full duplex), so exec stdin is not streamed.
//! - No port forwarding and no `Authorization` on WebSockets (a browser
//!   cannot set it); use a same-origin relay.

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
mod convert;
#[cfg(target_arch = "wasm32")]
pub mod errors;
#[cfg(target_arch = "wasm32")]
mod folder;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
pub mod streams;
#[cfg(target_arch = "wasm32")]
pub mod transport;

#[cfg(target_arch = "wasm32")]
pub use api::{resolve_transport, Core};
#[cfg(target_arch = "wasm32")]
pub use streams::JsStream;
#[cfg(target_arch = "wasm32")]
pub use transport::FetchTransport;

/// Installs the panic hook when the module is instantiated, so a Rust panic
/// reaches the console with its message instead of an opaque `unreachable`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}
