//! The benchmark groups and what they share: sizes, tools, the work
//! directory, the async runtime and the emulator.

pub mod copy;
pub mod exec;
pub mod npm;
pub mod requests;
pub mod tar;

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::emulator::Emulator;
use crate::report::Report;
use crate::{BenchError, BenchResult, Context, Group, Sizes, Tools};

/// Everything a group needs to run.
pub struct Ctx {
    /// How much work each benchmark does.
    pub sizes: Sizes,
    /// The reference programs found.
    pub tools: Tools,
    /// The workspace root (for `wasm/pkg-npm` and `bench/node`).
    pub repo: PathBuf,
    /// Whether the Node figures may run.
    pub node: bool,
    /// This binary, for the measuring shim and the client children; `None`
    /// where only in-process groups run (the smoke test).
    pub self_exe: Option<PathBuf>,
    /// The emulator binary.
    pub emulator_binary: PathBuf,
    work: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    emulator: Option<Emulator>,
}

impl Ctx {
    /// A context whose data lives in a fresh directory under `work_root`
    /// (default: `/dev/shm` when it is a writable directory, else the
    /// system's temporary directory), removed when the context is dropped.
    ///
    /// # Errors
    ///
    /// The work directory or the runtime cannot be created.
    pub fn new(
        sizes: Sizes,
        tools: Tools,
        repo: PathBuf,
        work_root: Option<PathBuf>,
        emulator_binary: PathBuf,
    ) -> BenchResult<Ctx> {
        let root = work_root.unwrap_or_else(default_work_root);
        let work = tempfile::Builder::new()
            .prefix("slicer-bench-")
            .tempdir_in(&root)
            .context(|| format!("create a work directory in {}", root.display()))?;
        std::fs::create_dir(work.path().join("scratch"))
            .context(|| "create the scratch directory".to_owned())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context(|| "start the async runtime".to_owned())?;
        Ok(Ctx {
            sizes,
            tools,
            repo,
            node: true,
            self_exe: None,
            emulator_binary,
            work,
            runtime,
            emulator: None,
        })
    }

    /// The work directory.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// A directory for the measuring shim's reports.
    pub fn scratch(&self) -> PathBuf {
        self.work.path().join("scratch")
    }

    /// This binary.
    ///
    /// # Errors
    ///
    /// The context was built without it.
    pub fn self_exe(&self) -> BenchResult<PathBuf> {
        self.self_exe
            .clone()
            .ok_or_else(|| BenchError::new("this group needs the slicer-bench binary"))
    }

    /// Runs a future on the context's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The emulator, started (with its VM) on first use.
    ///
    /// # Errors
    ///
    /// It cannot be started.
    pub fn emulator(&mut self) -> BenchResult<&Emulator> {
        if self.emulator.is_none() {
            if !self.emulator_binary.is_file() {
                return Err(BenchError::new(format!(
                    "{} does not exist; build it with cargo build --release -p slicer-emulator",
                    self.emulator_binary.display()
                )));
            }
            let data = self.work().join("emulator");
            let log = self.work().join("emulator.log");
            let started = self.block_on(Emulator::start(&self.emulator_binary, &data, &log))?;
            self.emulator = Some(started);
        }
        Ok(self.emulator.as_ref().expect("started above"))
    }

    /// Runs one group, adding its rows to `report`.
    ///
    /// # Errors
    ///
    /// What the group reported; rows it added before failing stay.
    pub fn run(&mut self, group: Group, report: &mut Report) -> BenchResult<()> {
        match group {
            Group::Tar => tar::run(self, report),
            Group::Exec => exec::run(self, report),
            Group::Copy => copy::run(self, report),
            Group::Requests => requests::run(self, report),
            Group::Npm => npm::run(self, report),
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // Stop the emulator before its data directory is removed.
        self.emulator.take();
    }
}

fn default_work_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let writable = tempfile::Builder::new()
        .prefix("slicer-bench-probe-")
        .tempfile_in(shm)
        .is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Whether the work directory is on tmpfs, for the header.
pub fn describe_work_dir(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    // The longest mount point that contains the path decides.
    let fs_type = mounts
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_, point, kind) = (parts.next()?, parts.next()?, parts.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind);
    format!("{} ({fs_type})", path.display())
}
