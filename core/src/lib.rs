//! The transport-agnostic core of the Slicer SDK.
//!
//! Slicer runs Firecracker and Cloud Hypervisor microVMs behind a REST API.
//! This crate holds everything about that API that does not depend on how
//! bytes move: the typed models, URL and query building, authentication,
//! error mapping and the [`SlicerClient`] itself. A backend supplies an
//! [`HttpTransport`]; the `slicer` crate provides reqwest and UNIX-socket
//! transports for native programs, and `slicer-wasm` a fetch transport for
//! browsers and edge runtimes.
//!
//! This crate has no async runtime and builds for `wasm32-unknown-unknown`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo<T: slicer_core::HttpTransport>(transport: T) -> slicer_core::Result<()> {
//! use slicer_core::{gib, ClientConfig, CreateVmRequest, ListOptions, SlicerClient};
//!
//! let client = SlicerClient::new(transport, ClientConfig::new("http://127.0.0.1:8080").with_token("s3cret"))?;
//! let vm = client
//!     .create_vm("sbox", &CreateVmRequest { ram_bytes: Some(gib(2)), ..Default::default() })
//!     .await?;
//! for node in client.list_vms(&ListOptions::default()).await? {
//!     println!("{} {} {}", node.hostname, node.status, node.ip);
//! }
//! client.delete_vm("sbox", &vm.hostname).await?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every call returns [`Error`]: [`Error::Api`] for a non-success status (with
//! the daemon's message), [`Error::Transport`] when no answer arrived,
//! [`Error::InvalidInput`] for input rejected before anything was sent, and a
//! few specific variants such as [`Error::SecretExists`]. No error ever
//! contains the token.

pub mod background;
mod client;
#[cfg(test)]
mod client_tests;
pub mod copy;
mod error;
pub mod exec;
pub mod fs;
pub mod models;
pub mod tar;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod transport;
mod url;
pub mod wire;

pub use background::{
    BackgroundExec, BackgroundExecInfo, KillOptions, KillResponse, LogFrame, LogOptions, LogStream,
    ReapResponse, Signal, WaitExitResponse,
};
pub use client::{ClientConfig, SlicerClient, DEFAULT_USER_AGENT};
pub use copy::{
    CopyGeneration, Download, DownloadMode, DownloadRequest, SourceType, Upload, UploadKind,
    UploadSource,
};
pub use error::{ApiError, BoxError, Error, Result, TransportError, TransportErrorKind};
pub use exec::{ExecFrame, ExecOutput, ExecRequest, ExecStream, ExitStatus, Stdio};
pub use fs::{FileContents, FileType, FsEntry, MkdirRequest, WriteFileOptions};
pub use models::*;
pub use transport::{
    Body, BoxStream, HttpTransport, LongRunning, MaybeSend, MaybeSync, ResponseBody,
};
pub use url::{BaseUrl, Query};

/// Re-exported so backends and callers name the same `http` and `bytes` types.
pub use bytes;
pub use http;
