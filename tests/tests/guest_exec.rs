//! Exec, buffered exec, background exec and the filesystem calls of the
//! native client against the emulator process, whose commands are real
//! processes confined to each VM's root.

use std::time::Duration;

use futures_util::StreamExt;
use slicer::{
    Body, CreateVmOptions, CreateVmRequest, Error, ExecFrame, ExecRequest, KillOptions, LogOptions,
    MkdirRequest, Signal, Stdio, WaitFor, WriteFileOptions,
};
use slicer_tests::EmulatorProcess;

async fn vm(emu: &EmulatorProcess) -> (slicer::Client, String) {
    let client = emu.client();
    let wait = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: Some(Duration::from_secs(60)),
    };
    let vm = client
        .create_vm_with_options("sbox", &CreateVmRequest::default(), wait)
        .await
        .expect("create VM");
    (client, vm.hostname)
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

#[tokio::test]
async fn output_is_streamed_before_the_command_exits() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    // The second line is only printed after the test has seen the first:
    // the command blocks until a marker file appears.
    let script = "echo first; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo second >&2; exit 3";
    let mut stream = client.exec(&h, &ExecRequest::shell(script)).await.unwrap();
    let mut seen = Vec::new();
    while let Some(frame) = stream.next().await {
        let frame = frame.unwrap();
        if frame == ExecFrame::Stdout("first\n".into()) {
            client
                .write_file(&h, "/tmp/go", &b""[..], &WriteFileOptions::default())
                .await
                .unwrap();
        }
        seen.push(frame);
    }
    assert!(
        matches!(seen[0], ExecFrame::Started { pid: Some(_), .. }),
        "{seen:?}"
    );
    assert_eq!(seen[1], ExecFrame::Stdout("first\n".into()));
    assert_eq!(seen[seen.len() - 2], ExecFrame::Stderr("second\n".into()));
    let ExecFrame::Exit(status) = seen.last().unwrap() else {
        panic!("{seen:?}")
    };
    assert_eq!(status.code, 3);
}

#[tokio::test]
async fn every_byte_value_survives_stdout_and_stdin() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let bytes = all_bytes();

    // stdout: printf with octal escapes for all 256 values.
    let script: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
    let out = client
        .exec_collect(&h, &ExecRequest::new("printf", [script]))
        .await
        .unwrap();
    assert_eq!(out.stdout, bytes);
    assert!(out.success());

    // stdin: cat echoes it back.
    let stream = client
        .exec_with_stdin(
            &h,
            &ExecRequest::new("cat", [""; 0]),
            Body::from(bytes.clone()),
        )
        .await
        .unwrap();
    assert_eq!(stream.collect().await.unwrap().stdout, bytes);

    // The buffered endpoint decodes the same bytes.
    let script: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
    let out = client
        .exec_buffered(&h, &ExecRequest::new("printf", [script]))
        .await
        .unwrap();
    assert_eq!(out.stdout, bytes);
}

#[tokio::test]
async fn exit_codes_users_cwd_env_and_failures() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;

    let out = client
        .exec_collect(&h, &ExecRequest::new("/bin/sh", ["-c", "exit 7"]))
        .await
        .unwrap();
    assert_eq!(out.exit_code(), 7);
    assert!(!out.success());

    let id = |req: ExecRequest| {
        let client = client.clone();
        let h = h.clone();
        async move { client.exec_collect(&h, &req).await.unwrap().stdout_text() }
    };
    assert_eq!(
        id(ExecRequest::new("id", ["-u"])).await.trim(),
        "1000",
        "default user"
    );
    assert_eq!(
        id(ExecRequest::new("id", ["-u"]).with_user(0, 0))
            .await
            .trim(),
        "0",
        "uid 0 is root"
    );
    assert_eq!(
        id(ExecRequest::new("pwd", [""; 0])).await.trim(),
        "/home/ubuntu"
    );
    assert_eq!(
        id(ExecRequest::new("pwd", [""; 0]).with_cwd("/tmp"))
            .await
            .trim(),
        "/tmp"
    );
    let env = ExecRequest::shell("echo \"$GREETING\"").with_env("GREETING", "hi there");
    assert_eq!(id(env).await, "hi there\n");

    let text = ExecRequest {
        stdio: Stdio::Text,
        ..ExecRequest::new("echo", ["plain"])
    };
    assert_eq!(id(text).await, "plain\n");

    match client
        .exec_collect(&h, &ExecRequest::new("/nope/missing", [""; 0]))
        .await
    {
        Err(Error::ExecFailed { exit_code, message }) => {
            assert_eq!(exit_code, 127, "{message}");
        }
        other => panic!("expected ExecFailed, got {other:?}"),
    }
    let err = client
        .exec(&h, &ExecRequest::new("ls", [""; 0]).with_cwd("/tmp/../.."))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err:?}");
    let err = client
        .exec("sbox-999", &ExecRequest::new("ls", [""; 0]))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    client.pause_vm(&h).await.unwrap();
    let err = client
        .exec(&h, &ExecRequest::new("ls", [""; 0]))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    client.resume_vm(&h).await.unwrap();
}

#[tokio::test]
async fn a_stream_cut_by_the_server_is_an_error_not_a_short_read() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let mut stream = client
        .exec(
            &h,
            &ExecRequest::shell("echo started; sleep 30; echo never"),
        )
        .await
        .unwrap();
    // Wait for the first output, then kill the daemon under the stream.
    loop {
        match stream.next().await.expect("a frame").unwrap() {
            ExecFrame::Stdout(_) => break,
            _ => continue,
        }
    }
    emu.kill();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    match last {
        Some(Err(Error::StreamTruncated(_) | Error::Transport(_))) => {}
        other => panic!("expected a truncation error, got {other:?}"),
    }
}

#[tokio::test]
async fn background_exec_lifecycle() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;

    let bg = client
        .exec_background(
            &h,
            &ExecRequest::shell("for i in 1 2 3; do echo line$i; done; sleep 30"),
            None,
        )
        .await
        .unwrap();
    assert!(bg.exec_id.starts_with("ex_"), "{}", bg.exec_id);
    assert_eq!(bg.ring_bytes, 1024 * 1024);
    let listed = client.exec_list(&h).await.unwrap();
    assert!(listed.iter().any(|e| e.exec_id == bg.exec_id && e.running));

    // Follow until three lines arrived, then stop reading.
    let mut logs = client
        .exec_logs(
            &h,
            &bg.exec_id,
            LogOptions {
                follow: true,
                from_id: None,
            },
        )
        .await
        .unwrap();
    let mut text = Vec::new();
    let mut last_id = 0;
    while text.len() < "line1\nline2\nline3\n".len() {
        let frame = logs.next().await.expect("frame").unwrap();
        assert!(frame.id > last_id, "ids grow: {} after {last_id}", frame.id);
        last_id = frame.id;
        if let ExecFrame::Stdout(b) = frame.frame {
            text.extend_from_slice(&b);
        }
    }
    drop(logs);
    assert_eq!(text, b"line1\nline2\nline3\n");

    let waited = client
        .exec_wait_exit(&h, &bg.exec_id, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(waited.running && waited.timed_out);

    let killed = client
        .exec_kill(
            &h,
            &bg.exec_id,
            KillOptions {
                signal: Some(Signal::Term),
                grace: Some(Duration::from_millis(500)),
            },
        )
        .await
        .unwrap();
    assert_eq!(killed.signal_sent, "TERM");
    let waited = client
        .exec_wait_exit(&h, &bg.exec_id, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(!waited.running && !waited.timed_out);
    let info = client.exec_info(&h, &bg.exec_id).await.unwrap();
    assert!(!info.running);
    assert!(info.bytes_written >= 18);

    // A replay after exit ends with the exit frame.
    let frames: Vec<_> = client
        .exec_logs(
            &h,
            &bg.exec_id,
            LogOptions {
                follow: false,
                from_id: Some(2),
            },
        )
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(frames.first().unwrap().as_ref().unwrap().id, 2);
    assert!(matches!(
        frames.last().unwrap().as_ref().unwrap().frame,
        ExecFrame::Exit(_)
    ));

    assert!(client.exec_delete(&h, &bg.exec_id).await.unwrap().reaped);
    for err in [
        client.exec_info(&h, &bg.exec_id).await.unwrap_err(),
        client.exec_delete(&h, &bg.exec_id).await.unwrap_err(),
        client
            .exec_kill(&h, &bg.exec_id, KillOptions::default())
            .await
            .unwrap_err(),
        client
            .exec_wait_exit(&h, &bg.exec_id, Duration::from_secs(1))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::ExecReaped { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_small_ring_evicts_and_reports_a_gap() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let bg = client
        .exec_background(
            &h,
            &ExecRequest::shell("i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"),
            Some(1024),
        )
        .await
        .unwrap();
    let waited = client
        .exec_wait_exit(&h, &bg.exec_id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(waited.exit_code, Some(0));
    let info = client.exec_info(&h, &bg.exec_id).await.unwrap();
    assert!(info.bytes_dropped > 0, "{info:?}");

    let frames: Vec<_> = client
        .exec_logs(
            &h,
            &bg.exec_id,
            LogOptions {
                follow: false,
                from_id: Some(1),
            },
        )
        .await
        .unwrap()
        .collect()
        .await;
    let first = frames.first().unwrap().as_ref().unwrap();
    assert!(
        matches!(first.frame, ExecFrame::Gap { dropped_frames, .. } if dropped_frames > 0),
        "{first:?}"
    );
    let tail: Vec<u8> = frames
        .iter()
        .filter_map(|f| match &f.as_ref().unwrap().frame {
            ExecFrame::Stdout(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(String::from_utf8(tail).unwrap().ends_with("line-399\n"));
}

#[tokio::test]
async fn filesystem_calls_and_whole_files() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;

    let mkdir = MkdirRequest {
        path: "/home/ubuntu/a/b/c".into(),
        recursive: true,
        mode: Some("0750".into()),
    };
    client.mkdir(&h, &mkdir).await.unwrap();
    let not_recursive = MkdirRequest {
        path: "/home/ubuntu/x/y".into(),
        ..Default::default()
    };
    assert!(client.mkdir(&h, &not_recursive).await.is_err());

    let options = WriteFileOptions {
        permissions: Some("0755".into()),
        ..Default::default()
    };
    client
        .write_file(&h, "/home/ubuntu/a/b/c/tool", all_bytes(), &options)
        .await
        .unwrap();
    let file = client
        .read_file(&h, "/home/ubuntu/a/b/c/tool")
        .await
        .unwrap();
    assert_eq!((file.data.to_vec(), file.mode), (all_bytes(), 0o755));

    // A file written through the API is visible to a command, and the other way round.
    let out = client
        .exec_collect(
            &h,
            &ExecRequest::new("wc", ["-c", "/home/ubuntu/a/b/c/tool"]),
        )
        .await
        .unwrap();
    assert!(
        out.stdout_text().starts_with("256 "),
        "{}",
        out.stdout_text()
    );
    client
        .exec_collect(&h, &ExecRequest::shell("echo made-by-sh > /tmp/out.txt"))
        .await
        .unwrap();
    assert_eq!(
        &client.read_file(&h, "/tmp/out.txt").await.unwrap().data[..],
        b"made-by-sh\n"
    );

    let entries = client.read_dir(&h, "/home/ubuntu/a/b").await.unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].is_dir() && entries[0].name == "c");
    let stat = client
        .stat(&h, "/home/ubuntu/a/b/c/tool")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stat.size, stat.mode_bits()), (256, Some(0o755)));
    assert!(stat.mtime.is_some());
    assert_eq!(client.stat(&h, "/home/ubuntu/nope").await.unwrap(), None);
    assert!(client.exists(&h, "~/a").await.unwrap());

    assert!(client.remove(&h, "/home/ubuntu/a", false).await.is_err());
    client.remove(&h, "/home/ubuntu/a", true).await.unwrap();
    assert!(!client.exists(&h, "/home/ubuntu/a").await.unwrap());
    assert!(client
        .remove(&h, "/home/ubuntu/a", true)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .read_file(&h, "/home/ubuntu/a/b/c/tool")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn userdata_runs_once_and_lands_in_the_log() {
    let emu = EmulatorProcess::start(&[]);
    let client = emu.client();
    let request = CreateVmRequest {
        userdata: Some("#!/bin/sh\necho userdata-was-here\ntouch /root/marker\n".into()),
        ..Default::default()
    };
    let wait = CreateVmOptions {
        wait: Some(WaitFor::Userdata),
        timeout: Some(Duration::from_secs(60)),
    };
    let vm = client
        .create_vm_with_options("sbox", &request, wait)
        .await
        .unwrap();
    let health = client.get_agent_health(&vm.hostname).await.unwrap();
    assert!(health.userdata_ran);
    assert_eq!(health.userdata_exit_code, Some(0));
    let logs = client.get_vm_logs(&vm.hostname, Some(0)).await.unwrap();
    assert!(
        logs.content.contains("userdata-was-here"),
        "{}",
        logs.content
    );
    assert!(client.exists(&vm.hostname, "/root/marker").await.unwrap());
}
