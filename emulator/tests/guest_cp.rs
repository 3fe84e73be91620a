//! `/vm/{h}/cp` in every generation and direction: destination rules,
//! modes and owners, archives as PROTOCOL §20 lays them out, excludes,
//! hostile paths and archives, and the legacy-agent refusals.

mod common;
mod guest_support;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use guest_support::{enc, send, Body, Guest, Streaming};
use serde_json::{json, Value};
use slicer_core::tar::{build_archive, read_archive, Entry, EntryKind};
use slicer_emulator::EmulatorConfig;
use tokio::sync::mpsc;

const OCTET: (&str, &str) = ("content-type", "application/octet-stream");
const TAR: (&str, &str) = ("content-type", "application/x-tar");

async fn upload(g: &Guest, query: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Streaming {
    send(
        &g.api,
        "POST",
        &g.path(&format!("/cp?{query}")),
        headers,
        Body::Bytes(body),
    )
    .await
}

async fn upload_ok(g: &Guest, query: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Value {
    let reply = upload(g, query, headers, body).await;
    let status = reply.status;
    let answer = reply.text().await;
    assert_eq!(status, 200, "{query}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

async fn download(g: &Guest, query: &str, headers: &[(&str, &str)]) -> Streaming {
    send(
        &g.api,
        "GET",
        &g.path(&format!("/cp?{query}")),
        headers,
        Body::Empty,
    )
    .await
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn name_header(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// A ustar entry built by hand, so names the core writer refuses can be sent.
fn raw_entry(name: &str, typeflag: u8, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], data.len() as u64);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn raw_archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[tokio::test]
async fn binary_uploads_and_downloads_g0_g1() {
    let g = Guest::default().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let answer = upload_ok(
        &g,
        "path=~%2Fbin%2Ftool&mode=binary&permissions=0755&uid=1000&gid=1000",
        &[OCTET],
        bytes.clone(),
    )
    .await;
    assert_eq!(answer["path"], "/home/ubuntu/bin/tool");
    let tool = g.root.join("home/ubuntu/bin/tool");
    assert_eq!(std::fs::read(&tool).unwrap(), bytes);
    assert_eq!(mode_of(&tool), 0o755);
    let meta = std::fs::metadata(&tool).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    assert_eq!(
        std::fs::metadata(tool.parent().unwrap()).unwrap().uid(),
        1000,
        "parents created for the owner"
    );
    // No temporary files are left beside it.
    assert_eq!(
        std::fs::read_dir(tool.parent().unwrap()).unwrap().count(),
        1
    );

    // Replacing keeps the mode when none is given.
    upload_ok(
        &g,
        "path=%2Fhome%2Fubuntu%2Fbin%2Ftool",
        &[OCTET],
        b"v2".to_vec(),
    )
    .await;
    assert_eq!(std::fs::read(&tool).unwrap(), b"v2");
    assert_eq!(mode_of(&tool), 0o755);

    // G0: no mode, the content type decides; root ownership when asked.
    upload_ok(&g, "path=%2Ftmp%2Fg0&uid=0&gid=0", &[OCTET], b"g0".to_vec()).await;
    let g0 = std::fs::metadata(g.root.join("tmp/g0")).unwrap();
    assert_eq!((g0.uid(), g0.mode() & 0o777), (0, 0o644));

    for query in ["path=~%2Fbin%2Ftool&mode=binary", "path=~%2Fbin%2Ftool"] {
        let reply = download(&g, query, &[("accept", "application/octet-stream")]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-slicer-file-mode").as_deref(), Some("0755"));
        assert_eq!(reply.header("content-length").as_deref(), Some("2"));
        assert!(
            reply.header("x-slicer-source-type").is_none(),
            "no cp-v1 headers in G0/G1"
        );
        assert_eq!(reply.bytes().await, b"v2");
    }
    let msg = download(&g, "path=~%2Fbin&mode=binary", &[])
        .await
        .error(400)
        .await;
    assert!(msg.contains("must specify a file not a directory"), "{msg}");
    let msg = upload(&g, "path=~%2Fbin&mode=binary", &[OCTET], b"x".to_vec())
        .await
        .error(400)
        .await;
    assert!(msg.contains("directory"), "{msg}");
    download(&g, "path=%2Fnone&mode=binary", &[])
        .await
        .error(404)
        .await;

    // A chunked body works as well as one with Content-Length.
    let (tx, rx) = mpsc::channel(4);
    let route = g.path("/cp?path=%2Ftmp%2Fchunked&mode=binary");
    let pending = send(&g.api, "POST", &route, &[OCTET], Body::Stream(rx));
    let writer = async {
        for part in [&b"ab"[..], b"cd", b"ef"] {
            tx.send(part.to_vec()).await.unwrap();
        }
        drop(tx);
    };
    let (reply, ()) = tokio::join!(pending, writer);
    assert_eq!(reply.status, 200);
    assert_eq!(
        std::fs::read(g.root.join("tmp/chunked")).unwrap(),
        b"abcdef"
    );
}

#[tokio::test]
async fn tar_uploads_follow_the_extraction_rules() {
    let g = Guest::default().await;
    let archive = build_archive(&[
        Entry::directory("css")
            .with_mode(0o750)
            .with_mtime(1_600_000_000),
        Entry::file("css/app.css", "h1{}").with_mtime(1_600_000_100),
        Entry::file("run.sh", "#!/bin/sh\n").with_mode(0o744),
        Entry::file("index.html", "<h1>hi</h1>").with_mode(0o4644),
    ])
    .unwrap();
    let answer = upload_ok(&g, "path=%2Fsrv%2Fsite&mode=tar", &[TAR], archive.clone()).await;
    assert_eq!(answer["path"], "/srv/site");
    let site = g.root.join("srv/site");
    assert_eq!(
        std::fs::read_to_string(site.join("css/app.css")).unwrap(),
        "h1{}"
    );
    assert_eq!(mode_of(&site.join("css")), 0o750);
    assert_eq!(
        mode_of(&site.join("run.sh")),
        0o755,
        "any execute bit gives all three"
    );
    assert_eq!(
        mode_of(&site.join("index.html")),
        0o644,
        "setuid is dropped"
    );
    assert_eq!(
        std::fs::metadata(site.join("css/app.css")).unwrap().mtime(),
        1_600_000_100
    );
    assert_eq!(
        std::fs::metadata(site.join("css")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(std::fs::metadata(site.join("run.sh")).unwrap().uid(), 1000);
    let leftovers: Vec<_> = std::fs::read_dir(g.root.join("srv"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["site"], "no staging directory remains");

    // G0 into an existing directory merges: replaced, kept, and a planted
    // symlink is replaced rather than written through.
    std::fs::write(site.join("keep.txt"), "kept").unwrap();
    std::fs::write(g.root.join("tmp/target"), "untouched").unwrap();
    std::fs::remove_file(site.join("index.html")).unwrap();
    symlink("/tmp/target", site.join("index.html")).unwrap();
    let update = build_archive(&[
        Entry::file("index.html", "v2"),
        Entry::file("css/new.css", "new"),
    ])
    .unwrap();
    upload_ok(&g, "path=%2Fsrv%2Fsite", &[TAR], update).await;
    assert_eq!(
        std::fs::read_to_string(site.join("index.html")).unwrap(),
        "v2"
    );
    assert!(!std::fs::symlink_metadata(site.join("index.html"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(g.root.join("tmp/target")).unwrap(),
        "untouched"
    );
    assert_eq!(
        std::fs::read_to_string(site.join("keep.txt")).unwrap(),
        "kept"
    );
    assert!(site.join("css/app.css").exists() && site.join("css/new.css").exists());

    // permissions apply to files; excludes skip entries and whole trees;
    // later duplicates win; links and other types are skipped.
    let mixed = raw_archive(&[
        raw_entry("dup", b'0', b"first"),
        raw_entry("dup", b'0', b"second"),
        raw_entry("link", b'2', b""),
        raw_entry("skip.log", b'0', b"log"),
        raw_entry("cache/", b'5', b""),
        raw_entry("cache/x", b'0', b"x"),
        raw_entry("kept", b'0', b"k"),
    ]);
    upload_ok(
        &g,
        "path=%2Ftmp%2Fmixed&mode=tar&permissions=0600&exclude=*.log&exclude=cache%2F",
        &[TAR],
        mixed,
    )
    .await;
    let mixed = g.root.join("tmp/mixed");
    let mut names: Vec<String> = std::fs::read_dir(&mixed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dup", "kept"]);
    assert_eq!(
        std::fs::read_to_string(mixed.join("dup")).unwrap(),
        "second"
    );
    assert_eq!(mode_of(&mixed.join("kept")), 0o600);

    let msg = upload(
        &g,
        "path=%2Fetc%2Fhostname&mode=tar",
        &[TAR],
        build_archive(&[]).unwrap(),
    )
    .await
    .error(400)
    .await;
    assert!(msg.contains("not a directory"), "{msg}");
}

#[tokio::test]
async fn cp_v1_upload_destination_rules() {
    let g = Guest::default().await;
    std::fs::create_dir_all(g.root.join("srv")).unwrap();
    let v1 = "copy_semantics=cp-v1";
    // File: into an existing directory, over an existing file, to a new
    // path; a missing directory named with a trailing slash is an error.
    upload_ok(
        &g,
        &format!("{v1}&mode=cp-v1-binary&path=%2Fsrv&source_name=tool&source_type=file"),
        &[OCTET],
        b"1".to_vec(),
    )
    .await;
    assert_eq!(std::fs::read(g.root.join("srv/tool")).unwrap(), b"1");
    upload_ok(
        &g,
        &format!("{v1}&mode=cp-v1-binary&path=%2Fsrv%2Ftool&source_name=other&source_type=file"),
        &[OCTET],
        b"2".to_vec(),
    )
    .await;
    assert_eq!(std::fs::read(g.root.join("srv/tool")).unwrap(), b"2");
    upload_ok(
        &g,
        &format!("{v1}&mode=cp-v1-binary&path=%2Fsrv%2Fnew%2Fname&source_name=x&source_type=file"),
        &[OCTET],
        b"3".to_vec(),
    )
    .await;
    assert_eq!(std::fs::read(g.root.join("srv/new/name")).unwrap(), b"3");
    let msg = upload(
        &g,
        &format!("{v1}&mode=cp-v1-binary&path=%2Fsrv%2Fmissing%2F&source_name=x&source_type=file"),
        &[OCTET],
        b"4".to_vec(),
    )
    .await
    .error(400)
    .await;
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(!g.root.join("srv/missing").exists());

    // Directory: existing non-directory fails; contents go into an existing
    // directory; otherwise a directory named after the source; a missing
    // destination is created.
    let site = build_archive(&[
        Entry::file("index.html", "hi"),
        Entry::file("css/app.css", "c"),
    ])
    .unwrap();
    let tar = |path: &str, extra: &str| {
        format!(
            "{v1}&mode=cp-v1-tar&path={}&source_name=site&source_type=directory{extra}",
            enc(path)
        )
    };
    let msg = upload(&g, &tar("/srv/tool", ""), &[TAR], site.clone())
        .await
        .error(400)
        .await;
    assert!(msg.contains("not a directory"), "{msg}");
    upload_ok(&g, &tar("/srv", ""), &[TAR], site.clone()).await;
    assert!(g.root.join("srv/site/css/app.css").exists());
    std::fs::create_dir(g.root.join("srv/flat")).unwrap();
    upload_ok(
        &g,
        &tar("/srv/flat", "&copy_contents=true"),
        &[TAR],
        site.clone(),
    )
    .await;
    assert!(g.root.join("srv/flat/index.html").exists() && !g.root.join("srv/flat/site").exists());
    upload_ok(&g, &tar("/srv/fresh/deep", ""), &[TAR], site.clone()).await;
    assert!(g.root.join("srv/fresh/deep/index.html").exists());
    let answer = upload_ok(
        &g,
        &format!("{v1}&mode=cp-v1-tar&path=~&copy_contents=true&source_type=directory"),
        &[TAR],
        site.clone(),
    )
    .await;
    assert_eq!(answer["path"], "/home/ubuntu");
    assert!(g.root.join("home/ubuntu/index.html").exists());

    for (query, word) in [
        (
            format!("{v1}&mode=cp-v1-binary&path=%2Fsrv&source_name=a&source_type=directory"),
            "source_type",
        ),
        (
            format!("{v1}&mode=cp-v1-tar&path=%2Fsrv&source_name=a%2Fb&source_type=directory"),
            "source_name",
        ),
        (
            format!("{v1}&mode=cp-v1-tar&path=%2Fsrv&source_type=directory"),
            "source_name",
        ),
        (
            format!("{v1}&mode=cp-v1-recursive&path=%2Fsrv&source_name=a"),
            "downloads",
        ),
        ("mode=zip&path=%2Fsrv".to_owned(), "invalid mode: zip"),
        ("mode=binary".to_owned(), "path"),
    ] {
        let msg = upload(&g, &query, &[OCTET], b"x".to_vec())
            .await
            .error(400)
            .await;
        assert!(msg.contains(word), "{query}: {msg}");
    }
}

/// Reads the 12-byte octal size field of every header in a tar stream.
fn header_sizes(tar: &[u8]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let h = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_owned();
        let size_text = String::from_utf8_lossy(&h[124..136]);
        let size = u64::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .unwrap();
        out.push((name, size));
        at += 512
            + (if h[156] == b'5' {
                0
            } else {
                size.div_ceil(512) * 512
            }) as usize;
    }
    out
}

#[tokio::test]
async fn downloads_in_every_generation() {
    let g = Guest::default().await;
    let dir = g.root.join("home/ubuntu/proj");
    std::fs::create_dir_all(dir.join("src/nested")).unwrap();
    std::fs::create_dir_all(dir.join("skip/inner")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}").unwrap();
    std::fs::write(dir.join("src/nested/x.tmp"), "tmp").unwrap();
    std::fs::write(dir.join("skip/inner/y"), "y").unwrap();
    std::fs::write(dir.join("README"), "read me").unwrap();
    std::fs::set_permissions(dir.join("README"), std::fs::Permissions::from_mode(0o744)).unwrap();
    symlink("/etc/hostname", dir.join("link")).unwrap();
    std::fs::write(g.root.join("tmp/my file é.txt"), "data").unwrap();

    // cp-v1 binary: the file plus its type and base64url name.
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-binary&path=%2Ftmp%2Fmy+file+%C3%A9.txt",
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("x-slicer-source-type").as_deref(),
        Some("file")
    );
    assert_eq!(
        reply.header("x-slicer-source-name-base64"),
        Some(name_header("my file é.txt"))
    );
    assert_eq!(reply.header("x-slicer-file-mode").as_deref(), Some("0644"));
    assert_eq!(reply.bytes().await, b"data");

    // cp-v1 tar: names relative to the directory, sorted, directories first
    // with size 0, symlinks left out, excludes applied.
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-tar&path=~%2Fproj&exclude=*.tmp&exclude=skip%2F**",
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/x-tar")
    );
    assert_eq!(
        reply.header("x-slicer-source-type").as_deref(),
        Some("directory")
    );
    assert_eq!(
        reply.header("x-slicer-source-name-base64"),
        Some(name_header("proj"))
    );
    let tar = reply.bytes().await;
    let sizes = header_sizes(&tar);
    assert_eq!(
        sizes,
        [
            ("README".to_owned(), 7),
            ("src/".to_owned(), 0),
            ("src/main.rs".to_owned(), 12),
            ("src/nested/".to_owned(), 0)
        ]
    );
    let entries = read_archive(&tar).unwrap();
    assert_eq!(entries[0].mode, 0o755);
    assert_eq!(entries[1].kind, EntryKind::Directory);
    assert_eq!(entries[2].data, b"fn main() {}");
    assert_eq!(
        entries[2].mtime,
        std::fs::metadata(dir.join("src/main.rs")).unwrap().mtime()
    );

    // Recursive answers whichever the path is.
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-recursive&path=~%2Fproj%2FREADME",
        &[],
    )
    .await;
    assert_eq!(
        reply.header("x-slicer-source-type").as_deref(),
        Some("file")
    );
    assert_eq!(reply.bytes().await, b"read me");
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-recursive&path=~%2Fproj%2Fsrc",
        &[],
    )
    .await;
    assert_eq!(
        reply.header("x-slicer-source-type").as_deref(),
        Some("directory")
    );
    assert_eq!(read_archive(&reply.bytes().await).unwrap().len(), 3);
    // Contents of a directory carry no name.
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-tar&path=~%2Fproj%2F.",
        &[],
    )
    .await;
    assert_eq!(
        reply.header("x-slicer-source-name-base64").as_deref(),
        Some("")
    );
    // A symlink to a file downloads the file under the link's name.
    let reply = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-binary&path=~%2Fproj%2Flink",
        &[],
    )
    .await;
    assert_eq!(
        reply.header("x-slicer-source-name-base64"),
        Some(name_header("link"))
    );
    assert_eq!(reply.bytes().await, format!("{}\n", g.host).as_bytes());

    // Kinds that contradict the mode.
    let msg = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-tar&path=~%2Fproj%2FREADME",
        &[],
    )
    .await
    .error(400)
    .await;
    assert!(msg.contains("not a directory"), "{msg}");
    let msg = download(
        &g,
        "copy_semantics=cp-v1&mode=cp-v1-binary&path=~%2Fproj",
        &[],
    )
    .await
    .error(400)
    .await;
    assert!(msg.contains("must specify a file not a directory"), "{msg}");

    // G1 and G0 tar downloads: same archive, no cp-v1 headers.
    let g1 = download(&g, "mode=tar&path=~%2Fproj%2Fsrc", &[]).await;
    assert!(g1.header("x-slicer-source-type").is_none());
    let g1 = g1.bytes().await;
    let g0 = download(
        &g,
        "path=~%2Fproj%2Fsrc",
        &[("accept", "application/x-tar")],
    )
    .await
    .bytes()
    .await;
    assert_eq!(read_archive(&g1).unwrap(), read_archive(&g0).unwrap());
}

#[tokio::test]
async fn hostile_paths_and_archives_write_nothing_outside() {
    let g = Guest::default().await;
    let outside = g.emulator.data_dir().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let home = g.root.join("home/ubuntu");
    symlink("../../../../../../..", home.join("up")).unwrap();
    symlink(&outside, home.join("abs")).unwrap();
    std::fs::create_dir(home.join("dest")).unwrap();
    symlink(&outside, home.join("dest/linked")).unwrap();

    // Bad names fail the whole extraction, and nothing at all is written.
    for name in ["../evil.txt", "/etc/evil", "a/../../evil", "./x"] {
        let archive = raw_archive(&[
            raw_entry("good.txt", b'0', b"ok"),
            raw_entry(name, b'0', b"bad"),
        ]);
        let msg = upload(&g, "path=~%2Fnew-dest&mode=tar", &[TAR], archive.clone())
            .await
            .error(400)
            .await;
        assert!(msg.contains("invalid tar"), "{name}: {msg}");
        assert!(!home.join("new-dest").exists(), "{name}: nothing written");
        let msg = upload(&g, "path=~%2Fdest&mode=tar", &[TAR], archive)
            .await
            .error(400)
            .await;
        assert!(msg.contains("invalid tar"), "{msg}");
        assert!(!home.join("dest/good.txt").exists());
    }
    // An existing symlink in the destination is not followed.
    let archive = build_archive(&[Entry::file("linked/x", "bad")]).unwrap();
    let msg = upload(&g, "path=~%2Fdest&mode=tar", &[TAR], archive)
        .await
        .error(400)
        .await;
    assert!(msg.contains("symbolic link"), "{msg}");
    let names: Vec<_> = std::fs::read_dir(home.join("dest"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["linked"], "no staging left behind");

    // Destinations through a climbing link are refused; through an absolute
    // link they land inside the VM.
    let msg = upload(&g, "path=~%2Fup%2Fx&mode=binary", &[OCTET], b"bad".to_vec())
        .await
        .error(400)
        .await;
    assert!(msg.contains("outside"), "{msg}");
    let msg = upload(
        &g,
        "path=~%2Fup%2Fd&mode=tar",
        &[TAR],
        build_archive(&[Entry::file("f", "x")]).unwrap(),
    )
    .await
    .error(400)
    .await;
    assert!(msg.contains("outside"), "{msg}");
    let answer = upload_ok(
        &g,
        "path=~%2Fabs%2Ffile&mode=binary",
        &[OCTET],
        b"inside".to_vec(),
    )
    .await;
    let landed = g
        .root
        .join(answer["path"].as_str().unwrap().trim_start_matches('/'));
    assert_eq!(std::fs::read(&landed).unwrap(), b"inside");
    assert!(landed.starts_with(&g.root));
    for path in ["/home/../etc/x", "..%2Fx"] {
        upload(
            &g,
            &format!("path={path}&mode=binary"),
            &[OCTET],
            b"bad".to_vec(),
        )
        .await
        .error(400)
        .await;
    }
    upload(
        &g,
        "path=%2Fusr%2Flocal%2Fbin%2Fx&mode=binary",
        &[OCTET],
        b"bad".to_vec(),
    )
    .await
    .error(400)
    .await;
    download(&g, "path=~%2Fup%2Fetc%2Fpasswd&mode=binary", &[])
        .await
        .error(400)
        .await;
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written outside the VM"
    );
}

#[tokio::test]
async fn sizes_modes_and_vm_states() {
    let g = Guest::default().await;
    let archive = build_archive(&[Entry::file("f", "x")]).unwrap();
    let msg = upload(
        &g,
        "path=%2Ftmp%2Fbig&mode=tar",
        &[TAR, ("x-slicer-unpacked-size", "999999999999999999")],
        archive.clone(),
    )
    .await
    .error(413)
    .await;
    assert!(msg.contains("free"), "{msg}");
    upload(
        &g,
        "path=%2Ftmp%2Fbig&mode=tar",
        &[TAR, ("x-slicer-unpacked-size", "lots")],
        archive.clone(),
    )
    .await
    .error(400)
    .await;
    upload_ok(
        &g,
        "path=%2Ftmp%2Fsmall&mode=tar",
        &[TAR, ("x-slicer-unpacked-size", "1")],
        archive.clone(),
    )
    .await;
    upload(
        &g,
        "path=%2Ftmp%2Fp&mode=binary&permissions=rwx",
        &[OCTET],
        vec![],
    )
    .await
    .error(400)
    .await;
    download(&g, "path=%2Ftmp&mode=tar&exclude=%5Bz", &[])
        .await
        .error(400)
        .await;

    send(
        &g.api,
        "GET",
        "/vm/nope-3/cp?path=%2Ftmp&mode=tar",
        &[],
        Body::Empty,
    )
    .await
    .error(404)
    .await;
    g.power("pause").await;
    download(&g, "path=%2Ftmp&mode=tar", &[])
        .await
        .error(409)
        .await;
    upload(&g, "path=%2Ftmp%2Fx&mode=binary", &[OCTET], b"x".to_vec())
        .await
        .error(409)
        .await;
}

#[tokio::test]
async fn legacy_agents_refuse_cp_v1_exactly() {
    let g = Guest::start(EmulatorConfig {
        agent_boot_delay: Duration::from_millis(20),
        legacy_agent: true,
        ..Default::default()
    })
    .await;
    std::fs::create_dir_all(g.root.join("srv/dir")).unwrap();
    for mode in ["cp-v1-binary", "cp-v1-tar"] {
        let reply = upload(
            &g,
            &format!("copy_semantics=cp-v1&mode={mode}&path=%2Fsrv&source_name=a&source_type=file"),
            &[OCTET],
            b"x".to_vec(),
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.json().await,
            json!({"error": format!("cp produced an unexpected error: 400: invalid mode: {mode}")})
        );
    }
    for mode in ["cp-v1-binary", "cp-v1-tar", "cp-v1-recursive"] {
        let reply = download(
            &g,
            &format!("copy_semantics=cp-v1&mode={mode}&path=%2Fsrv"),
            &[],
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.json().await,
            json!({"error": format!("cp produced an unexpected error: 400: invalid mode: {mode}")})
        );
    }
    // A refusal reaches the client intact even while a large body is still
    // being sent (the fallback must read it to retry).
    let (tx, rx) = mpsc::channel(2);
    let route = g.path(
        "/cp?copy_semantics=cp-v1&mode=cp-v1-tar&path=%2Fsrv&source_name=a&source_type=directory",
    );
    let feed = tokio::spawn(async move {
        for _ in 0..32 {
            if tx.send(vec![0u8; 1 << 20]).await.is_err() {
                return;
            }
        }
    });
    let reply = send(&g.api, "POST", &route, &[TAR], Body::Stream(rx)).await;
    let msg = reply.error(400).await;
    assert_eq!(
        msg,
        "cp produced an unexpected error: 400: invalid mode: cp-v1-tar"
    );
    feed.await.unwrap();

    // The legacy forms work, and a directory in binary mode says so in the
    // words the client's fallback looks for.
    upload_ok(
        &g,
        "mode=binary&path=%2Fsrv%2Ffile",
        &[OCTET],
        b"legacy".to_vec(),
    )
    .await;
    let msg = download(&g, "mode=binary&path=%2Fsrv%2Fdir", &[])
        .await
        .error(400)
        .await;
    assert!(msg.contains("must specify a file not a directory"), "{msg}");
    let tar = download(&g, "mode=tar&path=%2Fsrv", &[])
        .await
        .bytes()
        .await;
    let names: Vec<String> = read_archive(&tar)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(names, ["dir", "file"]);
}
