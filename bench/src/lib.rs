//! Benchmarks of the Slicer SDK, each printed next to a reference tool doing
//! the same work on the same data in the same run: GNU tar for the tar
//! module, curl for the HTTP paths, the native build for the WebAssembly
//! package.
//!
//! The binary `slicer-bench` runs the groups and prints one markdown table
//! with a header describing the machine. Figures are never asserted
//! anywhere: the table is for people to read, side by side.
//!
//! | group | what | reference |
//! | --- | --- | --- |
//! | `tar` | pack and unpack, in memory and on disk | GNU tar |
//! | `exec` | streaming 512 MiB of stdout, first-frame latency | curl on the same request |
//! | `copy` | 1 GiB file and tree, up and down | curl on the same request |
//! | `requests` | 1,000 `list_vms`, sequential and 16 in flight | curl with keep-alive |
//! | `npm` | `.wasm` and JavaScript sizes | none |
//!
//! Data is generated under a temporary directory (on `/dev/shm` when it
//! exists, so the disk never sets the pace) and removed at the end.

pub mod child;
pub mod data;
pub mod emulator;
pub mod groups;
pub mod measure;
pub mod node;
pub mod record;
pub mod report;

use std::fmt;
use std::path::{Path, PathBuf};

pub use report::{Better, Figure, Report, Row};

/// A failure of the harness itself, with a message naming what failed.
#[derive(Debug)]
pub struct BenchError(String);

impl BenchError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        BenchError(message.into())
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

/// What every fallible step of the harness returns.
pub type BenchResult<T> = Result<T, BenchError>;

/// Adds what was being done to any displayable error.
pub trait Context<T> {
    /// Wraps the error as `<what>: <error>`.
    fn context(self, what: impl FnOnce() -> String) -> BenchResult<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> BenchResult<T> {
        self.map_err(|e| BenchError(format!("{}: {e}", what())))
    }
}

/// A group of benchmarks, selectable with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// In-memory and on-disk tar against GNU tar.
    Tar,
    /// Exec output streaming and latency against curl.
    Exec,
    /// File and tree copies against curl.
    Copy,
    /// Per-request overhead against curl.
    Requests,
    /// Sizes of the npm package.
    Npm,
}

impl Group {
    /// Every group, in the order they run.
    pub const ALL: [Group; 5] = [
        Group::Tar,
        Group::Exec,
        Group::Copy,
        Group::Requests,
        Group::Npm,
    ];

    /// The name `--only` takes.
    pub fn name(self) -> &'static str {
        match self {
            Group::Tar => "tar",
            Group::Exec => "exec",
            Group::Copy => "copy",
            Group::Requests => "requests",
            Group::Npm => "npm",
        }
    }

    /// Parses a name given to `--only`.
    ///
    /// # Errors
    ///
    /// A message listing the valid names.
    pub fn parse(name: &str) -> Result<Group, String> {
        Group::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Group::ALL.iter().map(|g| g.name()).collect();
                format!("unknown group {name:?}; choose from {}", names.join(", "))
            })
    }
}

/// How much work each benchmark does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Files in the many-small-files tar data set (1 to 16 KiB each).
    pub tar_files: usize,
    /// Size of the one-big-file tar data set.
    pub tar_big: u64,
    /// Bytes the exec command writes to stdout.
    pub exec_bytes: u64,
    /// Runs of the one-line command for the latency medians.
    pub latency_runs: usize,
    /// Size of the copied file.
    pub copy_file: u64,
    /// Files in the copied tree.
    pub copy_tree_files: usize,
    /// Size of each file in the copied tree.
    pub copy_tree_file_size: u64,
    /// Requests in each request-overhead run.
    pub requests: usize,
    /// Requests in flight in the concurrent run.
    pub in_flight: usize,
    /// Repetitions of each timed step; the median is reported.
    pub reps: usize,
}

impl Sizes {
    /// The full run.
    pub fn full() -> Self {
        Sizes {
            tar_files: 10_000,
            tar_big: 256 << 20,
            exec_bytes: 512 << 20,
            latency_runs: 21,
            copy_file: 1 << 30,
            copy_tree_files: 256,
            copy_tree_file_size: 4 << 20,
            requests: 1_000,
            in_flight: 16,
            reps: 3,
        }
    }

    /// `--quick`: everything an eighth of the full run, one repetition.
    pub fn quick() -> Self {
        let full = Sizes::full();
        Sizes {
            tar_files: full.tar_files / 8,
            tar_big: full.tar_big / 8,
            exec_bytes: full.exec_bytes / 8,
            latency_runs: 5,
            copy_file: full.copy_file / 8,
            copy_tree_files: full.copy_tree_files / 8,
            copy_tree_file_size: full.copy_tree_file_size,
            requests: full.requests / 8,
            in_flight: full.in_flight,
            reps: 1,
        }
    }

    /// Sizes small enough for the harness's own smoke test.
    pub fn tiny() -> Self {
        Sizes {
            tar_files: 40,
            tar_big: 256 << 10,
            exec_bytes: 1 << 20,
            latency_runs: 2,
            copy_file: 1 << 20,
            copy_tree_files: 4,
            copy_tree_file_size: 64 << 10,
            requests: 20,
            in_flight: 4,
            reps: 1,
        }
    }
}

/// External programs the references need; `None` when not installed.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// GNU tar.
    pub tar: Option<PathBuf>,
    /// curl.
    pub curl: Option<PathBuf>,
    /// Node.js, for the npm package's figures.
    pub node: Option<PathBuf>,
}

impl Tools {
    /// Looks each program up on `PATH`.
    pub fn detect() -> Self {
        Tools {
            tar: find_on_path("tar"),
            curl: find_on_path("curl"),
            node: find_on_path("node"),
        }
    }
}

/// The first executable called `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Formats a count with thousands separators (`10,000`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size for labels: `256 MiB`, `1 GiB`, `12 KiB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// The median of some measurements (the mean of the middle two for an even
/// count).
///
/// # Panics
///
/// When `values` is empty: every measurement runs at least once.
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "a median needs at least one value");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(size_label(256 << 20), "256 MiB");
        assert_eq!(size_label(1 << 30), "1 GiB");
        assert_eq!(size_label(1000), "1000 B");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(Group::parse("copy"), Ok(Group::Copy));
        assert!(Group::parse("disk").unwrap_err().contains("tar, exec"));
    }
}
