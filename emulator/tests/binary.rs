//! The `slicer-emulator` binary: readiness line, token file, signals, flags.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Api, Target};

const BIN: &str = env!("CARGO_BIN_EXE_slicer-emulator");

/// Bound on waiting for output or exit; generous, only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads stdout lines on a thread so a hung child cannot hang the test.
fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn spawn(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let rx = lines(child.stdout.take().unwrap());
    (child, rx)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    for _ in 0..(PATIENCE.as_millis() / 50) {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    panic!("the emulator did not exit after the signal");
}

#[tokio::test]
async fn serves_until_sigterm_and_cleans_up() {
    let (mut child, rx) = spawn(&["--listen", "127.0.0.1:0", "--boot-delay", "10ms"]);
    let first = rx.recv_timeout(PATIENCE).expect("a readiness line");
    let addr: SocketAddr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    let second = rx.recv_timeout(PATIENCE).expect("a token line");
    let token_file = PathBuf::from(
        second
            .strip_prefix("token: ")
            .unwrap_or_else(|| panic!("{second:?}")),
    );
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(!token.is_empty());
    assert!(
        !first.contains(&token) && !second.contains(&token),
        "the token itself is never printed"
    );
    let data_dir = token_file.parent().unwrap().to_owned();
    assert!(data_dir.is_dir());

    let api = Api {
        target: Target::Tcp(addr),
        authorization: None,
    };
    let health = api.get("/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    api.get("/hostgroup").await.expect_error(401);
    let authed = api.with_authorization(Some(&format!("Bearer {token}")));
    let groups = authed.get("/hostgroup").await.expect_json(200);
    assert_eq!(groups[0]["name"], "sbox");
    authed.create_vm("sbox", serde_json::json!({})).await;

    signal(&child, "TERM");
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!data_dir.exists(), "the temporary data dir is removed");
}

#[tokio::test]
async fn sigint_on_a_socket_with_host_groups_and_a_kept_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("emu.sock");
    let data = dir.path().join("data");
    let (mut child, rx) = spawn(&[
        "--listen",
        socket.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--host-group",
        "ci,cpus=4,ram=2G,count=1",
    ]);
    let first = rx.recv_timeout(PATIENCE).expect("a readiness line");
    assert_eq!(first, format!("listening on unix://{}", socket.display()));

    let api = Api {
        target: Target::Unix(socket.clone()),
        authorization: None,
    };
    let groups = api.get("/hostgroup").await.expect_json(200);
    assert_eq!(
        groups,
        serde_json::json!([{"name":"ci","count":1,"ram_bytes":2147483648u64,"cpus":4,"gpu_count":0,"arch":"x86_64"}])
    );
    assert_eq!(
        api.get("/nodes").await.expect_json(200)[0]["hostname"],
        "ci-1"
    );

    signal(&child, "INT");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    assert!(!socket.exists(), "the socket file is removed");
    assert!(data.join("secrets").is_dir(), "a given data dir is kept");
    assert!(
        rx.recv_timeout(PATIENCE).is_err(),
        "no token line without auth"
    );
}

#[test]
fn token_flags() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tok");
    std::fs::write(&token_file, "from-file\n").unwrap();
    let (mut child, rx) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert!(rx
        .recv_timeout(PATIENCE)
        .unwrap()
        .starts_with("listening on http://127.0.0.1:"));
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        format!("token: {}", token_file.display())
    );
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    assert!(token_file.exists(), "the caller's token file is left alone");
}

fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_with_code_2_and_say_why() {
    for (args, word) in [
        (&["--listen", "nowhere"][..], "nowhere"),
        (&["--host-group", "sbox,cpus=lots"], "lots"),
        (&["--boot-delay", "5 minutes"], "5 minutes"),
        (&["--token", "a", "--no-auth"], "--no-auth"),
        (&["--unknown"], "--unknown"),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--token-file",
                "/nonexistent/tok",
            ],
            "/nonexistent/tok",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--host-group",
                "a",
                "--host-group",
                "a",
            ],
            "twice",
        ),
    ] {
        let (code, stderr) = run_to_end(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(word), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--token",
        "--token-file",
        "--no-auth",
        "--data-dir",
        "--host-group",
        "--boot-delay",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
