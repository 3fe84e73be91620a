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
fn assert_request(c: &SlicerClient<TestTransport>, method: Method, path: &str, query: &str) -> testing::RecordedRequest {
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
    let text = format!("{c:?} {:?}", ClientConfig::new("http://h").with_token("tok-123"));
    assert!(!text.contains("tok-123"), "{text}");
    assert!(text.contains("<redacted>"));
}

#[test]
fn socket_base_url_is_refused_with_guidance() {
    let err = SlicerClient::new(TestTransport::default(), ClientConfig::new("/run/slicer.sock")).unwrap_err();
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
    assert!(block_on(c.get_host_group_nodes("sbox", &ListOptions::tag("role=ci")))
        .unwrap()
        .is_empty());
    assert_request(&c, Method::GET, "/hostgroup/sbox/nodes", "tag=role%3Dci");

    let c = client(vec![ok_json(json!([{"hostname":"sbox-1","status":"Paused"}]))]);
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
    let req = assert_request(&c, Method::POST, "/hostgroup/sbox/nodes", "timeout=1m30s&wait=userdata");
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
    let err = block_on(c.create_vm_with_options("sbox", &CreateVmRequest::default(), options)).unwrap_err();
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
    let c = client(vec![Scripted::status(408, r#"{"error":"timed out waiting for agent"}"#)]);
    let err = block_on(c.create_vm("sbox", &CreateVmRequest::default())).unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::REQUEST_TIMEOUT));
    assert!(err.to_string().contains("timed out waiting for agent"), "{err}");
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
    assert_eq!(block_on(c.delete_vm("sbox", "sbox-1")).unwrap_err().status().map(|s| s.as_u16()), Some(204));
}

#[test]
fn lifecycle_calls() {
    type Call = fn(&SlicerClient<TestTransport>) -> Result<()>;
    let cases: [(Call, &str, &str); 7] = [
        (|c| block_on(c.pause_vm("sbox-1")), "/vm/sbox-1/pause", ""),
        (|c| block_on(c.resume_vm("sbox-1")), "/vm/sbox-1/resume", ""),
        (|c| block_on(c.suspend_vm("sbox-1")), "/vm/sbox-1/suspend", ""),
        (|c| block_on(c.restore_vm("sbox-1")), "/vm/sbox-1/restore", ""),
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
    assert_eq!(block_on(c.relaunch_vm("sbox-2")).unwrap().hostname, "sbox-2");
    assert_request(&c, Method::POST, "/vm/sbox-2/relaunch", "");

    let c = client(vec![Scripted::status(409, r#"{"error":"already running"}"#)]);
    assert!(block_on(c.relaunch_vm("sbox-2")).unwrap_err().is_conflict());

    let c = client(vec![ok_json(json!({"hostname":"sbox-7","storage":"image"}))]);
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
    assert!(matches!(block_on(c.update_vm_tags("sbox-3", &bad)), Err(Error::InvalidInput(_))));
    let empty = VmTagUpdate::default();
    assert!(matches!(block_on(c.update_vm_tags("sbox-3", &empty)), Err(Error::InvalidInput(_))));
    assert!(c.transport().requests().is_empty());
}

#[test]
fn logs_and_stats() {
    let c = client(vec![ok_json(json!({"hostname":"sbox-3","lines":5,"content":"a\n"}))]);
    assert_eq!(block_on(c.get_vm_logs("sbox-3", Some(5))).unwrap().content, "a\n");
    assert_request(&c, Method::GET, "/vm/sbox-3/logs", "lines=5");

    let c = client(vec![ok_json(json!({"hostname":"sbox-3","lines":20,"content":""}))]);
    block_on(c.get_vm_logs("sbox-3", None)).unwrap();
    assert_request(&c, Method::GET, "/vm/sbox-3/logs", "");

    let c = client(vec![ok_json(
        json!([{"hostname":"sbox-1","ip":"10.0.0.2","snapshot":{"totalCpus":2,"loadAvg1":0.5,"diskIOInflight":3}}]),
    )]);
    let all = block_on(c.get_vm_stats(None)).unwrap();
    let snap = all[0].snapshot.as_ref().unwrap();
    assert_eq!((snap.total_cpus, snap.load_avg1, snap.disk_io_inflight), (2, 0.5, 3));
    assert_request(&c, Method::GET, "/nodes/stats", "");

    for body in [json!({"hostname":"sbox-1","snapshot":null,"error":"no metering"}), json!([{"hostname":"sbox-1"}])] {
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

    let c = client(vec![Scripted::status(200, ""), Scripted::status(503, ""), Scripted::status(404, "")]);
    assert!(block_on(c.check_agent_health("sbox-3")).unwrap());
    assert!(!block_on(c.check_agent_health("sbox-3")).unwrap());
    assert!(block_on(c.check_agent_health("sbox-3")).unwrap_err().is_not_found());
    assert!(c.transport().requests().iter().all(|r| r.method == Method::HEAD));
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

    let c = client(vec![Scripted::status(409, r#"{"error":"secret already exists"}"#)]);
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
    assert!(matches!(block_on(c.create_secret(&bad_mode)), Err(Error::InvalidInput(_))));
}

#[test]
fn error_mapping() {
    let c = client(vec![Scripted::status(401, r#"{"error":"unauthorized"}"#)]);
    let err = block_on(c.get_info()).unwrap_err();
    assert!(err.is_unauthorized());
    assert!(!err.to_string().contains("tok-123"));

    let c = client(vec![Scripted::status(404, "404 page not found\n")]);
    let err = block_on(c.describe_vm("sbox-9")).unwrap_err();
    let Error::Api(api) = &err else { panic!("{err:?}") };
    assert_eq!(api.message, "404 page not found");
    assert_eq!(api.path, "/vm/sbox-9");
    assert_eq!(api.method, Method::GET);

    let c = client(vec![ok_json(json!({"hostname": 7}))]);
    let err = block_on(c.describe_vm("sbox-9")).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /vm/sbox-9"), "{err}");

    let c = client(vec![Scripted::Fail(TransportErrorKind::Connect)]);
    let err = block_on(c.get_info()).unwrap_err();
    let Error::Transport(t) = &err else { panic!("{err:?}") };
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
    let c = client(vec![ok_json(json!([{"hostname":"sbox-2","tags":["name=web"]}]))]);
    assert_eq!(block_on(c.find_vm_by_name("web")).unwrap().hostname, "sbox-2");
    assert_request(&c, Method::GET, "/nodes", "tag=name%3Dweb");

    let c = client(vec![ok_json(json!([]))]);
    assert!(block_on(c.find_vm_by_name("web")).unwrap_err().is_not_found());
}

#[test]
fn hostnames_are_escaped_in_paths() {
    let c = client(vec![ok_json(json!({"hostname":"x"}))]);
    block_on(c.describe_vm("a b?c")).unwrap();
    let req = c.transport().only_request();
    assert!(req.uri.ends_with("/slicer/vm/a%20b%3Fc"), "{}", req.uri);
}
