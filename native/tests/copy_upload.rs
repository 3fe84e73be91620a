//! `cp_to_vm` against scripted and probing transports: what is sent for
//! files, directories and contents, the legacy replay, refusals, local
//! failures, and that a large body streams in bounded chunks.

mod common;

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{scripted, write_file};
use futures_util::StreamExt as _;
use slicer::copy::{measure_tree, UNPACKED_SIZE_HEADER};
use slicer::tar::{EntryKind, Excludes, TarReader};
use slicer::{
    Body, ClientConfig, CopyExt as _, CopyGeneration, CopyMode, CopyOptions, Error, HttpTransport,
    ResponseBody, SlicerClient, SourceType, TransportError, TransportErrorKind,
};
use slicer_core::testing::{RecordedRequest, Scripted};

/// The entries of a tar body: name, kind, mode and content.
fn entries(body: &[u8]) -> Vec<(String, EntryKind, u32, Vec<u8>)> {
    let mut reader = TarReader::new(body);
    let mut out = Vec::new();
    while let Some(mut entry) = reader.next_entry().unwrap() {
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((
            entry.path_str().unwrap().to_owned(),
            entry.kind(),
            entry.mode(),
            data,
        ));
    }
    out
}

fn has(request: &RecordedRequest, pair: &str) -> bool {
    request.query().split('&').any(|p| p == pair)
}

#[tokio::test]
async fn a_file_is_streamed_as_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tool");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    write_file(&file, &data, 0o755);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let options = CopyOptions::new()
        .with_uid(1000)
        .with_gid(0)
        .with_permissions("0755")
        .with_progress(move |done, total| seen.lock().unwrap().push((done, total)));

    let (client, transport) = scripted([Scripted::status(200, "")]);
    let report = client
        .cp_to_vm("vm1", &file, "/home/ubuntu/bin/", &options)
        .await
        .unwrap();

    let request = transport.only_request();
    for pair in [
        "mode=cp-v1-binary",
        "copy_semantics=cp-v1",
        "source_type=file",
        "source_name=tool",
        "path=%2Fhome%2Fubuntu%2Fbin%2F",
        "uid=1000",
        "gid=0",
        "permissions=0755",
    ] {
        assert!(
            has(&request, pair),
            "{pair} missing from {}",
            request.query()
        );
    }
    assert!(!request.query().contains("copy_contents"));
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(request.body, data);

    assert_eq!(report.source_type, SourceType::File);
    assert_eq!(report.generation, CopyGeneration::CpV1);
    assert_eq!(report.bytes, data.len() as u64);
    assert_eq!(report.remote_path.as_deref(), Some("/home/ubuntu/bin/tool"));
    let calls = calls.lock().unwrap().clone();
    let total = Some(data.len() as u64);
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(data.len() as u64, total)));
}

fn sample_dir(root: &Path) {
    fs::create_dir_all(root.join("css")).unwrap();
    write_file(&root.join("index.html"), b"<h1>hi</h1>", 0o644);
    write_file(&root.join("css/app.css"), b"h1{}", 0o600);
    write_file(&root.join("run.sh"), b"#!/bin/sh\n", 0o744);
    write_file(&root.join("scratch.tmp"), b"not sent", 0o644);
    symlink("index.html", root.join("alias.html")).unwrap();
}

#[tokio::test]
async fn a_directory_is_streamed_as_a_tar_of_its_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    sample_dir(&site);
    let options = CopyOptions::new().with_exclude(["*.tmp"]);
    let (client, transport) = scripted([Scripted::status(200, "")]);
    let report = client
        .cp_to_vm("vm1", &site, "/srv", &options)
        .await
        .unwrap();

    let request = transport.only_request();
    for pair in [
        "mode=cp-v1-tar",
        "source_type=directory",
        "source_name=site",
        "exclude=%2A.tmp",
    ] {
        assert!(
            has(&request, pair),
            "{pair} missing from {}",
            request.query()
        );
    }
    assert_eq!(request.header("content-type"), Some("application/x-tar"));
    let unpacked = (b"<h1>hi</h1>".len() + b"h1{}".len() + b"#!/bin/sh\n".len()).to_string();
    assert_eq!(
        request.header(UNPACKED_SIZE_HEADER),
        Some(unpacked.as_str())
    );
    let got = entries(&request.body);
    let want = vec![
        ("css".to_owned(), EntryKind::Directory, 0o755, Vec::new()),
        (
            "css/app.css".to_owned(),
            EntryKind::File,
            0o600,
            b"h1{}".to_vec(),
        ),
        (
            "index.html".to_owned(),
            EntryKind::File,
            0o644,
            b"<h1>hi</h1>".to_vec(),
        ),
        (
            "run.sh".to_owned(),
            EntryKind::File,
            0o755,
            b"#!/bin/sh\n".to_vec(),
        ),
    ];
    assert_eq!(got, want);
    assert_eq!(report.bytes, request.body.len() as u64);
    assert_eq!(report.source_type, SourceType::Directory);
    assert_eq!(report.remote_path, None, "the guest's state decides");
}

#[tokio::test]
async fn a_trailing_dot_copies_the_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    sample_dir(&site);
    let (client, transport) = scripted([Scripted::status(200, "")]);
    let local = format!("{}/./", site.display());
    let report = client
        .cp_to_vm("vm1", &local, "/srv", &CopyOptions::new())
        .await
        .unwrap();
    let request = transport.only_request();
    assert!(has(&request, "copy_contents=true"), "{}", request.query());
    assert!(has(&request, "source_name=site"), "{}", request.query());
    assert_eq!(report.remote_path.as_deref(), Some("/srv"));
}

#[tokio::test]
async fn a_legacy_agent_gets_the_same_body_again() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    sample_dir(&site);
    let file = site.join("index.html");
    for (local, refused) in [(&site, "cp-v1-tar"), (&file, "cp-v1-binary")] {
        let (client, transport) = scripted([
            Scripted::status(400, format!("{{\"error\":\"invalid mode: {refused}\"}}")),
            Scripted::status(200, ""),
        ]);
        let report = client
            .cp_to_vm("vm1", local, "/srv/x", &CopyOptions::new())
            .await
            .unwrap();
        let requests = transport.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body, requests[1].body, "{refused}");
        assert!(!requests[1].query().contains("copy_semantics"));
        assert_eq!(report.generation, CopyGeneration::Legacy);
        assert_eq!(report.bytes, requests[1].body.len() as u64);
        assert_eq!(report.remote_path.as_deref(), Some("/srv/x"));
    }
}

#[tokio::test]
async fn symlinks_are_followed_only_to_regular_files() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    sample_dir(&site);
    let dir_link = tmp.path().join("site-link");
    symlink(&site, &dir_link).unwrap();

    let (client, transport) = scripted([]);
    for mode in [CopyMode::Auto, CopyMode::Tar] {
        let options = CopyOptions::new().with_mode(mode);
        let err = client
            .cp_to_vm("vm1", &dir_link, "/srv", &options)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.contains("symbolic link")),
            "{err}"
        );
    }
    assert!(transport.requests().is_empty());

    // A link to a file sends the file's bytes under the link's name.
    let (client, transport) = scripted([Scripted::status(200, "")]);
    let file_link = site.join("alias.html");
    client
        .cp_to_vm("vm1", &file_link, "/srv/", &CopyOptions::new())
        .await
        .unwrap();
    let request = transport.only_request();
    assert_eq!(request.body, &b"<h1>hi</h1>"[..]);
    assert!(
        has(&request, "source_name=alias.html"),
        "{}",
        request.query()
    );
}

#[tokio::test]
async fn unusable_sources_are_refused_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    sample_dir(&site);
    let socket = tmp.path().join("sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let file = site.join("index.html");
    let dotted = format!("{}/.", file.display());

    let cases: Vec<(PathBuf, CopyOptions, &str)> = vec![
        (
            socket.clone(),
            CopyOptions::new(),
            "not a regular file or a directory",
        ),
        (
            site.clone(),
            CopyOptions::new().with_mode(CopyMode::Binary),
            "binary mode needs a regular file",
        ),
        (
            file.clone(),
            CopyOptions::new().with_mode(CopyMode::Tar),
            "tar mode needs a directory",
        ),
        (
            file.clone(),
            CopyOptions::new().with_exclude(["*.tmp"]),
            "directory uploads only",
        ),
        (
            site.clone(),
            CopyOptions::new().with_permissions("9"),
            "octal",
        ),
        (
            site.clone(),
            CopyOptions::new().with_exclude(["a[b"]),
            "a[b",
        ),
        (PathBuf::from(""), CopyOptions::new(), "must not be empty"),
    ];
    for (local, options, needle) in cases {
        let (client, transport) = scripted([]);
        let err = client
            .cp_to_vm("vm1", &local, "/srv", &options)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(transport.requests().is_empty());
    }

    let (client, _) = scripted([]);
    let err = client
        .cp_to_vm("vm1", &dotted, "/srv", &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("contents")),
        "{err}"
    );

    let missing = tmp.path().join("missing");
    let err = client
        .cp_to_vm("vm1", &missing, "/srv", &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("missing")),
        "{err}"
    );
}

#[tokio::test]
async fn an_agent_refusal_is_reported_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    fs::write(&file, "x").unwrap();
    let (client, transport) = scripted([Scripted::status(413, r#"{"error":"too large"}"#)]);
    let err = client
        .cp_to_vm("vm1", &file, "/srv", &CopyOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(413), "{err}");
    assert_eq!(transport.requests().len(), 1, "no retry");
}

/// A transport that runs `before` when a request arrives, then reads the
/// whole body, noting every chunk's size, and answers 200.
struct Probe {
    before: Box<dyn Fn() + Send + Sync>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default, Clone)]
struct Seen {
    chunks: usize,
    largest: usize,
    total: u64,
    declared: Option<u64>,
    /// The first 512 bytes, for a tar's first header.
    head: Vec<u8>,
    /// Content that did not match `expected`, by offset.
    mismatch: Option<u64>,
}

impl Probe {
    fn new(before: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Probe {
            before: Box::new(before),
            seen: Mutex::new(Seen::default()),
        })
    }
}

#[async_trait::async_trait]
impl HttpTransport for Probe {
    async fn send(
        &self,
        request: slicer::http::Request<Body>,
    ) -> Result<slicer::http::Response<ResponseBody>, TransportError> {
        (self.before)();
        let Body::Stream { mut stream, length } = request.into_body() else {
            panic!("copy bodies are streamed");
        };
        let mut seen = Seen {
            declared: length,
            ..Seen::default()
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| TransportError::new(TransportErrorKind::Request, e))?;
            if seen.mismatch.is_none() && !matches_pattern(seen.total, &chunk) {
                seen.mismatch = Some(seen.total);
            }
            if seen.head.len() < 512 {
                let take = (512 - seen.head.len()).min(chunk.len());
                seen.head.extend_from_slice(&chunk[..take]);
            }
            seen.chunks += 1;
            seen.largest = seen.largest.max(chunk.len());
            seen.total += chunk.len() as u64;
        }
        *self.seen.lock().unwrap() = seen;
        Ok(slicer::http::Response::new(ResponseBody::empty()))
    }
}

fn probe_client(probe: &Arc<Probe>) -> SlicerClient<Arc<Probe>> {
    SlicerClient::new(Arc::clone(probe), ClientConfig::new("http://127.0.0.1:9")).unwrap()
}

#[tokio::test]
async fn a_local_read_failure_is_reported_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("shrinking.bin");
    fs::write(&file, vec![1u8; 4 << 20]).unwrap();
    // The file shrinks once the request is under way: the producer has
    // read at most the channel's worth (about 0.5 MiB) by then.
    let victim = file.clone();
    let probe = Probe::new(move || {
        fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
    let err = probe_client(&probe)
        .cp_to_vm("vm1", &file, "/srv/", &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("shrinking.bin")),
        "{err}"
    );
    assert!(err.to_string().contains("shrank"), "{err}");
}

const BIG: u64 = 256 << 20;
const BLOCK: usize = 1 << 20;

/// The big file's content: 1 MiB blocks of a fixed pattern, each starting
/// with its own index so a reordered or repeated block shows.
fn pattern_block(index: u64) -> Vec<u8> {
    let mut block: Vec<u8> = (0..BLOCK).map(|i| (i * 31 % 251) as u8).collect();
    block[..8].copy_from_slice(&index.to_le_bytes());
    block
}

fn matches_pattern(offset: u64, chunk: &[u8]) -> bool {
    thread_local! {
        static BASE: Vec<u8> = pattern_block(0);
    }
    // Only binary bodies are the raw pattern; a tar's are checked by size.
    BASE.with(|base| {
        let mut at = offset;
        let mut rest = chunk;
        while !rest.is_empty() {
            let (index, within) = (at / BLOCK as u64, (at % BLOCK as u64) as usize);
            let take = rest.len().min(BLOCK - within);
            let mut want = base[within..within + take].to_vec();
            for (i, byte) in index.to_le_bytes().iter().enumerate() {
                if i >= within && i < within + take {
                    want[i - within] = *byte;
                }
            }
            if rest[..take] != want[..] {
                return false;
            }
            rest = &rest[take..];
            at += take as u64;
        }
        true
    })
}

fn write_big_file(path: &Path) {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut block = pattern_block(0);
    for index in 0..BIG / BLOCK as u64 {
        block[..8].copy_from_slice(&index.to_le_bytes());
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_streams_in_bounded_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    fs::create_dir(&dir).unwrap();
    let file = dir.join("blob.bin");
    write_big_file(&file);

    // Binary: the declared length, and exactly the file, in chunks of at
    // most 64 KiB.
    let probe = Probe::new(|| {});
    let report = probe_client(&probe)
        .cp_to_vm("vm1", &file, "/srv/", &CopyOptions::new())
        .await
        .unwrap();
    let seen = probe.seen.lock().unwrap().clone();
    assert_eq!(seen.declared, Some(BIG));
    assert_eq!(seen.total, BIG);
    assert_eq!(report.bytes, BIG);
    assert!(
        seen.largest <= 64 * 1024,
        "a chunk of {} bytes",
        seen.largest
    );
    assert!(seen.chunks >= (BIG / (64 * 1024)) as usize);
    assert_eq!(seen.mismatch, None, "content differs");

    // Tar: sent chunked, the archive's length as the pre-walk predicted.
    let probe = Probe::new(|| {});
    probe_client(&probe)
        .cp_to_vm("vm1", &dir, "/srv/", &CopyOptions::new())
        .await
        .unwrap();
    let seen = probe.seen.lock().unwrap().clone();
    let summary = measure_tree(&dir, &Excludes::default()).unwrap();
    assert_eq!(seen.declared, None);
    assert_eq!(seen.total, summary.archive_size);
    assert!(
        seen.largest <= 64 * 1024,
        "a chunk of {} bytes",
        seen.largest
    );
    assert_eq!(&seen.head[..8], b"blob.bin");
}
