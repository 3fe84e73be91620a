//! Background exec: launch, list, info, logs (replay, follow, from_id, gaps),
//! kill with grace and escalation, wait-exit, reap, ring limits, and the
//! registry's lifetime.

mod common;
mod guest_support;

use guest_support::{data, enc, send, wait_group_gone, Body, Guest, Output};
use serde_json::{json, Value};
use slicer_core::background::{BackgroundExec, BackgroundExecInfo, WaitExitResponse};

fn sh(script: &str) -> String {
    format!("cmd=%2Fbin%2Fsh&args=-c&args={}", enc(script))
}

async fn launch(g: &Guest, query: &str) -> BackgroundExec {
    let reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec?background=true&stdio=base64&{query}")),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 201);
    serde_json::from_value(reply.json().await).unwrap()
}

async fn get(g: &Guest, tail: &str) -> (u16, Value) {
    let reply = send(&g.api, "GET", &g.path(tail), &[], Body::Empty).await;
    let status = reply.status;
    (status, reply.json().await)
}

async fn info(g: &Guest, id: &str) -> BackgroundExecInfo {
    let (status, body) = get(g, &format!("/exec/{id}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn wait_exit(g: &Guest, id: &str, timeout: u64) -> WaitExitResponse {
    let (status, body) = get(g, &format!("/exec/{id}/wait-exit?timeout={timeout}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn logs(g: &Guest, id: &str, query: &str) -> Vec<Value> {
    let reply = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{id}/logs?{query}")),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    reply.frames().await
}

async fn kill(g: &Guest, id: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map_or(Body::Empty, |b| Body::Bytes(b.to_string().into_bytes()));
    let reply = send(
        &g.api,
        "POST",
        &g.path(&format!("/exec/{id}/kill")),
        &[],
        body,
    )
    .await;
    let status = reply.status;
    (status, reply.json().await)
}

#[tokio::test]
async fn launch_list_info_replay_and_wait() {
    let g = Guest::default().await;
    let bg = launch(
        &g,
        &format!(
            "{}&cwd=%2Ftmp&env=X%3D1",
            sh("echo one; echo two >&2; echo $X; exit 4")
        ),
    )
    .await;
    assert!(
        bg.exec_id.starts_with("ex_") && bg.exec_id.len() > 3,
        "{}",
        bg.exec_id
    );
    assert!(bg.pid > 0 && bg.started_at.is_some());
    assert_eq!(bg.ring_bytes, 1 << 20);

    let done = wait_exit(&g, &bg.exec_id, 30).await;
    assert!(!done.running && !done.timed_out);
    assert_eq!(done.exit_code, Some(4));
    assert!(done.ended_at.is_some());

    let i = info(&g, &bg.exec_id).await;
    assert_eq!((i.pid, i.running, i.exit_code), (bg.pid, false, Some(4)));
    assert_eq!(
        (i.command.as_str(), i.cwd.as_str(), i.uid),
        ("/bin/sh", "/tmp", 1000)
    );
    assert_eq!(i.args[0], "-c");
    assert_eq!(
        (i.bytes_written, i.bytes_dropped, i.frames_dropped),
        (10, 0, 0)
    );
    assert_eq!(i.ring_bytes, 1 << 20);

    let (status, list) = get(&g, "/exec").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["exec_id"], bg.exec_id.as_str());

    let frames = logs(&g, &bg.exec_id, "").await;
    let ids: Vec<u64> = frames.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids from 1, by one"
    );
    assert_eq!(i.next_id, ids.len() as u64 + 1);
    assert_eq!(frames[0]["type"], "started");
    assert_eq!(frames.last().unwrap()["type"], "exit");
    assert!(frames
        .iter()
        .filter(|f| f["type"] == "stdout")
        .all(|f| f["encoding"] == "base64"));
    let out = Output::of(&frames);
    assert_eq!(
        (out.stdout_text(), out.stderr_text(), out.exit_code),
        ("one\n1\n".into(), "two\n".into(), 4)
    );

    // from_id is inclusive.
    let tail = logs(&g, &bg.exec_id, "from_id=2").await;
    assert_eq!(tail[0]["id"], 2);
    assert_eq!(tail.len(), frames.len() - 1);
    let bad = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}/logs?from_id=x", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    bad.error(400).await;
}

#[tokio::test]
async fn follow_streams_live_frames_until_exit() {
    let g = Guest::default().await;
    let bg = launch(
        &g,
        &sh("echo a; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo b"),
    )
    .await;
    let mut reply = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}/logs?follow=true", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    let early = reply.frames_until(|f| f["type"] == "stdout").await;
    assert_eq!(data(early.last().unwrap()), b"a\n");
    // A replay now ends without an exit frame: the process still runs.
    let replay = logs(&g, &bg.exec_id, "").await;
    assert!(replay.iter().all(|f| f["type"] != "exit"));
    // A follower from a future id waits for it.
    let next = early.last().unwrap()["id"].as_u64().unwrap() + 1;
    let mut later = send(
        &g.api,
        "GET",
        &g.path(&format!(
            "/exec/{}/logs?follow=1&from_id={next}",
            bg.exec_id
        )),
        &[],
        Body::Empty,
    )
    .await;
    std::fs::write(g.root.join("tmp/go"), "").unwrap();
    let rest = reply.frames().await;
    assert_eq!(Output::of(&rest).stdout, b"b\n");
    assert_eq!(rest.last().unwrap()["type"], "exit");
    let first_later = later.frame().await.unwrap();
    assert_eq!(first_later["id"].as_u64(), Some(next));
    assert_eq!(data(&first_later), b"b\n");
}

#[tokio::test]
async fn a_small_ring_evicts_whole_frames_and_reports_gaps() {
    let g = Guest::default().await;
    let script = "for i in 1 2 3 4 5 6 7 8 9; do echo line$i; done";
    let bg = launch(&g, &format!("{}&ring_bytes=16", sh(script))).await;
    assert_eq!(bg.ring_bytes, 16);
    wait_exit(&g, &bg.exec_id, 30).await;
    let i = info(&g, &bg.exec_id).await;
    assert_eq!(i.bytes_written, 54);
    assert!(i.bytes_dropped >= 54 - 16 && i.frames_dropped > 0, "{i:?}");

    let frames = logs(&g, &bg.exec_id, "").await;
    let gap = &frames[0];
    assert_eq!(gap["type"], "gap");
    assert_eq!(gap["message"], "ring buffer evicted history");
    assert_eq!(gap["dropped_bytes"].as_u64(), Some(i.bytes_dropped));
    assert_eq!(gap["dropped_frames"].as_u64(), Some(i.frames_dropped));
    let first_kept = frames[1]["id"].as_u64().unwrap();
    assert_eq!(gap["id"].as_u64(), Some(first_kept - 1));
    assert_eq!(first_kept, i.frames_dropped + 1);
    // What is kept is the newest output, whole frames, within the ring.
    let kept = Output::of(&frames[1..]).stdout;
    assert!(kept.len() as u64 <= 16);
    assert_eq!(kept.len() as u64 + i.bytes_dropped, 54);
    let full: String = (1..=9).map(|n| format!("line{n}\n")).collect();
    assert!(full.as_bytes().ends_with(&kept));
    assert_eq!(frames.last().unwrap()["type"], "exit");

    // Resuming inside evicted history gets a gap too; inside the ring, none.
    let again = logs(&g, &bg.exec_id, "from_id=2").await;
    assert_eq!(again[0]["type"], "gap");
    assert_eq!(again[0]["dropped_frames"].as_u64(), Some(first_kept - 2));
    let inside = logs(&g, &bg.exec_id, &format!("from_id={first_kept}")).await;
    assert_eq!(inside[0]["id"].as_u64(), Some(first_kept));
}

#[tokio::test]
async fn kill_with_grace_escalation_and_signals() {
    let g = Guest::default().await;
    // Ignores TERM: the grace runs out and KILL follows.
    let stubborn = launch(
        &g,
        &sh("trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done"),
    )
    .await;
    let mut follow = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}/logs?follow=true", stubborn.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    follow.frames_until(|f| data(f) == b"ready\n").await;
    let (status, body) = kill(
        &g,
        &stubborn.exec_id,
        Some(json!({"signal": "TERM", "grace_ms": 300})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["signal_sent"].as_str(), body["pid"].as_u64()),
        (Some("TERM"), Some(stubborn.pid as u64))
    );
    let rest = follow.frames().await;
    assert!(
        Output::of(&rest).stdout_text().contains("got-term"),
        "the handler ran: {rest:?}"
    );
    let done = wait_exit(&g, &stubborn.exec_id, 30).await;
    assert_eq!(
        (done.exit_code, done.signal.as_str()),
        (Some(137), "SIGKILL")
    );
    wait_group_gone(stubborn.pid.into()).await;

    // The default is TERM, which ends a plain process.
    let plain = launch(&g, "cmd=sleep&args=600").await;
    let (status, body) = kill(&g, &plain.exec_id, None).await;
    assert_eq!((status, body["signal_sent"].as_str()), (200, Some("TERM")));
    let done = wait_exit(&g, &plain.exec_id, 30).await;
    assert_eq!(
        (done.exit_code, done.signal.as_str()),
        (Some(143), "SIGTERM")
    );
    let i = info(&g, &plain.exec_id).await;
    assert_eq!((i.running, i.signal.as_str()), (false, "SIGTERM"));

    // Other signals reach the process; KILL ends it at once.
    let usr = launch(
        &g,
        &sh("trap 'echo usr1; exit 9' USR1; while :; do sleep 0.05; done"),
    )
    .await;
    let mut follow = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}/logs?follow=true", usr.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    follow.frames_until(|f| f["type"] == "started").await;
    // The trap may not be installed yet when the first signal lands, so
    // send until the process reports it.
    let mut ended = None;
    for _ in 0..common::POLL_ATTEMPTS {
        kill(&g, &usr.exec_id, Some(json!({"signal": "SIGUSR1"}))).await;
        let w = wait_exit(&g, &usr.exec_id, 0).await;
        if !w.running {
            ended = w.exit_code;
            break;
        }
        tokio::time::sleep(common::POLL_INTERVAL).await;
    }
    assert!(matches!(ended, Some(9) | Some(138)), "{ended:?}");
    let hard = launch(&g, "cmd=sleep&args=600").await;
    kill(&g, &hard.exec_id, Some(json!({"signal": "KILL"}))).await;
    let done = wait_exit(&g, &hard.exec_id, 30).await;
    assert_eq!(done.exit_code, Some(137));

    // Killing an exited process is a no-op; bad signals are refused.
    let (status, body) = kill(&g, &hard.exec_id, Some(json!({"signal": "TERM"}))).await;
    assert_eq!((status, body["running"].as_bool()), (200, Some(false)));
    let (status, body) = kill(&g, &hard.exec_id, Some(json!({"signal": "STOP"}))).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn wait_exit_times_out_and_validates_its_timeout() {
    let g = Guest::default().await;
    let bg = launch(&g, "cmd=sleep&args=600").await;
    let w = wait_exit(&g, &bg.exec_id, 1).await;
    assert!(w.running && w.timed_out && w.exit_code.is_none());
    for bad in ["601", "x", "-1", "1.5"] {
        let (status, body) =
            get(&g, &format!("/exec/{}/wait-exit?timeout={bad}", bg.exec_id)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    kill(&g, &bg.exec_id, Some(json!({"signal": "KILL"}))).await;
    assert!(!wait_exit(&g, &bg.exec_id, 30).await.running);
}

#[tokio::test]
async fn reap_frees_the_entry_and_later_calls_answer_410() {
    let g = Guest::default().await;
    let bg = launch(&g, "cmd=sleep&args=600").await;
    let reply = send(
        &g.api,
        "DELETE",
        &g.path(&format!("/exec/{}", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    let msg = reply.error(409).await;
    assert!(msg.contains("still running"), "{msg}");
    kill(&g, &bg.exec_id, Some(json!({"signal": "KILL"}))).await;
    wait_exit(&g, &bg.exec_id, 30).await;
    let reply = send(
        &g.api,
        "DELETE",
        &g.path(&format!("/exec/{}", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json().await,
        json!({"exec_id": bg.exec_id, "reaped": true})
    );
    let id = &bg.exec_id;
    for (method, tail) in [
        ("GET", format!("/exec/{id}")),
        ("GET", format!("/exec/{id}/logs")),
        ("GET", format!("/exec/{id}/wait-exit")),
        ("POST", format!("/exec/{id}/kill")),
        ("DELETE", format!("/exec/{id}")),
    ] {
        let reply = send(&g.api, method, &g.path(&tail), &[], Body::Empty).await;
        let msg = reply.error(410).await;
        assert!(msg.contains("reaped"), "{method} {tail}: {msg}");
    }
    assert_eq!(get(&g, "/exec").await.1, json!([]));
    let reply = send(&g.api, "GET", &g.path("/exec/ex_0000"), &[], Body::Empty).await;
    reply.error(404).await;
}

#[tokio::test]
async fn ring_sizes_and_the_agent_wide_budget() {
    let g = Guest::default().await;
    for (ring, word) in [
        ("-1", "negative"),
        ("268435457", "budget"),
        ("big", "ring_bytes"),
    ] {
        let reply = send(
            &g.api,
            "POST",
            &g.path(&format!("/exec?background=true&cmd=true&ring_bytes={ring}")),
            &[],
            Body::Empty,
        )
        .await;
        let msg = reply.error(400).await;
        assert!(msg.contains(word), "{ring}: {msg}");
    }
    let whole = launch(&g, "cmd=sleep&args=600&ring_bytes=268435456").await;
    let reply = send(
        &g.api,
        "POST",
        &g.path("/exec?background=true&cmd=true"),
        &[],
        Body::Empty,
    )
    .await;
    let msg = reply.error(503).await;
    assert!(msg.contains("budget"), "{msg}");
    kill(&g, &whole.exec_id, Some(json!({"signal": "KILL"}))).await;
    wait_exit(&g, &whole.exec_id, 30).await;
    send(
        &g.api,
        "DELETE",
        &g.path(&format!("/exec/{}", whole.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    launch(&g, "cmd=true").await;
    // Launch failures are the request's fault.
    let reply = send(
        &g.api,
        "POST",
        &g.path("/exec?background=true&cmd=no-such-xyz"),
        &[],
        Body::Empty,
    )
    .await;
    let msg = reply.error(400).await;
    assert!(msg.contains("not found"), "{msg}");
}

#[tokio::test]
async fn paused_vms_refuse_and_reboots_empty_the_registry() {
    let g = Guest::default().await;
    let bg = launch(&g, "cmd=sleep&args=600").await;
    g.power("pause").await;
    let reply = send(&g.api, "GET", &g.path("/exec"), &[], Body::Empty).await;
    reply.error(409).await;
    let reply = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    reply.error(409).await;
    g.power("resume").await;
    assert!(info(&g, &bg.exec_id).await.running);

    let reply = g.api.post_empty(&g.path("/shutdown?action=reboot")).await;
    assert_eq!(reply.status, 200);
    wait_group_gone(bg.pid.into()).await;
    g.api.wait_health(&g.host, 200).await;
    assert_eq!(get(&g, "/exec").await.1, json!([]));
    let reply = send(
        &g.api,
        "GET",
        &g.path(&format!("/exec/{}", bg.exec_id)),
        &[],
        Body::Empty,
    )
    .await;
    reply.error(404).await;
}
