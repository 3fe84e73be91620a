//! Support for the end-to-end suites: starts `slicer-emulator` as a real
//! process on 127.0.0.1 (or a UNIX socket) and hands out clients for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the emulator may take to print its first line. Generous: it is
/// a bound on a hang, not a performance expectation.
const STARTUP_BOUND: Duration = Duration::from_secs(30);

/// The `slicer-emulator` binary next to this test executable, built on
/// demand when a lone `cargo test -p slicer-tests` did not build it.
pub fn emulator_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/slicer-emulator
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join("slicer-emulator");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "slicer-emulator", "--bin", "slicer-emulator"])
            .status()
            .expect("run cargo build for the emulator");
        assert!(status.success(), "building slicer-emulator failed");
    }
    bin
}

/// A running emulator process, stopped with SIGTERM when dropped.
pub struct EmulatorProcess {
    child: Child,
    /// The base URL (`http://127.0.0.1:PORT`) or socket path it serves.
    pub url: String,
    /// The bearer token, when auth is on.
    pub token: Option<String>,
    data_dir: tempfile::TempDir,
}

impl EmulatorProcess {
    /// Starts the emulator on a free port of 127.0.0.1 with auth on and a
    /// generated token, plus any extra flags.
    pub fn start(extra: &[&str]) -> Self {
        Self::spawn(&["--listen", "127.0.0.1:0"], extra)
    }

    /// Starts the emulator on a UNIX socket inside its data directory, with
    /// auth off.
    pub fn start_on_socket(extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let socket = data_dir.path().join("api.sock");
        let socket = socket.to_str().expect("UTF-8 temp path").to_owned();
        Self::spawn_in(data_dir, &["--listen", &socket, "--no-auth"], extra)
    }

    fn spawn(listen: &[&str], extra: &[&str]) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("temp dir"), listen, extra)
    }

    fn spawn_in(data_dir: tempfile::TempDir, listen: &[&str], extra: &[&str]) -> Self {
        let data = data_dir.path().join("data");
        let mut child = Command::new(emulator_binary())
            .args(listen)
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("SLICER_EMULATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn slicer-emulator");

        // Read the announcement on a thread so a hung emulator fails the test
        // after a bound instead of blocking it forever.
        let stdout = child.stdout.take().expect("piped stdout");
        // With auth on, a second line names the token file.
        let auth = !listen.contains(&"--no-auth") && !extra.contains(&"--no-auth");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let second = if auth {
                lines.next().and_then(Result::ok)
            } else {
                None
            };
            let _ = tx.send((first, second));
            // Keep draining so the emulator never blocks on a full pipe.
            for _ in lines {}
        });
        let (first, second) = match rx.recv_timeout(STARTUP_BOUND) {
            Ok(lines) => lines,
            Err(_) => {
                let _ = child.kill();
                panic!("slicer-emulator printed nothing within {STARTUP_BOUND:?}");
            }
        };
        let first = first.unwrap_or_default();
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let url = url.strip_prefix("unix://").unwrap_or(url).to_owned();
        let token = second
            .and_then(|line| line.strip_prefix("token: ").map(PathBuf::from))
            .map(|file| {
                std::fs::read_to_string(file)
                    .expect("read token file")
                    .trim()
                    .to_owned()
            });
        EmulatorProcess {
            child,
            url,
            token,
            data_dir,
        }
    }

    /// A client with the right token.
    pub fn client(&self) -> slicer::Client {
        slicer::connect(&self.url, self.token.as_deref()).expect("client for the emulator")
    }

    /// A client sending `token` instead (or none).
    pub fn client_with_token(&self, token: Option<&str>) -> slicer::Client {
        slicer::connect(&self.url, token).expect("client for the emulator")
    }

    /// The emulator's data directory (secrets, VM roots).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// Kills the process with SIGKILL, as a crash would: open connections
    /// are cut without any goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether
    /// it exited with status 0.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}
