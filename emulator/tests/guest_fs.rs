//! Filesystem endpoints: readdir, stat, mkdir, remove, and paths that try to
//! leave the VM's root.

mod common;
mod guest_support;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use guest_support::{enc, send, Body, Guest};
use serde_json::{json, Value};
use slicer_core::fs::{FileType, FsEntry};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

async fn call(g: &Guest, method: &str, tail: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map_or(Body::Empty, |b| Body::Bytes(b.to_string().into_bytes()));
    let reply = send(&g.api, method, &g.path(tail), &[], body).await;
    let status = reply.status;
    (status, reply.json().await)
}

async fn stat(g: &Guest, path: &str) -> (u16, Value) {
    call(g, "GET", &format!("/fs/stat?path={}", enc(path)), None).await
}

async fn readdir(g: &Guest, path: &str) -> (u16, Value) {
    call(g, "GET", &format!("/fs/readdir?path={}", enc(path)), None).await
}

async fn mkdir(g: &Guest, body: Value) -> (u16, Value) {
    call(g, "POST", "/fs/mkdir", Some(body)).await
}

async fn remove(g: &Guest, path: &str, recursive: bool) -> (u16, Value) {
    call(
        g,
        "DELETE",
        &format!("/fs/remove?path={}&recursive={recursive}", enc(path)),
        None,
    )
    .await
}

#[tokio::test]
async fn stat_reports_lstat_facts() {
    let g = Guest::default().await;
    let (status, body) = stat(&g, "/etc/hostname").await;
    assert_eq!(status, 200, "{body}");
    let entry: FsEntry = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        (entry.name.as_str(), entry.file_type, entry.size),
        ("hostname", FileType::File, g.host.len() as u64 + 1)
    );
    assert_eq!(entry.mode, "0644");
    // mtime is RFC 3339 and matches the file's.
    let mtime = OffsetDateTime::parse(body["mtime"].as_str().unwrap(), &Rfc3339).unwrap();
    let host_mtime = std::fs::metadata(g.root.join("etc/hostname"))
        .unwrap()
        .mtime();
    assert_eq!(mtime.unix_timestamp(), host_mtime);

    let (_, home) = stat(&g, "~").await;
    assert_eq!(
        (
            home["name"].as_str(),
            home["type"].as_str(),
            home["mode"].as_str()
        ),
        (Some("ubuntu"), Some("directory"), Some("0755"))
    );
    let (_, root) = stat(&g, "/").await;
    assert_eq!(root["name"], "/");

    symlink("/etc/hostname", g.root.join("home/ubuntu/link")).unwrap();
    let (_, link) = stat(&g, "~/link").await;
    assert_eq!(link["type"], "symlink");
    let (status, _) = stat(&g, "/no/such").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn readdir_lists_names_with_types() {
    let g = Guest::default().await;
    let dir = g.root.join("home/ubuntu/d");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("b.txt"), "12345").unwrap();
    std::fs::write(dir.join("a.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("a.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("b.txt", dir.join("c-link")).unwrap();
    let (status, body) = readdir(&g, "~/d").await;
    assert_eq!(status, 200, "{body}");
    let entries: Vec<FsEntry> = serde_json::from_value(body).unwrap();
    let names: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.file_type.as_str(), e.mode.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a.sh", "file", "0755"),
            ("b.txt", "file", "0644"),
            ("c-link", "symlink", "0777"),
            ("sub", "directory", "0755")
        ]
    );
    assert_eq!(entries[1].size, 5);
    // A symlink to a directory is listed through.
    symlink("d", g.root.join("home/ubuntu/d-link")).unwrap();
    assert_eq!(readdir(&g, "~/d-link").await.1.as_array().unwrap().len(), 4);
    assert_eq!(readdir(&g, "~/d/b.txt").await.0, 400);
    assert_eq!(readdir(&g, "~/none").await.0, 404);
}

#[tokio::test]
async fn mkdir_with_and_without_recursive() {
    let g = Guest::default().await;
    let (status, _) = mkdir(
        &g,
        json!({"path": "~/a/b/c", "recursive": true, "mode": "0750"}),
    )
    .await;
    assert_eq!(status, 200);
    let made = std::fs::metadata(g.root.join("home/ubuntu/a/b/c")).unwrap();
    assert!(made.is_dir());
    assert_eq!(made.mode() & 0o777, 0o750);
    assert_eq!(
        (made.uid(), made.gid()),
        (1000, 1000),
        "owned by the default user"
    );
    assert_eq!(stat(&g, "~/a/b/c").await.1["mode"], "0750");
    // Again with recursive: fine; without: it exists.
    assert_eq!(
        mkdir(&g, json!({"path": "~/a/b/c", "recursive": true}))
            .await
            .0,
        200
    );
    let (status, body) = mkdir(&g, json!({"path": "~/a/b/c"})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("exists"), "{body}");
    let (status, body) = mkdir(&g, json!({"path": "/tmp/x/y"})).await;
    assert_eq!(status, 400);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("parent") && msg.contains("/tmp/x") && msg.contains("recursive"),
        "{msg}"
    );
    assert!(!g.root.join("tmp/x").exists());
    assert_eq!(mkdir(&g, json!({"path": "/tmp/x"})).await.0, 200);
    assert_eq!(
        std::fs::metadata(g.root.join("tmp/x")).unwrap().mode() & 0o777,
        0o755
    );
    for bad in [
        json!({}),
        json!({"path": "/tmp/q", "mode": "999"}),
        json!({"path": "/etc/hostname/x", "recursive": true}),
    ] {
        assert_eq!(mkdir(&g, bad.clone()).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn remove_files_links_and_trees() {
    let g = Guest::default().await;
    let base = g.root.join("home/ubuntu/t");
    std::fs::create_dir_all(base.join("full/deep")).unwrap();
    std::fs::write(base.join("full/deep/f"), "x").unwrap();
    std::fs::create_dir(base.join("empty")).unwrap();
    std::fs::write(base.join("file"), "x").unwrap();
    symlink(g.root.join("etc"), base.join("link-to-etc")).unwrap();

    assert_eq!(remove(&g, "~/t/file", false).await.0, 200);
    assert!(!base.join("file").exists());
    assert_eq!(remove(&g, "~/t/empty", false).await.0, 200);
    let (status, body) = remove(&g, "~/t/full", false).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not empty"),
        "{body}"
    );
    assert_eq!(remove(&g, "~/t/full", true).await.0, 200);
    assert!(!base.join("full").exists());
    // The link goes; what it points at stays.
    assert_eq!(remove(&g, "~/t/link-to-etc", true).await.0, 200);
    assert!(g.root.join("etc/hostname").exists());
    assert_eq!(remove(&g, "~/t/missing", false).await.0, 404);
    assert_eq!(remove(&g, "/", true).await.0, 400);
}

#[tokio::test]
async fn paths_cannot_leave_the_vm_root() {
    let g = Guest::default().await;
    let outside = g.emulator.data_dir().join("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::write(outside.join("secret"), "host").unwrap();
    let home = g.root.join("home/ubuntu");
    symlink("../../../../../..", home.join("up")).unwrap();
    symlink(&outside, home.join("abs")).unwrap();

    for path in ["/home/../etc", "../x", "~/a/../../b"] {
        let (status, body) = stat(&g, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(".."), "{body}");
    }
    // A relative link that climbs above the root is refused.
    for path in ["~/up", "~/up/etc", "~/up/tmp/new"] {
        assert_eq!(readdir(&g, path).await.0, 400, "{path}");
    }
    let (status, body) = mkdir(&g, json!({"path": "~/up/made-outside", "recursive": true})).await;
    assert_eq!(status, 400, "{body}");
    // An absolute link means the VM's own root: the host path does not exist
    // there, so nothing is found and nothing outside is touched.
    assert_eq!(stat(&g, "~/abs/secret").await.0, 404);
    assert_eq!(
        mkdir(&g, json!({"path": "~/abs/dir/new", "recursive": true}))
            .await
            .0,
        200
    );
    assert!(!outside.join("dir/new").exists());
    let inside = g
        .root
        .join(outside.strip_prefix("/").unwrap())
        .join("dir/new");
    assert!(
        inside.is_dir(),
        "created inside the VM at {}",
        inside.display()
    );
    assert_eq!(remove(&g, "~/abs/secret", false).await.0, 404);
    assert!(outside.join("secret").exists());
    // Host-provided directories are not the VM's.
    let (status, body) = stat(&g, "/usr/bin/env").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("/usr"), "{body}");
}

#[tokio::test]
async fn unknown_and_paused_vms() {
    let g = Guest::default().await;
    let reply = send(
        &g.api,
        "GET",
        "/vm/nope-9/fs/stat?path=%2F",
        &[],
        Body::Empty,
    )
    .await;
    reply.error(404).await;
    let reply = send(&g.api, "GET", &g.path("/fs/stat"), &[], Body::Empty).await;
    assert!(reply.error(400).await.contains("path"));
    g.power("pause").await;
    for (method, tail) in [
        ("GET", "/fs/stat?path=%2F"),
        ("GET", "/fs/readdir?path=%2F"),
        ("POST", "/fs/mkdir"),
        ("DELETE", "/fs/remove?path=%2Ftmp&recursive=false"),
    ] {
        let reply = send(&g.api, method, &g.path(tail), &[], Body::Empty).await;
        reply.error(409).await;
    }
}
