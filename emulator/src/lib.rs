//! A local, Slicer-compatible API server for tests, demos and offline
//! development.
//!
//! It serves the Slicer control plane (host groups, VMs and their
//! lifecycle, tags, logs, stats, agent health, secrets) with the same
//! paths, JSON shapes and status codes as the daemon, using the models of
//! `slicer-core` so client and server cannot disagree on the wire. VMs are
//! simulated: each has a root directory under the data directory and a
//! guest agent that comes up after a configurable boot delay.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), slicer_emulator::StartError> {
//! use slicer_emulator::{host_group, Emulator, EmulatorConfig};
//!
//! let config = EmulatorConfig {
//!     host_groups: vec![host_group("sbox"), host_group("ci")],
//!     ..Default::default()
//! };
//! let emulator = Emulator::start(config).await?;
//! println!("Slicer API at {} with token {:?}", emulator.url(), emulator.token());
//! emulator.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Choices where the protocol is silent
//!
//! - A suspended VM shows status `Suspended`; relaunch refuses it (409) and
//!   points to restore.
//! - A VM created without userdata reports `userdata_ran: true` and exit
//!   code 0: there is nothing to wait for.
//! - Pause and resume are idempotent; guest operations, shutdown and reboot
//!   on a paused VM answer 409.
//! - Health answers 503 while the agent boots and for paused, stopped or
//!   suspended VMs; stats then carry `snapshot: null` and an `error`.
//! - `GET /node/{h}/stats` returns one object, as the OpenAPI spec says.
//! - Secret files get the requested owner only when the emulator runs as
//!   root; otherwise they keep the emulator's uid and gid, and listings
//!   show those.

mod agent;
mod auth;
pub mod cli;
mod config;
mod cors;
mod error;
mod extract;
mod logbuf;
mod routes;
mod secrets;
mod server;
mod state;
mod stats;
mod tags;
mod validate;
mod vm;

pub use config::{
    host_group, is_dns_label, parse_host_group, parse_listen, parse_size, Auth, EmulatorConfig,
    Listen, DEFAULT_BOOT_DELAY, DEFAULT_GROUP_CPUS, DEFAULT_GROUP_RAM,
};
pub use error::StartError;
pub use server::{Emulator, RunningEmulator};
