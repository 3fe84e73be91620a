//! A local, Slicer-compatible API server for tests, demos and offline
//! development.
//!
//! It serves the Slicer control plane (host groups, VMs and their
//! lifecycle, tags, logs, stats, agent health, secrets) and the guest
//! agent's operations (exec, background exec, file copy, filesystem calls,
//! userdata) with the same paths, JSON shapes and status codes as the
//! daemon, using the models of `slicer-core` so client and server cannot
//! disagree on the wire. VMs are simulated: each has a root directory under
//! the data directory and a guest agent that comes up after a configurable
//! boot delay.
//!
//! # Guest processes
//!
//! Exec, background exec and userdata run real processes under bubblewrap
//! (`bwrap`), confined to the VM's root directory: the host's `/usr`
//! read-only (with `/bin`, `/lib`, `/lib64`, `/sbin` links), the VM's own
//! top-level directories (`/home`, `/tmp`, `/etc`, `/root`, ...) writable,
//! a private `/proc`, `/dev`, PID namespace and hostname, and a clean
//! environment (`PATH`, `HOME`, `USER` and the requested `env`). Each VM's
//! `/etc` is seeded with `root` (0) and `ubuntu` (1000, home
//! `/home/ubuntu`) accounts.
//!
//! - Without `uid`, processes run as `ubuntu` (1000:1000); `uid=0` is root
//!   (with the capabilities to own and override the VM's files, none that
//!   reach the host). Only an emulator running as root can switch users;
//!   otherwise every process runs as the emulator's own user, whatever was
//!   asked, and `HOME`/`USER` still name the requested account. A custom
//!   data directory must then be searchable (`o+x`) for the guest uids.
//! - Without bwrap the emulator still starts (with a warning); every exec
//!   answers a frame with `error` naming bwrap and exit code 127, a
//!   background launch 500, and userdata ends with code 127.
//! - A process ended by signal n exits with 128+n and `signal` such as
//!   `SIGTERM`. bwrap reports a signalled command as exit code 128+n, so an
//!   explicit `exit 143` reads as SIGTERM too.
//! - Guest processes follow their VM: stopped while it is paused or
//!   suspended, continued when it runs, killed when it reboots, shuts down
//!   or is deleted (a reboot also empties the background registry). A
//!   client that disconnects from a foreground exec kills its process.
//! - Every guest path of fs, cp and `cwd` resolves inside the VM's root:
//!   `..` is refused (400), an absolute symlink means the VM's own root, a
//!   symlink that climbs above the root is refused (400), and operations
//!   never follow a symlink that appears while they run. `/usr`, `/bin`,
//!   `/lib`, `/lib64`, `/sbin`, `/proc` and `/dev` belong to the sandbox, not
//!   the VM, so fs and cp refuse them (400). `~` is the effective user's
//!   home.
//! - Exec's `permissions` parameter is checked (octal) and otherwise
//!   ignored, its meaning being undocumented; `stdout=false` or
//!   `stderr=false` send that stream to `/dev/null`. With `shell`, extra
//!   `args` become `$0`, `$1`, ... of the script.
//! - The legacy-agent mode ([`EmulatorConfig::legacy_agent`]) answers
//!   seed-era exec frames, ignores `stdio`, and refuses cp-v1 copy modes
//!   with the daemon's `invalid mode: <mode>` text.
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
//! - fs `mtime` is RFC 3339, `mode` four octal digits of the permission
//!   bits; devices, FIFOs and sockets are listed as `file`.
//! - Background frame ids start at 1; `from_id` is inclusive; reaping a
//!   running process answers 409; an unknown id 404, a reaped one 410.
//! - A cp binary upload without `permissions` keeps the replaced file's
//!   mode, else 0644; a tar upload's `permissions` applies to its regular
//!   files; an `X-Slicer-Unpacked-Size` above the free space answers 413.

mod agent;
mod auth;
pub mod cli;
mod config;
mod cors;
mod error;
mod extract;
mod guest;
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
