//! The emulator as a real process on 127.0.0.1, as the end-to-end suites
//! start it: `slicer-emulator --listen 127.0.0.1:0 --no-auth --data-dir D`,
//! whose first line is `listening on http://ADDR`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slicer::{CreateVmOptions, CreateVmRequest, WaitFor};

use crate::{BenchError, BenchResult, Context};

/// A bound on a hung start, never a performance expectation.
const STARTUP_BOUND: Duration = Duration::from_secs(30);

/// A running emulator with one VM whose agent answers; stopped with
/// SIGTERM (then SIGKILL) when dropped.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The VM the benchmarks use.
    pub host: String,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Emulator {
    /// Starts `binary` with its data under `data_dir` and its log in
    /// `log`, then creates a VM and waits for its agent.
    ///
    /// # Errors
    ///
    /// The binary does not start, announces nothing within 30 s, or the VM
    /// cannot be created.
    pub async fn start(binary: &Path, data_dir: &Path, log: &Path) -> BenchResult<Emulator> {
        let log_file = File::create(log).context(|| format!("create {}", log.display()))?;
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--no-auth", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context(|| format!("start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            // Keep draining so the emulator never blocks on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(STARTUP_BOUND) {
            Ok(Some(line)) => line,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::new(format!(
                    "{} announced nothing within {STARTUP_BOUND:?}; its log: {}",
                    binary.display(),
                    tail(log)
                )));
            }
        };
        let Some(url) = first.strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::new(format!(
                "unexpected first line from the emulator: {first:?}"
            )));
        };
        let mut emulator = Emulator {
            child,
            url: url.to_owned(),
            host: String::new(),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
        };
        let client = emulator.client()?;
        let wait = CreateVmOptions {
            wait: Some(WaitFor::Agent),
            timeout: Some(Duration::from_secs(60)),
        };
        let vm = client
            .create_vm_with_options("sbox", &CreateVmRequest::default(), wait)
            .await
            .map_err(|e| emulator.failed(format!("create a VM: {e}")))?;
        emulator.host = vm.hostname;
        Ok(emulator)
    }

    /// A native client for it.
    ///
    /// # Errors
    ///
    /// The URL is not usable (it always is).
    pub fn client(&self) -> BenchResult<slicer::Client> {
        slicer::connect(&self.url, None).context(|| format!("client for {}", self.url))
    }

    /// The VM's root directory on this machine: guest path `/x` is
    /// `root()/x`.
    pub fn vm_root(&self) -> PathBuf {
        self.data_dir.join("vms").join(&self.host).join("root")
    }

    /// An error with the end of the emulator's log attached.
    pub fn failed(&self, what: impl AsRef<str>) -> BenchError {
        BenchError::new(format!(
            "{}; emulator log: {}",
            what.as_ref(),
            tail(&self.log)
        ))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(10);
    let tail = lines[start..].join("\n");
    if tail.is_empty() {
        "(empty)".to_owned()
    } else {
        tail
    }
}
