//! Serving on a UNIX socket.

mod common;

use common::{raw_request, start};
use serde_json::json;
use slicer_emulator::{Auth, Emulator, EmulatorConfig, Listen};
use tokio::net::UnixStream;

#[tokio::test]
async fn serves_http_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let (emulator, api) = start(EmulatorConfig {
        listen: Listen::Unix(socket.clone()),
        auth: Auth::Disabled,
        ..Default::default()
    })
    .await;
    assert_eq!(emulator.url(), socket.to_str().unwrap());
    assert_eq!(emulator.local_addr(), &Listen::Unix(socket.clone()));

    let response = raw_request(
        UnixStream::connect(&socket).await.unwrap(),
        "GET /healthz HTTP/1.1\r\nHost: unix\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\nOK"), "{response}");

    let response = raw_request(
        UnixStream::connect(&socket).await.unwrap(),
        "GET /hostgroup HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""name":"sbox""#), "{response}");

    let host = api.create_vm("sbox", json!({})).await;
    assert_eq!(api.get(&format!("/vm/{host}/health")).await.status, 200);

    emulator.shutdown().await.unwrap();
    assert!(!socket.exists(), "the socket file is removed");
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let config = EmulatorConfig {
        listen: Listen::Unix(socket.clone()),
        ..Default::default()
    };
    // A socket file nobody listens on, as a crash would leave.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let first = Emulator::start(config.clone()).await.unwrap();
    let err = Emulator::start(config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(first);
    assert!(!socket.exists());

    std::fs::write(&socket, "not a socket").unwrap();
    let err = Emulator::start(config).await.unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
}

#[tokio::test]
async fn token_auth_works_over_a_socket_too() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, api) = start(EmulatorConfig {
        listen: Listen::Unix(dir.path().join("auth.sock")),
        auth: Auth::Token("sock-token".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(emulator.token(), Some("sock-token"));
    assert_eq!(api.get("/nodes").await.status, 200);
    api.with_authorization(None)
        .get("/nodes")
        .await
        .expect_error(401);
}
