//! Server-wide behaviour: open endpoints, auth, routing misses, /info,
//! request encodings.

mod common;

use common::{raw_request, start, start_default};
use serde_json::json;
use slicer_emulator::{Auth, EmulatorConfig};
use tokio::net::TcpStream;

#[tokio::test]
async fn healthz_and_metrics_are_open() {
    let (_emulator, api) = start_default().await;
    let anon = api.with_authorization(None);

    let health = anon.get("/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    assert!(
        health.content_type().starts_with("text/plain"),
        "{}",
        health.content_type()
    );

    let head = anon.head("/healthz").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let metrics = anon.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.is_empty());
}

#[tokio::test]
async fn protected_endpoints_need_the_bearer_token() {
    let (emulator, api) = start_default().await;
    let token = emulator.token().expect("auth is on by default").to_owned();
    assert_eq!(
        std::fs::read_to_string(emulator.token_file().unwrap())
            .unwrap()
            .trim(),
        token
    );

    for (auth, why) in [
        (None, "missing"),
        (Some("Bearer".to_owned()), "missing"),
        (Some("Bearer ".to_owned()), "missing"),
        (Some(format!("Basic {token}")), "missing"),
        (Some(format!("Bearer {token}x")), "invalid"),
        (Some("Bearer wrong".to_owned()), "invalid"),
    ] {
        for path in ["/info", "/nodes", "/hostgroup", "/secrets", "/vm/sbox-1"] {
            let reply = api.with_authorization(auth.as_deref()).get(path).await;
            let message = reply.expect_error(401);
            assert!(message.contains(why), "{auth:?} {path}: {message}");
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
        }
    }
    let reply = api
        .with_authorization(None)
        .post("/hostgroup/sbox/nodes", json!({}))
        .await;
    reply.expect_error(401);
    assert_eq!(api.get("/nodes").await.status, 200);
    assert_eq!(
        api.with_authorization(Some(&format!("bearer {token}")))
            .get("/nodes")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn no_auth_mode_opens_everything() {
    let (emulator, api) = start(EmulatorConfig {
        auth: Auth::Disabled,
        ..Default::default()
    })
    .await;
    assert!(emulator.token().is_none() && emulator.token_file().is_none());
    assert!(!emulator.data_dir().join("token").exists());
    assert_eq!(api.with_authorization(None).get("/info").await.status, 200);
    assert_eq!(
        api.with_authorization(Some("Bearer anything"))
            .get("/nodes")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn explicit_token() {
    let (emulator, api) = start(EmulatorConfig {
        auth: Auth::Token("s3cret".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(emulator.token(), Some("s3cret"));
    assert_eq!(
        api.with_authorization(Some("Bearer s3cret"))
            .get("/info")
            .await
            .status,
        200
    );
    api.with_authorization(Some("Bearer s3cre"))
        .get("/info")
        .await
        .expect_error(401);
}

#[tokio::test]
async fn info_reports_version_platform_and_arch() {
    let (_emulator, api) = start_default().await;
    let info = api.get("/info").await.expect_json(200);
    assert!(
        info["version"].as_str().unwrap().ends_with("-emulator"),
        "{info}"
    );
    assert!(info["git_commit"].is_string());
    assert_eq!(info["platform"], "linux");
    let expected = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(info["arch"], expected);
}

#[tokio::test]
async fn routing_misses_are_plain_404_and_wrong_methods_405() {
    let (_emulator, api) = start_default().await;
    for path in [
        "/nodes/",
        "//nodes",
        "/hostgroup/",
        "/hostgroup//nodes",
        "/vm//tags",
        "/vm/sbox-1/",
        "/nope",
        "/secrets/",
        "/hostgroup/sbox/nodes%3Ftag=a",
    ] {
        for auth in [api.authorization.as_deref(), None] {
            let reply = api.with_authorization(auth).get(path).await;
            assert_eq!(reply.status, 404, "{path}");
            assert_eq!(reply.text(), "404 page not found\n", "{path}");
            assert!(reply.content_type().starts_with("text/plain"), "{path}");
        }
    }
    for (method, path) in [
        ("DELETE", "/nodes"),
        ("POST", "/nodes"),
        ("GET", "/vm/sbox-1/pause"),
        ("PUT", "/secrets"),
        ("POST", "/secrets/x"),
        ("GET", "/hostgroup/sbox/nodes/sbox-1"),
        ("POST", "/healthz"),
    ] {
        let reply = api.send(method, path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
        assert_eq!(reply.text(), "405 method not allowed\n", "{method} {path}");
    }
}

#[tokio::test]
async fn chunked_bodies_are_accepted() {
    let (emulator, api) = start_default().await;
    let slicer_emulator::Listen::Tcp(addr) = emulator.local_addr().clone() else {
        unreachable!()
    };
    let body = r#"{"name":"chunky","data":"aGk="}"#;
    let (first, second) = body.split_at(10);
    let request = format!(
        "POST /secrets HTTP/1.1\r\nHost: localhost\r\n{}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        format_args!("Authorization: {}", api.authorization.as_deref().unwrap()),
        first.len(),
        second.len(),
    );
    let response = raw_request(TcpStream::connect(addr).await.unwrap(), &request).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let secrets = api.get("/secrets").await.expect_json(200);
    assert_eq!(secrets[0]["name"], "chunky");
    assert_eq!(secrets[0]["size"], 2);
}

#[tokio::test]
async fn shutdown_removes_the_temporary_data_dir() {
    let (emulator, api) = start_default().await;
    let dir = emulator.data_dir().to_owned();
    api.create_vm("sbox", json!({})).await;
    assert!(dir.join("vms/sbox-1/root").is_dir());
    emulator.shutdown().await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_kept_data_dir_keeps_secrets_and_token_but_not_vms() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let (emulator, api) = start(config.clone()).await;
    let token = emulator.token().unwrap().to_owned();
    api.create_vm("sbox", json!({})).await;
    api.post("/secrets", json!({"name": "kept", "data": ""}))
        .await
        .expect_json(201);
    emulator.shutdown().await.unwrap();
    assert!(dir.path().join("secrets/kept").is_file());
    assert!(!dir.path().join("vms").exists());

    let (emulator, api) = start(config).await;
    assert_eq!(
        emulator.token(),
        Some(token.as_str()),
        "the generated token is reused"
    );
    assert_eq!(
        api.get("/secrets").await.expect_json(200)[0]["name"],
        "kept"
    );
    assert_eq!(api.get("/nodes").await.expect_json(200), json!([]));
    drop(emulator);
    assert!(dir.path().exists());
}

#[tokio::test]
async fn invalid_configurations_are_rejected() {
    let dup = EmulatorConfig {
        host_groups: vec![
            slicer_emulator::host_group("a"),
            slicer_emulator::host_group("a"),
        ],
        ..Default::default()
    };
    let err = slicer_emulator::Emulator::start(dup).await.unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");

    let missing = EmulatorConfig {
        auth: Auth::TokenFile("/nonexistent/token".into()),
        ..Default::default()
    };
    let err = slicer_emulator::Emulator::start(missing).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/token"), "{err}");

    let (running, _api) = start_default().await;
    let slicer_emulator::Listen::Tcp(addr) = running.local_addr().clone() else {
        unreachable!()
    };
    let clash = EmulatorConfig {
        listen: slicer_emulator::Listen::Tcp(addr),
        ..Default::default()
    };
    let err = slicer_emulator::Emulator::start(clash).await.unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
