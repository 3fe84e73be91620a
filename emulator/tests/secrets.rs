//! `/secrets`: files on disk with their mode and owner, and every error path.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::start_default;
use serde_json::json;
use slicer_core::Secret;

/// Whether this process may give files away (as root).
fn running_as_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn list(value: serde_json::Value) -> Vec<Secret> {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn create_is_stored_as_a_private_file() {
    let (emulator, api) = start_default().await;
    let reply = api
        .post(
            "/secrets",
            json!({"name": "api-key", "data": "bXktYXBpLWtleQo="}),
        )
        .await;
    let created: Secret = serde_json::from_value(reply.expect_json(201)).unwrap();
    assert_eq!(
        (
            created.name.as_str(),
            created.size,
            created.permissions.as_str()
        ),
        ("api-key", 11, "0600")
    );

    let path = emulator.data_dir().join("secrets/api-key");
    assert_eq!(fs::read(&path).unwrap(), b"my-api-key\n");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    let listed = api.get("/secrets").await.expect_json(200);
    assert!(
        listed[0].get("data").is_none(),
        "values are never returned: {listed}"
    );
    assert!(listed[0]["modified_at"].is_string());
    let listed = list(listed);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].uid, listed[0].gid), (meta.uid(), meta.gid()));
    assert!(listed[0].modified_at.is_some());
    if running_as_root() {
        assert_eq!((meta.uid(), meta.gid()), (0, 0));
    }
}

#[tokio::test]
async fn mode_and_owner_are_applied() {
    let (emulator, api) = start_default().await;
    let body = json!({"name": "cfg", "data": "", "permissions": "0640", "uid": 1000, "gid": 1001});
    let created: Secret =
        serde_json::from_value(api.post("/secrets", body).await.expect_json(201)).unwrap();
    assert_eq!((created.size, created.permissions.as_str()), (0, "0640"));
    let meta = fs::metadata(emulator.data_dir().join("secrets/cfg")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    if running_as_root() {
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        assert_eq!((created.uid, created.gid), (1000, 1001));
    }
}

#[tokio::test]
async fn create_errors() {
    let (emulator, api) = start_default().await;
    api.post("/secrets", json!({"name": "dup", "data": "YQ=="}))
        .await
        .expect_json(201);
    let msg = api
        .post("/secrets", json!({"name": "dup", "data": "Yg=="}))
        .await
        .expect_error(409);
    assert!(msg.contains("exists"), "{msg}");
    assert_eq!(
        fs::read(emulator.data_dir().join("secrets/dup")).unwrap(),
        b"a",
        "unchanged"
    );

    for (body, word) in [
        (json!({"name": "k", "data": "not base64!"}), "base64"),
        (json!({"name": "k", "data": "YQ"}), "base64"),
        (
            json!({"name": "k", "data": "YQ==", "permissions": "999"}),
            "permissions",
        ),
        (
            json!({"name": "k", "data": "YQ==", "permissions": "rw-------"}),
            "permissions",
        ),
        (json!({"name": "a/b", "data": ""}), "name"),
        (json!({"name": "..", "data": ""}), "name"),
        (json!({"name": ".", "data": ""}), "name"),
        (json!({"name": "", "data": ""}), "name"),
        (json!({"data": ""}), "name"),
        (json!({"name": "k", "data": "", "uid": -1}), "JSON"),
    ] {
        let msg = api.post("/secrets", body.clone()).await.expect_error(400);
        assert!(msg.contains(word), "{body}: {msg}");
    }
    api.send("POST", "/secrets", None).await.expect_error(400);
    let names: Vec<String> = list(api.get("/secrets").await.json())
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["dup"]);
    let staging = emulator.data_dir().join(".secrets-staging");
    assert_eq!(
        fs::read_dir(staging).unwrap().count(),
        0,
        "no half-written files"
    );
}

#[tokio::test]
async fn update_and_delete() {
    let (emulator, api) = start_default().await;
    let path = emulator.data_dir().join("secrets/token");
    api.post("/secrets", json!({"name": "token", "data": "b2xk"}))
        .await
        .expect_json(201);

    // Empty data leaves the value alone; other fields still apply.
    let reply = api
        .patch("/secrets/token", json!({"data": "", "permissions": "0400"}))
        .await;
    let updated: Secret = serde_json::from_value(reply.expect_json(200)).unwrap();
    assert_eq!((updated.size, updated.permissions.as_str()), (3, "0400"));
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o400
    );

    let reply = api
        .patch("/secrets/token", json!({"data": "bmV3ZXI="}))
        .await;
    let updated: Secret = serde_json::from_value(reply.expect_json(200)).unwrap();
    assert_eq!(
        (updated.size, updated.permissions.as_str()),
        (5, "0400"),
        "mode is kept"
    );
    assert_eq!(fs::read(&path).unwrap(), b"newer");

    api.patch("/secrets/token", json!({"data": "%%%"}))
        .await
        .expect_error(400);
    api.patch("/secrets/token", json!({"permissions": "8"}))
        .await
        .expect_error(400);
    assert_eq!(fs::read(&path).unwrap(), b"newer");
    api.patch("/secrets/missing", json!({"data": "YQ=="}))
        .await
        .expect_error(404);
    api.patch("/secrets/..", json!({"data": ""}))
        .await
        .expect_error(400);

    let reply = api.delete("/secrets/token").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(!path.exists());
    api.delete("/secrets/token").await.expect_error(404);
    assert_eq!(api.get("/secrets").await.expect_json(200), json!([]));
}

#[tokio::test]
async fn names_are_percent_decoded_in_paths() {
    let (emulator, api) = start_default().await;
    api.post("/secrets", json!({"name": "my key", "data": "YQ=="}))
        .await
        .expect_json(201);
    assert!(emulator.data_dir().join("secrets/my key").exists());
    assert_eq!(
        api.patch("/secrets/my%20key", json!({"data": "Yg=="}))
            .await
            .status,
        200
    );
    api.delete("/secrets/a%2Fb").await.expect_error(400);
    assert_eq!(api.delete("/secrets/my%20key").await.status, 200);
}
