//! A native Rust client for [Slicer](https://slicervm.com), the microVM
//! daemon, over HTTP, HTTPS or a UNIX socket.
//!
//! This crate is the one a native program adds: it re-exports the whole
//! transport-agnostic API of `slicer-core` ([`SlicerClient`], the models,
//! [`Error`]) and supplies the transports that move the bytes.
//!
//! - [Connecting](#connecting)
//! - [From the environment](#from-the-environment)
//! - [UNIX sockets](#unix-sockets)
//! - [Your own reqwest client](#your-own-reqwest-client)
//! - [Timeouts](#timeouts)
//! - [Copying files](#copying-files)
//! - [Errors](#errors)
//!
//! ```toml
//! [dependencies]
//! slicer = "0.1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
//! ```
//!
//! # Connecting
//!
//! [`connect`] takes the base URL and an optional token and returns a
//! [`Client`]. Nothing is opened until the first call; clones share one
//! connection pool.
//!
//! ```no_run
//! use slicer::{CreateVmRequest, ListOptions};
//!
//! # async fn demo() -> slicer::Result<()> {
//! let client = slicer::connect("http://127.0.0.1:8080", Some("s3cret"))?;
//! println!("daemon {}", client.get_info().await?.version);
//!
//! // An empty group name picks the only configured host group.
//! let vm = client.create_vm("", &CreateVmRequest::default()).await?;
//! for node in client.list_vms(&ListOptions::default()).await? {
//!     println!("{} {} {}", node.hostname, node.status, node.ip);
//! }
//! client.delete_vm(&vm.hostgroup, &vm.hostname).await?;
//! # Ok(()) }
//! ```
//!
//! [`ClientBuilder`] sets the user agent, timeouts and HTTP client too.
//! Both transports run on Tokio, so calls must be made inside a Tokio
//! runtime.
//!
//! # From the environment
//!
//! [`from_env`] reads `SLICER_URL` (required), `SLICER_TOKEN` or else
//! `SLICER_TOKEN_FILE`, and `SLICER_USER_AGENT`, as the Go SDK does, with one
//! difference: no token at all is allowed, because a daemon on a UNIX socket
//! normally runs without authentication. A token file that is empty or
//! unreadable is an error naming the file.
//!
//! ```no_run
//! # async fn demo() -> slicer::Result<()> {
//! let client = slicer::from_env()?;
//! # Ok(()) }
//! ```
//!
//! # UNIX sockets
//!
//! A base URL that starts with `/`, `./`, `../` or `~/`, or ends in `.sock`
//! (optionally after `unix://`), is a socket path. A leading `~/` is replaced
//! by `$HOME`; relative paths are used as given. Requests then go over
//! HTTP/1.1 on the socket with the base URL `http://unix`
//! ([`UNIX_BASE_URL`]).
//!
//! ```no_run
//! # fn demo() -> slicer::Result<()> {
//! let local = slicer::connect("/var/run/slicer/api.sock", None)?;
//! let mac = slicer::connect("~/slicer-mac/slicer.sock", None)?;
//! # Ok(()) }
//! ```
//!
//! # Your own reqwest client
//!
//! For proxies, custom root certificates or client certificates, build a
//! `reqwest::Client` and hand it over. Its own connect timeout and TLS
//! settings apply.
//!
//! ```no_run
//! # fn demo(http: reqwest::Client) -> slicer::Result<()> {
//! let client = slicer::ClientBuilder::new("https://slicer.example.com")
//!     .with_token("s3cret")
//!     .with_reqwest_client(http)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # Timeouts
//!
//! [`Timeouts`] holds a connect limit (10 s by default) and a limit on
//! waiting for the response *head* (60 s by default). Reading a response body
//! is never timed out, so exec output, followed logs and downloads stream for
//! as long as they run; a streamed upload is not timed out either, the clock
//! starting once it has been sent. Calls that legitimately wait long for
//! their head (`wait-exit`, buffered exec, create or restore with a wait)
//! are marked [`LongRunning`] by the client and get no head limit. A request
//! sent through a transport directly can carry a [`RequestTimeout`] to pick
//! its own limit.
//!
//! ```no_run
//! use std::time::Duration;
//! use slicer::{ClientBuilder, Timeouts};
//!
//! # fn demo() -> slicer::Result<()> {
//! let timeouts = Timeouts::new(Duration::from_secs(3), Some(Duration::from_secs(20)));
//! let client = ClientBuilder::new("http://127.0.0.1:8080").with_timeouts(timeouts).build()?;
//! # Ok(()) }
//! ```
//!
//! To cancel a call, drop its future (for example with
//! `tokio::time::timeout` or `tokio::select!`): the connection it was using
//! is closed.
//!
//! # Copying files
//!
//! [`CopyExt`] (Unix only) adds path-based copies to every client:
//! [`cp_to_vm`](CopyExt::cp_to_vm) sends a local file or directory, and
//! [`cp_from_vm`](CopyExt::cp_from_vm) writes a VM's file or directory
//! here, with `cp -r`-style destination rules on both sides. Files stream
//! from and to disk and directories travel as a tar built or extracted on
//! the fly, so memory use stays flat whatever the size. Downloads are
//! written to a temporary file or a staging directory and renamed into
//! place, so a failed copy leaves no partial result where nothing was, and
//! archives from the VM cannot write outside the destination.
//!
//! ```no_run
//! use slicer::{CopyExt, CopyOptions};
//!
//! # async fn demo(client: slicer::Client) -> slicer::Result<()> {
//! let options = CopyOptions::new().with_uid(1000).with_gid(1000).with_exclude(["target"]);
//! client.cp_to_vm("sbox-1", "./project", "/home/ubuntu/", &options).await?;
//! client
//!     .cp_from_vm("sbox-1", "/home/ubuntu/project/target/release/app", ".", &CopyOptions::new())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The walker and the extractor behind them are public in [`copy`]
//! ([`copy::write_tar`], [`copy::extract_tar`]).
//!
//! # Errors
//!
//! Calls return [`Error`]. [`Error::Api`] carries a non-success status and
//! the daemon's message; [`Error::Transport`] means no answer arrived, and
//! its [`TransportError::kind`] tells a refused connection
//! ([`TransportErrorKind::Connect`], safe to retry) from a timeout or a
//! broken connection. Transport errors never contain the URL or the token.
//!
//! ```no_run
//! # async fn demo(client: slicer::Client) {
//! match client.describe_vm("sbox-1").await {
//!     Ok(vm) => println!("{vm:?}"),
//!     Err(e) if e.is_not_found() => println!("no such VM"),
//!     Err(slicer::Error::Transport(e)) if e.kind() == slicer::TransportErrorKind::Connect => {
//!         println!("daemon not reachable: {e}")
//!     }
//!     Err(e) => println!("failed: {e}"),
//! }
//! # }
//! ```

mod body;
mod builder;
#[cfg(unix)]
pub mod copy;
mod errors;
mod native;
mod reqwest_transport;
#[cfg(test)]
mod test_server;
mod timeouts;
#[cfg(test)]
mod transport_tests;
#[cfg(unix)]
mod unix;

pub use slicer_core::*;

pub use builder::{connect, from_env, transport_for, ClientBuilder, EnvSettings};
#[cfg(unix)]
pub use copy::{CopyExt, CopyMode, CopyOptions, CopyReport};
pub use native::{Transport, UNIX_BASE_URL};
pub use reqwest_transport::ReqwestTransport;
pub use timeouts::{RequestTimeout, Timeouts};
#[cfg(unix)]
pub use unix::UnixSocketTransport;

/// Re-exported so callers configuring their own client name the same
/// version this crate uses.
pub use reqwest;

/// The native client: [`SlicerClient`] over whichever [`Transport`] the base
/// URL called for.
pub type Client = SlicerClient<Transport>;
