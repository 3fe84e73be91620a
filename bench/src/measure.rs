//! Measuring a child process the same way whatever it is (our copy client
//! or curl): `slicer-bench measure --report FILE -- PROGRAM ARGS…` runs the
//! program, waits for it, and writes its wall time and its
//! `getrusage(RUSAGE_CHILDREN)`: user and system CPU and peak RSS. The shim
//! has no other child, so those are exactly the program's.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nix::sys::resource::{getrusage, UsageWho};
use serde::{Deserialize, Serialize};

use crate::{BenchError, BenchResult, Context};

/// What one measured run of a program cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// From spawn to exit, seconds.
    pub wall_s: f64,
    /// User CPU, seconds.
    pub user_s: f64,
    /// System CPU, seconds.
    pub sys_s: f64,
    /// Peak resident set size, KiB.
    pub maxrss_kib: u64,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
}

impl Usage {
    /// User plus system CPU.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// The shim's side: runs `argv` with this process's stdio, waits, and
/// writes its [`Usage`] as JSON to `report`. Returns the program's exit
/// code (1 when a signal ended it).
///
/// # Errors
///
/// The program cannot be started, or the report cannot be written.
pub fn run_shim(report: &Path, argv: &[OsString]) -> BenchResult<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| BenchError::new("measure needs a program to run after --"))?;
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .context(|| format!("run {}", program.to_string_lossy()))?;
    let wall_s = started.elapsed().as_secs_f64();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context(|| "getrusage".to_owned())?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let measured = Usage {
        wall_s,
        user_s: seconds(usage.user_time()),
        sys_s: seconds(usage.system_time()),
        // Linux reports ru_maxrss in KiB.
        maxrss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        code: status.code(),
    };
    let text = serde_json::to_string(&measured).expect("a Usage serialises");
    std::fs::write(report, text).context(|| format!("write {}", report.display()))?;
    Ok(status.code().unwrap_or(1))
}

/// A finished measured run: its usage and what it printed.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall time, CPU and peak RSS.
    pub usage: Usage,
    /// Its standard output (empty unless captured).
    pub stdout: Vec<u8>,
}

/// Runs `argv` under the shim (`self_exe measure`), with standard output
/// captured when `capture` is set and discarded otherwise. A non-zero exit
/// is an error carrying what the program printed on stderr.
///
/// # Errors
///
/// The shim or the program failed, or the report is unreadable.
pub fn measured(
    self_exe: &Path,
    scratch: &Path,
    argv: &[OsString],
    capture: bool,
) -> BenchResult<Measured> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let report = scratch.join(format!(
        "usage-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let shown = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new(self_exe)
        .arg("measure")
        .arg("--report")
        .arg(&report)
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .output()
        .context(|| format!("run the measuring shim for {shown}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&report);
        return Err(BenchError::new(format!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = std::fs::read_to_string(&report).context(|| format!("read {}", report.display()))?;
    let _ = std::fs::remove_file(&report);
    let usage: Usage = serde_json::from_str(&text).context(|| format!("parse {text:?}"))?;
    Ok(Measured {
        usage,
        stdout: output.stdout,
    })
}

/// Times `work`, returning its result and the seconds it took.
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = work();
    (value, started.elapsed().as_secs_f64())
}
