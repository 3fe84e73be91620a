//! Foreground exec against the emulator: streaming, stdin, encodings, users,
//! working directories, buffered and legacy modes, errors, disconnects,
//! userdata, and the sandbox's confinement.

mod common;
mod guest_support;

use std::time::Duration;

use base64::Engine as _;
use guest_support::{enc, send, wait_group_gone, Body, Guest, Output};
use serde_json::{json, Value};
use slicer_emulator::EmulatorConfig;
use tokio::sync::mpsc;

fn sh(script: &str) -> String {
    format!("cmd=%2Fbin%2Fsh&args=-c&args={}", enc(script))
}

#[tokio::test]
async fn frames_stream_while_the_process_runs() {
    let g = Guest::default().await;
    // The process waits for a file only the test creates after it has seen
    // the first output: a server that buffered until exit would never
    // answer, and the read would fail at the hang bound.
    let script = "echo first; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo second >&2; exit 3";
    let mut reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?{}&stdio=base64", sh(script))),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let started = reply.frame().await.unwrap();
    assert_eq!(started["type"], "started");
    assert!(started["pid"].as_u64().unwrap() > 0);
    assert!(started["started_at"].is_string());
    let first = reply.frame().await.unwrap();
    assert_eq!(first["type"], "stdout");
    assert_eq!(first["encoding"], "base64");
    assert_eq!(guest_support::data(&first), b"first\n");
    std::fs::write(g.root.join("tmp/go"), "").unwrap();
    let rest = reply.frames().await;
    let exit = rest.last().unwrap();
    assert_eq!(exit["type"], "exit");
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["pid"], started["pid"]);
    assert!(exit["ended_at"].is_string());
    assert!(exit.get("signal").is_none(), "{exit}");
    let out = Output::of(&rest);
    assert_eq!(out.stderr, b"second\n");
    // Every frame carries exit_code, 0 until the last.
    for f in rest.iter().take(rest.len() - 1) {
        assert_eq!(f["exit_code"], 0, "{f}");
    }
}

#[tokio::test]
async fn all_byte_values_pass_through_stdout_and_stdin() {
    let g = Guest::default().await;
    let all: Vec<u8> = (0..=255u8).collect();
    // stdout alone: printf writes every byte from octal escapes.
    let format: String = all.iter().map(|b| format!("\\{b:03o}")).collect();
    let frames = g
        .exec(&format!("cmd=printf&args={}&stdio=base64", enc(&format)))
        .await;
    assert_eq!(Output::of(&frames).stdout, all);

    // stdin to stdout through cat, sent as a streamed body.
    let (tx, rx) = mpsc::channel(4);
    let mut reply = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=cat&stdin=true&stdio=base64"),
        &[],
        Body::Stream(rx),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.frame().await.unwrap()["type"], "started");
    tx.send(all[..128].to_vec()).await.unwrap();
    // Full duplex: the echo of the first half arrives while the body is
    // still open.
    let mut echoed = Vec::new();
    while echoed.len() < 128 {
        let f = reply.frame().await.unwrap();
        assert_eq!(f["type"], "stdout", "{f}");
        echoed.extend(guest_support::data(&f));
    }
    tx.send(all[128..].to_vec()).await.unwrap();
    drop(tx);
    let rest = reply.frames().await;
    echoed.extend(Output::of(&rest).stdout);
    assert_eq!(echoed, all);
    assert_eq!(rest.last().unwrap()["exit_code"], 0);

    // A process that stops reading early still answers cleanly while the
    // client goes on sending.
    let (tx, rx) = mpsc::channel(2);
    let feed = tokio::spawn(async move {
        for _ in 0..32 {
            if tx.send(vec![b'x'; 1 << 20]).await.is_err() {
                return;
            }
        }
    });
    let reply = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=head&args=-c&args=3&stdin=true"),
        &[],
        Body::Stream(rx),
    )
    .await;
    let frames = reply.frames().await;
    let out = Output::of(&frames);
    assert_eq!((out.stdout_text().as_str(), out.exit_code), ("xxx", 0));
    feed.await.unwrap();

    // A body sent whole with Content-Length works too.
    let reply = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=wc&args=-c&stdin=true"),
        &[],
        Body::Bytes(all.clone()),
    )
    .await;
    let out = Output::of(&reply.frames().await);
    assert_eq!(out.stdout_text().trim(), "256");
}

#[tokio::test]
async fn text_mode_keeps_utf8_and_replaces_invalid_bytes() {
    let g = Guest::default().await;
    let frames = g.exec(&sh("printf 'h\\303\\251 \\377\\n'")).await;
    let out: Vec<&Value> = frames.iter().filter(|f| f["type"] == "stdout").collect();
    assert!(out.iter().all(|f| f.get("encoding").is_none()));
    let text: String = out.iter().map(|f| f["data"].as_str().unwrap()).collect();
    assert_eq!(text, "hé \u{FFFD}\n");
}

#[tokio::test]
async fn users_working_directories_environment_and_shell() {
    let g = Guest::default().await;
    assert_eq!(
        g.sh("id -u; id -g; echo $HOME $USER; pwd").await.0,
        "1000\n1000\n/home/ubuntu ubuntu\n/home/ubuntu\n"
    );
    let frames = g
        .exec(&format!("{}&uid=0", sh("id -u; echo $HOME; pwd")))
        .await;
    assert_eq!(Output::of(&frames).stdout_text(), "0\n/root\n/root\n");
    let frames = g.exec(&format!("{}&uid=1000&gid=4321", sh("id -g"))).await;
    assert_eq!(Output::of(&frames).stdout_text(), "4321\n");

    let frames = g
        .exec(&format!(
            "{}&cwd=%2Ftmp&env=FOO%3Dbar+baz&env=HOME%3D%2Fx",
            sh("pwd; echo \"$FOO\" $HOME")
        ))
        .await;
    assert_eq!(Output::of(&frames).stdout_text(), "/tmp\nbar baz /x\n");
    let frames = g.exec(&format!("{}&cwd=~%2F", sh("pwd"))).await;
    assert_eq!(Output::of(&frames).stdout_text(), "/home/ubuntu\n");
    std::fs::create_dir_all(g.root.join("home/ubuntu/proj")).unwrap();
    let frames = g.exec(&format!("{}&cwd=~%2Fproj", sh("pwd"))).await;
    assert_eq!(Output::of(&frames).stdout_text(), "/home/ubuntu/proj\n");

    // shell: <shell> -lc "<cmd>".
    let frames = g
        .exec(&format!(
            "cmd={}&shell=%2Fbin%2Fsh&stdio=base64",
            enc("echo \"$0\" | tr a-z A-Z && exit 7")
        ))
        .await;
    let out = Output::of(&frames);
    assert_eq!(out.stdout_text(), "/BIN/SH\n");
    assert_eq!(out.exit_code, 7);

    // The VM's identity: its hostname, and files written by the default
    // user belong to uid 1000 on the host.
    assert_eq!(g.sh("hostname").await.0, format!("{}\n", g.host));
    g.sh("echo hi > ~/mine").await;
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(g.root.join("home/ubuntu/mine"))
            .unwrap()
            .uid(),
        1000
    );
}

#[tokio::test]
async fn launch_failures_are_frames_in_a_200_stream() {
    let g = Guest::default().await;
    let frames = g.exec("cmd=no-such-program-xyz&stdio=base64").await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    let f = &frames[0];
    assert_eq!(f["exit_code"], 127);
    assert_eq!(f["type"], "exit");
    assert!(
        f["error"]
            .as_str()
            .unwrap()
            .contains("executable file not found in $PATH"),
        "{f}"
    );
    let frames = g.exec("cmd=%2Fnope%2Fx").await;
    assert_eq!(frames[0]["exit_code"], 127);
    let frames = g.exec(&format!("{}&cwd=%2Fmissing", sh("pwd"))).await;
    assert!(
        frames[0]["error"]
            .as_str()
            .unwrap()
            .contains("chdir /missing"),
        "{frames:?}"
    );
    // A signal ends a process with 128+n and the signal's name.
    let out = Output::of(&g.exec(&sh("kill -TERM $$")).await);
    assert_eq!(
        (out.exit_code, out.signal.as_deref()),
        (143, Some("SIGTERM"))
    );
}

#[tokio::test]
async fn bad_requests_unknown_vms_and_paused_vms() {
    let g = Guest::default().await;
    for (query, word) in [
        ("args=x", "cmd"),
        ("cmd=ls&stdio=hex", "stdio"),
        ("cmd=ls&uid=root", "uid"),
        ("cmd=ls&gid=-1", "gid"),
        ("cmd=ls&cwd=%2Ftmp%2F..%2Fetc", "cwd"),
        ("cmd=ls&background=true&stdin=true", "stdin"),
        ("cmd=ls&background=true&buffered=true", "buffered"),
    ] {
        let reply = send(
            &g.api,
            "POST",
            &g.path(&format!("/exec?{query}")),
            &[],
            Body::Empty,
        )
        .await;
        let msg = reply.error(400).await;
        assert!(msg.contains(word), "{query}: {msg}");
    }
    let reply = send(&g.api, "POST", "/vm/nope-1/exec?cmd=ls", &[], Body::Empty).await;
    reply.error(404).await;
    g.power("pause").await;
    let msg = send(&g.api, "POST", &g.path("/exec?cmd=ls"), &[], Body::Empty)
        .await
        .error(409)
        .await;
    assert!(msg.contains("paused"), "{msg}");
    g.power("resume").await;
    assert_eq!(g.sh("echo back").await.0, "back\n");
}

#[tokio::test]
async fn buffered_mode_answers_once_with_the_whole_output() {
    let g = Guest::default().await;
    let reply = send(
        &g.api,
        "POST",
        &g.path(&format!(
            "/exec?{}&buffered=true&stdio=base64",
            sh("printf 'a\\000b'; echo err >&2; exit 5")
        )),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json().await;
    assert_eq!(body["encoding"], "base64");
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    assert_eq!(b64(&body["stdout"]), b"a\0b");
    assert_eq!(b64(&body["stderr"]), b"err\n");
    assert_eq!(body["exit_code"], 5);
    assert!(body["pid"].as_u64().unwrap() > 0);
    assert!(body["started_at"].is_string() && body["ended_at"].is_string());

    let text = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?{}&buffered=true", sh("echo plain"))),
        &[],
        Body::Empty,
    )
    .await
    .json()
    .await;
    assert_eq!(text["stdout"], "plain\n");
    assert!(text.get("encoding").is_none());
    let missing = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=nope-xyz&buffered=true"),
        &[],
        Body::Empty,
    )
    .await
    .json()
    .await;
    assert_eq!(missing["exit_code"], 127);
    assert!(missing["error"].as_str().unwrap().contains("not found"));
}

#[tokio::test]
async fn stdout_and_stderr_switches() {
    let g = Guest::default().await;
    let frames = g
        .exec(&format!("{}&stdout=false", sh("echo out; echo err >&2")))
        .await;
    let out = Output::of(&frames);
    assert_eq!(
        (out.stdout_text(), out.stderr_text()),
        (String::new(), "err\n".to_owned())
    );
}

#[tokio::test]
async fn a_client_disconnect_kills_the_process() {
    let g = Guest::default().await;
    let mut reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?{}", sh("echo up; exec sleep 600"))),
        &[],
        Body::Empty,
    )
    .await;
    let started = reply.frame().await.unwrap();
    let pid = started["pid"].as_i64().unwrap();
    assert_eq!(guest_support::data(&reply.frame().await.unwrap()), b"up\n");
    assert!(guest_support::group_alive(pid));
    drop(reply);
    wait_group_gone(pid).await;

    // The same for a buffered exec, whose answer never started.
    let api = g.api.clone();
    let path = g.path(&format!(
        "/exec?{}&buffered=true",
        sh("echo $PPID > /tmp/buffered; exec sleep 600")
    ));
    let pending =
        tokio::spawn(async move { send(&api, "POST", &path, &[], Body::Empty).await.status });
    guest_support::eventually("the buffered process starts", || {
        g.root.join("tmp/buffered").exists()
    })
    .await;
    let pgid = newest_sandbox(&g).expect("a sandbox runs");
    pending.abort();
    wait_group_gone(pgid).await;
}

/// The newest bwrap process that leads its own process group and whose
/// command line names this VM: a sandbox of the VM.
fn newest_sandbox(g: &Guest) -> Option<i64> {
    let mut best = None;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let (Ok(cmdline), Ok(stat)) = (
            std::fs::read(entry.path().join("cmdline")),
            std::fs::read_to_string(entry.path().join("stat")),
        ) else {
            continue;
        };
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i64>().ok());
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_vm = args
            .windows(2)
            .any(|w| w[0] == b"--hostname" && w[1] == g.host.as_bytes());
        let is_bwrap = args.first().is_some_and(|a| a.ends_with(b"bwrap"));
        if is_vm && is_bwrap && pgrp == Some(pid) && best < Some(pid) {
            best = Some(pid);
        }
    }
    best
}

#[tokio::test]
async fn the_sandbox_confines_processes_to_the_vm() {
    let g = Guest::default().await;
    let (listing, _, _) = g.sh("ls / | tr '\\n' ' '").await;
    for dir in ["bin", "dev", "etc", "home", "proc", "root", "tmp", "usr"] {
        assert!(listing.split(' ').any(|d| d == dir), "{dir} in {listing}");
    }
    let data_dir = g.emulator.data_dir().display().to_string();
    let (_, _, code) = g.sh(&format!("ls {data_dir}")).await;
    assert_ne!(code, 0, "the host's data directory is not visible");
    // /usr is read-only even for root; the VM's own directories are not.
    let frames = g
        .exec(&format!(
            "{}&uid=0",
            sh("touch /usr/x 2>/dev/null; echo $?; touch /etc/x; echo $?")
        ))
        .await;
    assert_eq!(Output::of(&frames).stdout_text(), "1\n0\n");
    assert!(g.root.join("etc/x").exists());
    // Its own PID namespace: the shell is not pid 1's parent on the host.
    let (ps, _, _) = g.sh("echo $$").await;
    assert!(ps.trim().parse::<u32>().unwrap() < 10, "{ps}");
    // Processes started in the background die with the command.
    let frames = g.exec(&sh("sleep 600 >/dev/null 2>&1 & echo $!")).await;
    assert!(!Output::of(&frames).stdout.is_empty());
    wait_group_gone(frames[0]["pid"].as_i64().unwrap()).await;
}

#[tokio::test]
async fn legacy_agents_answer_untyped_frames_and_ignore_stdio() {
    let g = Guest::start(EmulatorConfig {
        agent_boot_delay: Duration::from_millis(20),
        legacy_agent: true,
        ..Default::default()
    })
    .await;
    let frames = g
        .exec(&format!(
            "{}&stdio=base64",
            sh("echo out; echo err >&2; exit 2")
        ))
        .await;
    for f in &frames {
        assert!(f.get("type").is_none(), "{f}");
        assert!(f.get("encoding").is_none(), "{f}");
        assert!(f["timestamp"].is_string(), "{f}");
        assert!(
            f.get("stdout").is_some() && f.get("stderr").is_some(),
            "{f}"
        );
    }
    let stdout: String = frames
        .iter()
        .map(|f| f["stdout"].as_str().unwrap())
        .collect();
    let stderr: String = frames
        .iter()
        .map(|f| f["stderr"].as_str().unwrap())
        .collect();
    assert_eq!((stdout.as_str(), stderr.as_str()), ("out\n", "err\n"));
    assert_eq!(frames.last().unwrap()["exit_code"], 2);
    assert!(frames[..frames.len() - 1]
        .iter()
        .all(|f| f["exit_code"] == 0));
    let frames = g.exec("cmd=nope-xyz").await;
    assert_eq!(
        frames,
        vec![json!({
            "timestamp": frames[0]["timestamp"],
            "error": "exec: \"nope-xyz\": executable file not found in $PATH",
            "exit_code": 127
        })]
    );
}

#[tokio::test]
async fn userdata_runs_as_root_and_logs_its_output() {
    let (emulator, api) = common::start_default().await;
    let userdata =
        "#!/bin/sh\necho hello-from-userdata\necho oops >&2\nid -u > /root/who\nexit 3\n";
    let reply = api
        .post(
            "/hostgroup/sbox/nodes?wait=userdata&timeout=60s",
            json!({ "userdata": userdata }),
        )
        .await
        .expect_json(201);
    let host = reply["hostname"].as_str().unwrap();
    let health = api
        .get(&format!("/vm/{host}/health"))
        .await
        .expect_json(200);
    assert_eq!(
        (
            health["userdata_ran"].as_bool(),
            health["userdata_exit_code"].as_i64()
        ),
        (Some(true), Some(3))
    );
    let logs = api
        .get(&format!("/vm/{host}/logs?lines=0"))
        .await
        .expect_json(200);
    let content = logs["content"].as_str().unwrap();
    for line in [
        "hello-from-userdata",
        "oops",
        "userdata finished with exit code 3",
    ] {
        assert!(content.contains(line), "{line} in {content}");
    }
    let root = emulator.data_dir().join("vms").join(host).join("root");
    assert_eq!(
        std::fs::read_to_string(root.join("root/who")).unwrap(),
        "0\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("root/userdata.sh")).unwrap(),
        userdata
    );
}

#[tokio::test]
async fn a_missing_bwrap_is_reported_not_a_crash() {
    let g = Guest::start(EmulatorConfig {
        agent_boot_delay: Duration::from_millis(20),
        bwrap: Some("/nonexistent/bwrap".into()),
        ..Default::default()
    })
    .await;
    let frames = g.exec("cmd=ls").await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["exit_code"], 127);
    let msg = frames[0]["error"].as_str().unwrap();
    assert!(
        msg.contains("bwrap") && msg.contains("/nonexistent/bwrap"),
        "{msg}"
    );
    let buffered = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=ls&buffered=true"),
        &[],
        Body::Empty,
    )
    .await
    .json()
    .await;
    assert!(buffered["error"].as_str().unwrap().contains("bubblewrap"));
    let msg = send(
        &g.api,
        "POST",
        &g.path("/exec?cmd=ls&background=true"),
        &[],
        Body::Empty,
    )
    .await
    .error(500)
    .await;
    assert!(msg.contains("bwrap"), "{msg}");
    // Userdata fails the same way, with its exit code.
    let reply = g
        .api
        .post(
            "/hostgroup/sbox/nodes?wait=userdata",
            json!({ "userdata": "echo hi" }),
        )
        .await
        .expect_json(201);
    let host = reply["hostname"].as_str().unwrap();
    let health = g
        .api
        .get(&format!("/vm/{host}/health"))
        .await
        .expect_json(200);
    assert_eq!(health["userdata_exit_code"], 127);
}

#[tokio::test]
async fn deleting_a_vm_kills_its_processes() {
    let g = Guest::default().await;
    let mut reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?{}", sh("echo up; exec sleep 600"))),
        &[],
        Body::Empty,
    )
    .await;
    let pid = reply.frame().await.unwrap()["pid"].as_i64().unwrap();
    reply.frame().await.unwrap();
    let reply_status = g
        .api
        .delete(&format!("/hostgroup/sbox/nodes/{}", g.host))
        .await
        .status;
    assert_eq!(reply_status, 200);
    let rest = reply.frames().await;
    let exit = rest.last().unwrap();
    assert_eq!(
        (exit["exit_code"].as_i64(), exit["signal"].as_str()),
        (Some(137), Some("SIGKILL"))
    );
    wait_group_gone(pid).await;
}

#[tokio::test]
async fn shutdown_ends_running_processes_and_their_streams() {
    let g = Guest::default().await;
    let mut reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?{}", sh("echo up; exec sleep 600"))),
        &[],
        Body::Empty,
    )
    .await;
    let pid = reply.frame().await.unwrap()["pid"].as_i64().unwrap();
    reply.frame().await.unwrap();
    let Guest { emulator, .. } = g;
    let (stopped, rest) = tokio::join!(emulator.shutdown(), reply.frames());
    stopped.unwrap();
    // The stream ends with the exit frame, not cut off mid-way.
    let exit = rest.last().unwrap();
    assert_eq!(
        (exit["type"].as_str(), exit["exit_code"].as_i64()),
        (Some("exit"), Some(137))
    );
    wait_group_gone(pid).await;
}
