//! Request building and error mapping of every client method, checked
//! against a recording transport.

use std::time::Duration;

use futures_executor::block_on;
use http::Method;
use serde_json::json;

use crate::testing::{Scripted, TestTransport};
use crate::*;

fn client(script: Vec<Scripted>) -> SlicerClient<TestTransport> {
    let config = ClientConfig::new("https://box.example.com/slicer/").with_token("tok-123");
    SlicerClient::new(TestTransport::new(script), config).unwrap()
}

fn ok_json(v: serde_json::Value) -> Scripted {
    Scripted::json(v)
}

/// Asserts the one request's method, path (after the base prefix) and raw query.
fn assert_request(
    c: &SlicerClient<TestTransport>,
    method: Method,
    path: &str,
    query: &str,
) -> testing::RecordedRequest {
    let req = c.transport().only_request();
    assert_eq!(req.method, method);
    assert_eq!(req.path(), format!("/slicer{path}"));
    assert_eq!(req.query(), query);
    req
}

#[test]
fn headers_carry_token_and_user_agent_and_json_content_type_only_with_a_body() {
    let c = client(vec![ok_json(json!([])), Scripted::status(201, "")]);
    block_on(c.list_vms(&ListOptions::default())).unwrap();
    block_on(c.create_secret(&CreateSecretRequest::new("k", "v"))).unwrap();
    let reqs = c.transport().requests();
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(reqs[0].header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert_eq!(reqs[0].header("content-type"), None);
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
}

#[test]
fn empty_token_sends_no_authorization_and_empty_user_agent_sends_none() {
    let config = ClientConfig::new("http://127.0.0.1:8080")
        .with_token("  ")
        .with_user_agent("");
    let c = SlicerClient::new(TestTransport::new([ok_json(json!({}))]), config).unwrap();
    block_on(c.get_info()).unwrap();
    let req = c.transport().only_request();
    assert_eq!(req.uri, "http://127.0.0.1:8080/info");
    assert!(req.header("authorization").is_none());
    assert!(req.header("user-agent").is_none());
}

#[test]
fn token_never_appears_in_debug_output() {
    let c = client(vec![]);
    let text = format!(
        "{c:?} {:?}",
        ClientConfig::new("http://h").with_token("tok-123")
    );
    assert!(!text.contains("tok-123"), "{text}");
    assert!(text.contains("<redacted>"));
}

#[test]
fn socket_base_url_is_refused_with_guidance() {
    let err = SlicerClient::new(
        TestTransport::default(),
        ClientConfig::new("/run/slicer.sock"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("UNIX socket"), "{err}");
}

#[test]
fn server_endpoints() {
    let c = client(vec![Scripted::status(200, "OK")]);
    block_on(c.healthz()).unwrap();
    assert_request(&c, Method::GET, "/healthz", "");

    let c = client(vec![ok_json(
        json!({"version":"0.1.212","git_commit":"3f9c2ab","platform":"linux","arch":"amd64"}),
    )]);
    let info = block_on(c.get_info()).unwrap();
    assert_eq!(info.platform, "linux");
    assert_request(&c, Method::GET, "/info", "");
}

#[test]
fn host_groups_and_listings() {
    let c = client(vec![ok_json(
        json!([{"name":"sbox","count":0,"ram_bytes":4294967296u64,"cpus":2,"gpu_count":0,"arch":"x86_64"}]),
    )]);
    let groups = block_on(c.get_host_groups()).unwrap();
    assert_eq!(groups[0].ram_bytes, gib(4));
    assert_request(&c, Method::GET, "/hostgroup", "");

    let c = client(vec![ok_json(json!(null))]);
    assert!(
        block_on(c.get_host_group_nodes("sbox", &ListOptions::tag("role=ci")))
            .unwrap()
            .is_empty()
    );
    assert_request(&c, Method::GET, "/hostgroup/sbox/nodes", "tag=role%3Dci");

    let c = client(vec![ok_json(
        json!([{"hostname":"sbox-1","status":"Paused"}]),
    )]);
    let vms = block_on(c.list_vms(&ListOptions::tag_prefix("job="))).unwrap();
    assert_eq!(vms[0].status, VmStatus::Paused);
    assert_request(&c, Method::GET, "/nodes", "tag_prefix=job%3D");
}

#[test]
fn conflicting_tag_filters_are_rejected_without_a_request() {
    let c = client(vec![]);
    let both = ListOptions {
        tag: Some("a".into()),
        tag_prefix: Some("b".into()),
    };
    let err = block_on(c.list_vms(&both)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = block_on(c.get_host_group_nodes("sbox", &both)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(c.transport().requests().is_empty());
}

#[test]
fn empty_or_dotted_names_are_rejected_without_a_request() {
    let c = client(vec![]);
    for err in [
        block_on(c.describe_vm("")).unwrap_err(),
        block_on(c.pause_vm("..")).unwrap_err(),
        block_on(c.delete_vm("sbox", "")).unwrap_err(),
        block_on(c.delete_vm("", "sbox-1")).unwrap_err(),
        block_on(c.get_host_group_nodes("", &ListOptions::default())).unwrap_err(),
        block_on(c.delete_secret("a/b")).unwrap_err(),
        block_on(c.create_secret(&CreateSecretRequest::new("", "x"))).unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }
    assert!(c.transport().requests().is_empty());
}

#[test]
fn create_vm_sends_every_field_and_the_wait_options() {
    let c = client(vec![Scripted::status(
        201,
        r#"{"hostname":"sbox-4","hostgroup":"sbox","ip":"192.168.64.6/24","created_at":"2026-05-02T09:20:11Z","arch":"arm64"}"#,
    )]);
    let request = CreateVmRequest {
        hostname: Some("h".into()),
        ip: Some("192.168.64.9".into()),
        ram_bytes: Some(mib(512)),
        cpus: Some(1),
        gpu_count: Some(0),
        persistent: true,
        disk_image: Some("img".into()),
        import_user: Some("octocat".into()),
        ssh_keys: vec!["ssh-ed25519 AAA".into()],
        protected: true,
        userdata: Some("#!/bin/sh\necho hi\n".into()),
        tags: vec!["name=builder".into()],
        secrets: vec!["api-key".into()],
        pci_devices: vec!["0000:01:00.0".into()],
        network: Some(NetworkPolicy {
            allow: Some(vec!["10.0.0.0/8".into()]),
            drop: Some(vec![]),
        }),
    };
    let options = CreateVmOptions {
        wait: Some(WaitFor::Userdata),
        timeout: Some(Duration::from_secs(90)),
    };
    let vm = block_on(c.create_vm_with_options("sbox", &request, options)).unwrap();
    assert_eq!(vm.ip_addr(), Some("192.168.64.6".parse().unwrap()));
    let req = assert_request(
        &c,
        Method::POST,
        "/hostgroup/sbox/nodes",
        "timeout=1m30s&wait=userdata",
    );
    assert_eq!(
        req.json(),
        json!({
            "hostname":"h","ip":"192.168.64.9","ram_bytes":536870912u64,"cpus":1,"gpu_count":0,
            "persistent":true,"disk_image":"img","import_user":"octocat",
            "ssh_keys":["ssh-ed25519 AAA"],"protected":true,"userdata":"#!/bin/sh\necho hi\n",
            "tags":["name=builder"],"secrets":["api-key"],"pci_devices":["0000:01:00.0"],
            "network":{"allow":["10.0.0.0/8"],"drop":[]}
        })
    );
}

#[test]
fn create_vm_with_defaults_sends_empty_object_and_accepts_200() {
    let c = client(vec![ok_json(json!({"hostname":"sbox-1"}))]);
    block_on(c.create_vm("sbox", &CreateVmRequest::default())).unwrap();
    let req = assert_request(&c, Method::POST, "/hostgroup/sbox/nodes", "");
    assert_eq!(&req.body[..], b"{}");
}

#[test]
fn create_vm_zero_timeout_is_invalid_input() {
    let c = client(vec![]);
    let options = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: Some(Duration::ZERO),
    };
    let err = block_on(c.create_vm_with_options("sbox", &CreateVmRequest::default(), options))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn create_vm_without_group_uses_the_only_group() {
    let c = client(vec![
        ok_json(json!([{"name":"only"}])),
        Scripted::status(201, r#"{"hostname":"only-1"}"#),
    ]);
    block_on(c.create_vm("", &CreateVmRequest::default())).unwrap();
    let reqs = c.transport().requests();
    assert_eq!(reqs[1].path(), "/slicer/hostgroup/only/nodes");

    let c = client(vec![ok_json(json!([{"name":"a"},{"name":"b"}]))]);
    let err = block_on(c.create_vm(" ", &CreateVmRequest::default())).unwrap_err();
    assert!(err.to_string().contains("a, b"), "{err}");
    assert_eq!(c.transport().requests().len(), 1);
}

#[test]
fn create_vm_timeout_maps_to_api_error_408() {
    let c = client(vec![Scripted::status(
        408,
        r#"{"error":"timed out waiting for agent"}"#,
    )]);
    let err = block_on(c.create_vm("sbox", &CreateVmRequest::default())).unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::REQUEST_TIMEOUT));
    assert!(
        err.to_string().contains("timed out waiting for agent"),
        "{err}"
    );
}

#[test]
fn delete_vm_reads_string_flag_and_error_inside_200() {
    let c = client(vec![ok_json(
        json!({"message":"VM deleted successfully","disk_removed":"true"}),
    )]);
    let res = block_on(c.delete_vm("sbox", "sbox-1")).unwrap();
    assert!(res.disk_removed);
    assert_request(&c, Method::DELETE, "/hostgroup/sbox/nodes/sbox-1", "");

    let c = client(vec![ok_json(json!({"error":"disk busy"}))]);
    let err = block_on(c.delete_vm("sbox", "sbox-1")).unwrap_err();
    assert!(err.to_string().contains("disk busy"), "{err}");

    let c = client(vec![Scripted::status(204, "")]);
    assert_eq!(
        block_on(c.delete_vm("sbox", "sbox-1"))
            .unwrap_err()
            .status()
            .map(|s| s.as_u16()),
        Some(204)
    );
}

#[test]
fn lifecycle_calls() {
    type Call = fn(&SlicerClient<TestTransport>) -> Result<()>;
    let cases: [(Call, &str, &str); 7] = [
        (|c| block_on(c.pause_vm("sbox-1")), "/vm/sbox-1/pause", ""),
        (|c| block_on(c.resume_vm("sbox-1")), "/vm/sbox-1/resume", ""),
        (
            |c| block_on(c.suspend_vm("sbox-1")),
            "/vm/sbox-1/suspend",
            "",
        ),
        (
            |c| block_on(c.restore_vm("sbox-1")),
            "/vm/sbox-1/restore",
            "",
        ),
        (
            |c| {
                let options = RestoreVmOptions {
                    wait_for_agent: true,
                    timeout: Some(Duration::from_secs(30)),
                };
                block_on(c.restore_vm_with_options("sbox-1", options))
            },
            "/vm/sbox-1/restore",
            "timeout=30s&wait=agent",
        ),
        (
            |c| block_on(c.shutdown("sbox-1", ShutdownAction::default())),
            "/vm/sbox-1/shutdown",
            "action=reboot",
        ),
        (
            |c| block_on(c.shutdown("sbox-1", ShutdownAction::Shutdown)),
            "/vm/sbox-1/shutdown",
            "action=shutdown",
        ),
    ];
    for (call, path, query) in cases {
        let c = client(vec![Scripted::status(200, "ok")]);
        call(&c).unwrap();
        let req = assert_request(&c, Method::POST, path, query);
        assert!(req.body.is_empty());
        assert!(req.header("content-type").is_none());
    }
}

#[test]
fn relaunch_and_describe() {
    let c = client(vec![Scripted::status(201, r#"{"hostname":"sbox-2"}"#)]);
    assert_eq!(
        block_on(c.relaunch_vm("sbox-2")).unwrap().hostname,
        "sbox-2"
    );
    assert_request(&c, Method::POST, "/vm/sbox-2/relaunch", "");

    let c = client(vec![Scripted::status(
        409,
        r#"{"error":"already running"}"#,
    )]);
    assert!(block_on(c.relaunch_vm("sbox-2")).unwrap_err().is_conflict());

    let c = client(vec![ok_json(
        json!({"hostname":"sbox-7","storage":"image"}),
    )]);
    assert_eq!(block_on(c.describe_vm("sbox-7")).unwrap().storage, "image");
    assert_request(&c, Method::GET, "/vm/sbox-7", "");
}

#[test]
fn tags() {
    let state = json!({"hostname":"sbox-3","tags":["name=builder","role=ci"]});
    let c = client(vec![ok_json(state.clone())]);
    assert_eq!(block_on(c.get_vm_tags("sbox-3")).unwrap().tags.len(), 2);
    assert_request(&c, Method::GET, "/vm/sbox-3/tags", "");

    for (call, body) in [
        (0, json!({"add":["role=ci"]})),
        (1, json!({"remove":["old"]})),
        (2, json!({"replace":[]})),
    ] {
        let c = client(vec![ok_json(state.clone())]);
        match call {
            0 => block_on(c.add_vm_tags("sbox-3", &["role=ci"])),
            1 => block_on(c.remove_vm_tags("sbox-3", &["old"])),
            _ => block_on(c.replace_vm_tags("sbox-3", &[])),
        }
        .unwrap();
        let req = assert_request(&c, Method::PATCH, "/vm/sbox-3/tags", "");
        assert_eq!(req.json(), body);
        assert_eq!(req.header("content-type"), Some("application/json"));
    }

    let c = client(vec![]);
    let bad = VmTagUpdate {
        add: vec!["x".into()],
        replace: Some(vec![]),
        ..Default::default()
    };
    assert!(matches!(
        block_on(c.update_vm_tags("sbox-3", &bad)),
        Err(Error::InvalidInput(_))
    ));
    let empty = VmTagUpdate::default();
    assert!(matches!(
        block_on(c.update_vm_tags("sbox-3", &empty)),
        Err(Error::InvalidInput(_))
    ));
    assert!(c.transport().requests().is_empty());
}

#[test]
fn logs_and_stats() {
    let c = client(vec![ok_json(
        json!({"hostname":"sbox-3","lines":5,"content":"a\n"}),
    )]);
    assert_eq!(
        block_on(c.get_vm_logs("sbox-3", Some(5))).unwrap().content,
        "a\n"
    );
    assert_request(&c, Method::GET, "/vm/sbox-3/logs", "lines=5");

    let c = client(vec![ok_json(
        json!({"hostname":"sbox-3","lines":20,"content":""}),
    )]);
    block_on(c.get_vm_logs("sbox-3", None)).unwrap();
    assert_request(&c, Method::GET, "/vm/sbox-3/logs", "");

    let c = client(vec![ok_json(
        json!([{"hostname":"sbox-1","ip":"10.0.0.2","snapshot":{"totalCpus":2,"loadAvg1":0.5,"diskIOInflight":3}}]),
    )]);
    let all = block_on(c.get_vm_stats(None)).unwrap();
    let snap = all[0].snapshot.as_ref().unwrap();
    assert_eq!(
        (snap.total_cpus, snap.load_avg1, snap.disk_io_inflight),
        (2, 0.5, 3)
    );
    assert_request(&c, Method::GET, "/nodes/stats", "");

    for body in [
        json!({"hostname":"sbox-1","snapshot":null,"error":"no metering"}),
        json!([{"hostname":"sbox-1"}]),
    ] {
        let c = client(vec![ok_json(body)]);
        let one = block_on(c.get_vm_stats(Some("sbox-1"))).unwrap();
        assert_eq!(one.len(), 1);
        assert_request(&c, Method::GET, "/node/sbox-1/stats", "");
    }
}

#[test]
fn agent_health_get_and_head() {
    let c = client(vec![ok_json(
        json!({"hostname":"sbox-3","agent_uptime":1000000000u64,"userdata_ran":true}),
    )]);
    let h = block_on(c.get_agent_health("sbox-3")).unwrap();
    assert_eq!(h.agent_uptime, Duration::from_secs(1));
    assert_request(&c, Method::GET, "/vm/sbox-3/health", "");

    let c = client(vec![
        Scripted::status(200, ""),
        Scripted::status(503, ""),
        Scripted::status(404, ""),
    ]);
    assert!(block_on(c.check_agent_health("sbox-3")).unwrap());
    assert!(!block_on(c.check_agent_health("sbox-3")).unwrap());
    assert!(block_on(c.check_agent_health("sbox-3"))
        .unwrap_err()
        .is_not_found());
    assert!(c
        .transport()
        .requests()
        .iter()
        .all(|r| r.method == Method::HEAD));
}

#[test]
fn secrets() {
    let c = client(vec![ok_json(
        json!([{"name":"api-key","size":11,"permissions":"0600","uid":1000,"gid":1000,"modified_at":"2026-05-02T09:00:00Z"}]),
    )]);
    assert_eq!(block_on(c.list_secrets()).unwrap()[0].uid, 1000);
    assert_request(&c, Method::GET, "/secrets", "");

    let c = client(vec![Scripted::status(201, "")]);
    let req = CreateSecretRequest {
        name: "api-key".into(),
        data: b"my-api-key\n".to_vec(),
        permissions: Some("0600".into()),
        uid: Some(0),
        gid: Some(1000),
    };
    block_on(c.create_secret(&req)).unwrap();
    let sent = assert_request(&c, Method::POST, "/secrets", "");
    assert_eq!(
        sent.json(),
        json!({"name":"api-key","data":"bXktYXBpLWtleQo=","permissions":"0600","uid":0,"gid":1000})
    );

    let c = client(vec![Scripted::status(
        409,
        r#"{"error":"secret already exists"}"#,
    )]);
    match block_on(c.create_secret(&req)).unwrap_err() {
        Error::SecretExists { name } => assert_eq!(name, "api-key"),
        other => panic!("expected SecretExists, got {other:?}"),
    }

    let c = client(vec![Scripted::status(200, "")]);
    let update = UpdateSecretRequest {
        permissions: Some("0640".into()),
        ..Default::default()
    };
    block_on(c.patch_secret("api-key", &update)).unwrap();
    let sent = assert_request(&c, Method::PATCH, "/secrets/api-key", "");
    assert_eq!(sent.json(), json!({"data":"","permissions":"0640"}));

    let c = client(vec![Scripted::status(200, "")]);
    block_on(c.delete_secret("api-key")).unwrap();
    assert_request(&c, Method::DELETE, "/secrets/api-key", "");

    let c = client(vec![]);
    let bad_mode = CreateSecretRequest {
        permissions: Some("rw-------".into()),
        ..CreateSecretRequest::new("k", "v")
    };
    assert!(matches!(
        block_on(c.create_secret(&bad_mode)),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn error_mapping() {
    let c = client(vec![Scripted::status(401, r#"{"error":"unauthorized"}"#)]);
    let err = block_on(c.get_info()).unwrap_err();
    assert!(err.is_unauthorized());
    assert!(!err.to_string().contains("tok-123"));

    let c = client(vec![Scripted::status(404, "404 page not found\n")]);
    let err = block_on(c.describe_vm("sbox-9")).unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.message, "404 page not found");
    assert_eq!(api.path, "/vm/sbox-9");
    assert_eq!(api.method, Method::GET);

    let c = client(vec![ok_json(json!({"hostname": 7}))]);
    let err = block_on(c.describe_vm("sbox-9")).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /vm/sbox-9"), "{err}");

    let c = client(vec![Scripted::Fail(TransportErrorKind::Connect)]);
    let err = block_on(c.get_info()).unwrap_err();
    let Error::Transport(t) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(t.kind(), TransportErrorKind::Connect);

    let c = client(vec![Scripted::Response {
        status: http::StatusCode::OK,
        headers: Default::default(),
        chunks: vec![bytes::Bytes::from_static(b"[{\"hostname\":")],
        break_after: true,
    }]);
    let err = block_on(c.list_vms(&ListOptions::default())).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[test]
fn find_vm_by_name_requires_exactly_one_match() {
    let c = client(vec![ok_json(
        json!([{"hostname":"sbox-2","tags":["name=web"]}]),
    )]);
    assert_eq!(
        block_on(c.find_vm_by_name("web")).unwrap().hostname,
        "sbox-2"
    );
    assert_request(&c, Method::GET, "/nodes", "tag=name%3Dweb");

    let c = client(vec![ok_json(json!([]))]);
    assert!(block_on(c.find_vm_by_name("web"))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn hostnames_are_escaped_in_paths() {
    let c = client(vec![ok_json(json!({"hostname":"x"}))]);
    block_on(c.describe_vm("a b?c")).unwrap();
    let req = c.transport().only_request();
    assert!(req.uri.ends_with("/slicer/vm/a%20b%3Fc"), "{}", req.uri);
}

fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

fn with_headers(status: u16, pairs: &[(&'static str, &str)], body: &'static [u8]) -> Scripted {
    Scripted::Response {
        status: http::StatusCode::from_u16(status).unwrap(),
        headers: headers(pairs),
        chunks: vec![bytes::Bytes::from_static(body)],
        break_after: false,
    }
}

#[test]
fn exec_streams_frames_and_maps_http_errors() {
    let c = client(vec![Scripted::chunks(
        200,
        vec![
            bytes::Bytes::from_static(
                b"{\"type\":\"started\",\"pid\":9}\n{\"type\":\"stdout\",\"data\":\"/w",
            ),
            bytes::Bytes::from_static(
                b"A=\",\"encoding\":\"base64\"}\n{\"type\":\"exit\",\"exit_code\":4}\n",
            ),
        ],
    )]);
    let out = block_on(c.exec_collect("sbox-1", &ExecRequest::new("/bin/true", ["a b"]))).unwrap();
    assert_eq!(out.stdout, vec![0xff, 0x00]);
    assert_eq!(out.exit_code(), 4);
    assert_eq!(out.pid, Some(9));
    let req = assert_request(
        &c,
        Method::POST,
        "/vm/sbox-1/exec",
        "args=a+b&cmd=%2Fbin%2Ftrue&stdio=base64",
    );
    assert!(req.body.is_empty());

    let c = client(vec![Scripted::status(409, r#"{"error":"vm is paused"}"#)]);
    let err = block_on(c.exec("sbox-1", &ExecRequest::new("ls", [""; 0]))).unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let c = client(vec![Scripted::Response {
        status: http::StatusCode::OK,
        headers: Default::default(),
        chunks: vec![bytes::Bytes::from_static(
            b"{\"type\":\"started\",\"pid\":9}\n",
        )],
        break_after: true,
    }]);
    let err = block_on(c.exec_collect("sbox-1", &ExecRequest::new("ls", [""; 0]))).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[test]
fn exec_with_stdin_sends_the_body_and_flag() {
    let c = client(vec![Scripted::status(
        200,
        "{\"type\":\"exit\",\"exit_code\":0}\n",
    )]);
    let stream = block_on(c.exec_with_stdin(
        "sbox-1",
        &ExecRequest::new("cat", [""; 0]),
        Body::from(b"in".to_vec()),
    ))
    .unwrap();
    block_on(stream.collect()).unwrap();
    let req = assert_request(
        &c,
        Method::POST,
        "/vm/sbox-1/exec",
        "cmd=cat&stdin=true&stdio=base64",
    );
    assert_eq!(&req.body[..], b"in");
}

#[test]
fn buffered_exec_decodes_only_when_the_answer_says_base64() {
    let c = client(vec![ok_json(
        json!({"stdout":"aGk=","stderr":"","encoding":"base64","exit_code":2}),
    )]);
    let out = block_on(c.exec_buffered("sbox-1", &ExecRequest::shell("echo hi; exit 2"))).unwrap();
    assert_eq!((out.stdout_text().as_str(), out.exit_code()), ("hi", 2));
    assert_request(
        &c,
        Method::POST,
        "/vm/sbox-1/exec",
        "buffered=true&cmd=echo+hi%3B+exit+2&shell=%2Fbin%2Fsh&stdio=base64",
    );

    let c = client(vec![ok_json(json!({"stdout":"aGk=","exit_code":0}))]);
    let out = block_on(c.exec_buffered("sbox-1", &ExecRequest::new("x", [""; 0]))).unwrap();
    assert_eq!(out.stdout_text(), "aGk=");

    let c = client(vec![ok_json(json!({"error":"not found","exit_code":127}))]);
    let err = block_on(c.exec_buffered("sbox-1", &ExecRequest::new("x", [""; 0]))).unwrap_err();
    assert!(
        matches!(err, Error::ExecFailed { exit_code: 127, .. }),
        "{err:?}"
    );
}

#[test]
fn background_exec_calls() {
    let c = client(vec![Scripted::status(
        201,
        r#"{"exec_id":"ex_1","pid":5,"ring_bytes":4096}"#,
    )]);
    let bg = block_on(c.exec_background("sbox-1", &ExecRequest::new("sleep", ["9"]), Some(4096)))
        .unwrap();
    assert_eq!(bg.exec_id, "ex_1");
    assert_request(
        &c,
        Method::POST,
        "/vm/sbox-1/exec",
        "args=9&background=true&cmd=sleep&ring_bytes=4096&stdio=base64",
    );

    let c = client(vec![ok_json(
        json!([{"exec_id":"ex_1","running":true,"exit_code":null}]),
    )]);
    assert!(block_on(c.exec_list("sbox-1")).unwrap()[0].running);
    assert_request(&c, Method::GET, "/vm/sbox-1/exec", "");

    let c = client(vec![Scripted::status(410, r#"{"error":"reaped"}"#)]);
    match block_on(c.exec_info("sbox-1", "ex_1")).unwrap_err() {
        Error::ExecReaped { exec_id } => assert_eq!(exec_id, "ex_1"),
        other => panic!("{other:?}"),
    }

    let c = client(vec![ok_json(
        json!({"exec_id":"ex_1","pid":5,"running":false,"signal_sent":"TERM"}),
    )]);
    block_on(c.exec_kill("sbox-1", "ex_1", KillOptions::default())).unwrap();
    let req = assert_request(&c, Method::POST, "/vm/sbox-1/exec/ex_1/kill", "");
    assert!(req.body.is_empty());

    let c = client(vec![ok_json(
        json!({"exec_id":"ex_1","signal_sent":"KILL"}),
    )]);
    let opts = KillOptions {
        signal: Some(Signal::Term),
        grace: Some(Duration::from_millis(250)),
    };
    block_on(c.exec_kill("sbox-1", "ex_1", opts)).unwrap();
    let req = assert_request(&c, Method::POST, "/vm/sbox-1/exec/ex_1/kill", "");
    assert_eq!(req.json(), json!({"signal":"TERM","grace_ms":250}));

    let c = client(vec![ok_json(
        json!({"exec_id":"ex_1","running":true,"timed_out":true}),
    )]);
    let w = block_on(c.exec_wait_exit("sbox-1", "ex_1", Duration::from_millis(2500))).unwrap();
    assert!(w.timed_out && w.exit_code.is_none());
    assert_request(
        &c,
        Method::GET,
        "/vm/sbox-1/exec/ex_1/wait-exit",
        "timeout=2",
    );
    assert!(matches!(
        block_on(c.exec_wait_exit("sbox-1", "ex_1", Duration::from_secs(601))),
        Err(Error::InvalidInput(_))
    ));

    let c = client(vec![ok_json(json!({"exec_id":"ex_1","reaped":true}))]);
    assert!(block_on(c.exec_delete("sbox-1", "ex_1")).unwrap().reaped);
    assert_request(&c, Method::DELETE, "/vm/sbox-1/exec/ex_1", "");
}

#[test]
fn background_logs_replay_and_follow() {
    use futures_util::StreamExt;
    let replay = "{\"type\":\"gap\",\"id\":3,\"dropped_bytes\":10,\"dropped_frames\":2}\n\
                  {\"type\":\"stdout\",\"id\":4,\"data\":\"aGk=\",\"encoding\":\"base64\"}\n";
    let c = client(vec![Scripted::status(200, replay)]);
    let opts = LogOptions {
        follow: false,
        from_id: Some(1),
    };
    let frames: Vec<_> = block_on(async {
        let s = c.exec_logs("sbox-1", "ex_1", opts).await.unwrap();
        s.collect::<Vec<_>>().await
    });
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[1].as_ref().unwrap().id, 4);
    assert_request(&c, Method::GET, "/vm/sbox-1/exec/ex_1/logs", "from_id=1");

    // A follow that loses its connection before the exit frame is an error.
    let c = client(vec![Scripted::status(200, replay)]);
    let opts = LogOptions {
        follow: true,
        from_id: None,
    };
    let frames: Vec<_> = block_on(async {
        let s = c.exec_logs("sbox-1", "ex_1", opts).await.unwrap();
        s.collect::<Vec<_>>().await
    });
    assert!(
        matches!(frames.last(), Some(Err(Error::StreamTruncated(_)))),
        "{frames:?}"
    );
    assert_request(&c, Method::GET, "/vm/sbox-1/exec/ex_1/logs", "follow=true");
}

#[test]
fn filesystem_calls() {
    let c = client(vec![ok_json(
        json!([{"name":"a","type":"directory","size":4096,"mtime":1776024825,"mode":"0755"}]),
    )]);
    let entries = block_on(c.read_dir("sbox-1", "/home/ubuntu")).unwrap();
    assert!(entries[0].is_dir());
    assert_eq!(entries[0].mode_bits(), Some(0o755));
    assert!(entries[0].mtime.is_some());
    assert_request(
        &c,
        Method::GET,
        "/vm/sbox-1/fs/readdir",
        "path=%2Fhome%2Fubuntu",
    );

    let c = client(vec![Scripted::status(404, r#"{"error":"no such file"}"#)]);
    assert_eq!(block_on(c.stat("sbox-1", "/nope")).unwrap(), None);
    let c = client(vec![Scripted::status(500, r#"{"error":"io"}"#)]);
    assert!(block_on(c.exists("sbox-1", "/x")).is_err());

    let c = client(vec![Scripted::status(200, "")]);
    let req = MkdirRequest {
        path: "/srv/a/b".into(),
        recursive: true,
        mode: Some("0750".into()),
    };
    block_on(c.mkdir("sbox-1", &req)).unwrap();
    let sent = assert_request(&c, Method::POST, "/vm/sbox-1/fs/mkdir", "");
    assert_eq!(
        sent.json(),
        json!({"path":"/srv/a/b","recursive":true,"mode":"0750"})
    );

    let c = client(vec![Scripted::status(200, "")]);
    block_on(c.remove("sbox-1", "/srv/a", false)).unwrap();
    assert_request(
        &c,
        Method::DELETE,
        "/vm/sbox-1/fs/remove",
        "path=%2Fsrv%2Fa&recursive=false",
    );

    let c = client(vec![with_headers(
        200,
        &[("x-slicer-file-mode", "0755")],
        b"\x00\xff",
    )]);
    let file = block_on(c.read_file("sbox-1", "/bin/tool")).unwrap();
    assert_eq!((&file.data[..], file.mode), (&b"\x00\xff"[..], 0o755));
    let req = assert_request(&c, Method::GET, "/vm/sbox-1/cp", "path=%2Fbin%2Ftool");
    assert_eq!(req.header("accept"), Some("application/octet-stream"));

    let c = client(vec![Scripted::status(200, "")]);
    let opts = WriteFileOptions {
        uid: Some(0),
        gid: None,
        permissions: Some("0644".into()),
    };
    block_on(c.write_file("sbox-1", "/etc/x", b"abc".to_vec(), &opts)).unwrap();
    let req = assert_request(
        &c,
        Method::POST,
        "/vm/sbox-1/cp",
        "path=%2Fetc%2Fx&permissions=0644&uid=0",
    );
    assert_eq!(&req.body[..], b"abc");
    assert_eq!(req.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn upload_falls_back_only_on_the_exact_legacy_refusal() {
    let mut upload = Upload::directory("/srv", "site");
    upload.uid = Some(1000);
    upload.gid = Some(1000);
    upload.exclude = vec!["*.tmp".into()];
    upload.unpacked_size = Some(18234);
    let refusal = r#"{"error":"cp produced an unexpected error: 400: invalid mode: cp-v1-tar"}"#;
    let c = client(vec![
        Scripted::status(400, refusal),
        Scripted::status(200, ""),
    ]);
    let generation =
        block_on(c.cp_upload("sbox-3", &upload, &UploadSource::from_bytes(&b"TAR"[..]))).unwrap();
    assert_eq!(generation, CopyGeneration::Legacy);
    let reqs = c.transport().requests();
    assert_eq!(
        reqs[0].query(),
        "copy_semantics=cp-v1&exclude=%2A.tmp&gid=1000&mode=cp-v1-tar&path=%2Fsrv&source_name=site&source_type=directory&uid=1000"
    );
    assert_eq!(
        reqs[1].query(),
        "exclude=%2A.tmp&gid=1000&mode=tar&path=%2Fsrv&uid=1000"
    );
    for r in &reqs {
        assert_eq!(&r.body[..], b"TAR");
        assert_eq!(r.header("content-type"), Some("application/x-tar"));
        assert_eq!(r.header("x-slicer-unpacked-size"), Some("18234"));
    }

    // A different 400, or the refusal of another mode, fails at once.
    for body in [
        r#"{"error":"bad path"}"#,
        r#"{"error":"invalid mode: cp-v1-binary"}"#,
    ] {
        let c = client(vec![Scripted::status(400, body)]);
        let err = block_on(c.cp_upload("sbox-3", &upload, &UploadSource::from_bytes(&b""[..])))
            .unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
        assert_eq!(c.transport().requests().len(), 1);
    }
    let c = client(vec![Scripted::status(500, "invalid mode: cp-v1-tar")]);
    assert!(block_on(c.cp_upload("sbox-3", &upload, &UploadSource::from_bytes(&b""[..]))).is_err());
    assert_eq!(c.transport().requests().len(), 1);
}

#[test]
fn binary_upload_sends_cp_v1_file_metadata() {
    let c = client(vec![Scripted::status(200, "")]);
    let mut upload = Upload::file("/home/ubuntu/bin/", "tool");
    upload.permissions = Some("0755".into());
    block_on(c.cp_upload(
        "sbox-3",
        &upload,
        &UploadSource::from_bytes(&b"\x7fELF"[..]),
    ))
    .unwrap();
    let req = assert_request(
        &c,
        Method::POST,
        "/vm/sbox-3/cp",
        "copy_semantics=cp-v1&mode=cp-v1-binary&path=%2Fhome%2Fubuntu%2Fbin%2F&permissions=0755&source_name=tool&source_type=file",
    );
    assert_eq!(req.header("content-type"), Some("application/octet-stream"));
    assert!(req.header("x-slicer-unpacked-size").is_none());
}

#[test]
fn cp_v1_download_reads_metadata_and_rejects_incomplete_answers() {
    let c = client(vec![with_headers(
        200,
        &[
            ("x-slicer-source-type", "directory"),
            ("x-slicer-source-name-base64", "IHNpdGUg"),
        ],
        b"tar",
    )]);
    let mut req = DownloadRequest::new("/srv/ site ", DownloadMode::Recursive);
    req.exclude = vec!["node_modules".into()];
    let d = block_on(c.cp_download("sbox-3", &req)).unwrap();
    assert_eq!(
        (d.source_type, d.name.as_str(), d.generation),
        (SourceType::Directory, " site ", CopyGeneration::CpV1)
    );
    let sent = assert_request(
        &c,
        Method::GET,
        "/vm/sbox-3/cp",
        "copy_semantics=cp-v1&exclude=node_modules&mode=cp-v1-recursive&path=%2Fsrv%2F+site+",
    );
    assert_eq!(
        sent.header("accept"),
        Some("application/octet-stream, application/x-tar")
    );

    let bad: [&[(&'static str, &str)]; 4] = [
        &[("x-slicer-source-type", "file")],
        &[
            ("x-slicer-source-type", "file"),
            ("x-slicer-source-name", "a"),
        ],
        &[
            ("x-slicer-source-type", "directory"),
            ("x-slicer-source-name-base64", "YQ"),
        ],
        &[
            ("x-slicer-source-type", "file"),
            ("x-slicer-source-name-base64", ""),
        ],
    ];
    for h in bad {
        let c = client(vec![with_headers(200, h, b"")]);
        let err =
            block_on(c.cp_download("sbox-3", &DownloadRequest::new("/a", DownloadMode::Binary)))
                .unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{h:?}: {err:?}");
    }
}

#[test]
fn recursive_download_against_a_legacy_agent_tries_binary_then_tar() {
    let c = client(vec![
        Scripted::status(400, r#"{"error":"invalid mode: cp-v1-recursive"}"#),
        Scripted::status(400, r#"{"error":"must specify a file not a directory"}"#),
        Scripted::status(200, "tarbytes"),
    ]);
    let d = block_on(c.cp_download(
        "sbox-3",
        &DownloadRequest::new("/srv/site/", DownloadMode::Recursive),
    ))
    .unwrap();
    assert_eq!(
        (d.source_type, d.name.as_str(), d.generation),
        (SourceType::Directory, "site", CopyGeneration::Legacy)
    );
    let reqs = c.transport().requests();
    let queries: Vec<String> = reqs.iter().map(|r| r.query()).collect();
    assert_eq!(
        queries,
        [
            "copy_semantics=cp-v1&mode=cp-v1-recursive&path=%2Fsrv%2Fsite%2F",
            "mode=binary&path=%2Fsrv%2Fsite%2F",
            "mode=tar&path=%2Fsrv%2Fsite%2F",
        ]
    );

    let c = client(vec![
        Scripted::status(400, r#"{"error":"invalid mode: cp-v1-binary"}"#),
        with_headers(200, &[("x-slicer-file-mode", "0640")], b"x"),
    ]);
    let d = block_on(c.cp_download(
        "sbox-3",
        &DownloadRequest::new("~/notes.txt", DownloadMode::Binary),
    ))
    .unwrap();
    assert_eq!(
        (d.source_type, d.name.as_str(), d.mode),
        (SourceType::File, "notes.txt", 0o640)
    );

    let c = client(vec![Scripted::status(
        400,
        r#"{"error":"invalid mode: cp-v1-tar"}"#,
    )]);
    let err = block_on(c.cp_download("sbox-3", &DownloadRequest::new("..", DownloadMode::Tar)))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}
