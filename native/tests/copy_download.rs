//! `cp_from_vm` against scripted answers: the local destination table of
//! PROTOCOL §10.5, modes, the legacy fallback, and failures that must leave
//! nothing behind.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{archive, broken, cp_v1, leftovers, raw_entry, raw_file, scripted, snapshot, Node};
use slicer::copy::DOWNLOAD_TEMP_PREFIX;
use slicer::tar::TarWriter;
use slicer::{CopyExt as _, CopyGeneration, CopyMode, CopyOptions, Error, SourceType};
use slicer_core::testing::Scripted;

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn file_answer(name: &str, mode: Option<&str>, data: &[u8]) -> Scripted {
    // Several chunks, as a network delivers them.
    let chunks = data.chunks(3).map(<[u8]>::to_vec).collect();
    cp_v1("file", name, mode, chunks)
}

fn site_archive() -> Vec<u8> {
    let mut writer = TarWriter::new(Vec::new());
    writer.append_dir("css", 0o755, 1_700_000_000).unwrap();
    writer
        .append_file("css/app.css", 0o644, 1_700_000_001, b"h1{}")
        .unwrap();
    writer
        .append_file("index.html", 0o640, 1_700_000_002, b"<h1>hi</h1>")
        .unwrap();
    writer.finish().unwrap()
}

fn dir_answer(name: &str, archive: Vec<u8>) -> Scripted {
    let chunks = archive.chunks(700).map(<[u8]>::to_vec).collect();
    cp_v1("directory", name, None, chunks)
}

fn assert_site(dir: &Path) {
    let tree = snapshot(dir);
    let names: Vec<&[u8]> = tree.keys().map(Vec::as_slice).collect();
    assert_eq!(names, [&b"css"[..], b"css/app.css", b"index.html"]);
    assert_eq!(
        tree[&b"index.html"[..]],
        Node::File {
            mode: 0o640,
            mtime: 1_700_000_002,
            data: b"<h1>hi</h1>".to_vec()
        }
    );
    assert_eq!(
        tree[&b"css"[..]],
        Node::Dir {
            mode: 0o755,
            mtime: 1_700_000_000
        }
    );
}

#[tokio::test]
async fn a_file_into_an_existing_directory_takes_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, transport) = scripted([file_answer("notes.txt", Some("0640"), b"hello world")]);
    let report = client
        .cp_from_vm(
            "vm1",
            "/home/ubuntu/notes.txt",
            tmp.path(),
            &CopyOptions::new(),
        )
        .await
        .unwrap();

    let written = tmp.path().join("notes.txt");
    assert_eq!(report.local_path.as_deref(), Some(written.as_path()));
    assert_eq!(
        (report.source_type, report.generation),
        (SourceType::File, CopyGeneration::CpV1)
    );
    assert_eq!(report.bytes, 11);
    assert_eq!(fs::read(&written).unwrap(), b"hello world");
    assert_eq!(mode_of(&written), 0o640);
    assert!(leftovers(tmp.path(), DOWNLOAD_TEMP_PREFIX).is_empty());

    let request = transport.only_request();
    assert!(
        request.query().contains("mode=cp-v1-recursive"),
        "{}",
        request.query()
    );
    assert!(request.query().contains("copy_semantics=cp-v1"));
}

#[tokio::test]
async fn a_file_replaces_an_existing_file_with_the_callers_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("local-name");
    fs::write(&dest, "old content that is longer").unwrap();
    let (client, _) = scripted([file_answer("remote-name", Some("0640"), b"new")]);
    let options = CopyOptions::new()
        .with_permissions("0751")
        .with_mode(CopyMode::Binary);
    client
        .cp_from_vm("vm1", "/x/remote-name", &dest, &options)
        .await
        .unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"new");
    assert_eq!(mode_of(&dest), 0o751);
}

#[tokio::test]
async fn a_file_to_a_missing_path_is_written_there_with_mode_0600_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("renamed.bin");
    let data: Vec<u8> = (0..=255u8).collect();
    let (client, _) = scripted([file_answer("orig.bin", None, &data)]);
    client
        .cp_from_vm("vm1", "/orig.bin", &dest, &CopyOptions::new())
        .await
        .unwrap();
    assert_eq!(fs::read(&dest).unwrap(), data);
    assert_eq!(mode_of(&dest), 0o600);
}

#[tokio::test]
async fn a_file_to_a_missing_directory_path_fails_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = format!("{}/not-there/", tmp.path().display());
    let (client, _) = scripted([file_answer("f", None, b"data")]);
    let err = client
        .cp_from_vm("vm1", "/f", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("does not exist") && m.contains("not-there")),
        "{err}"
    );
    assert!(snapshot(tmp.path()).is_empty());

    // A missing parent directory is named, not created.
    let dest = tmp.path().join("missing-dir/file");
    let (client, _) = scripted([file_answer("f", None, b"data")]);
    let err = client
        .cp_from_vm("vm1", "/f", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("missing-dir")),
        "{err}"
    );
    assert!(snapshot(tmp.path()).is_empty());
}

#[tokio::test]
async fn a_file_replaces_a_symlink_at_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside.txt");
    fs::write(&outside, "keep me").unwrap();
    let dest = tmp.path().join("link");
    symlink(&outside, &dest).unwrap();
    let (client, _) = scripted([file_answer("f", None, b"fresh")]);
    client
        .cp_from_vm("vm1", "/f", &dest, &CopyOptions::new())
        .await
        .unwrap();
    assert!(fs::symlink_metadata(&dest).unwrap().is_file());
    assert_eq!(fs::read(&dest).unwrap(), b"fresh");
    assert_eq!(fs::read(&outside).unwrap(), b"keep me");
}

#[tokio::test]
async fn a_broken_file_download_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("existing");
    fs::write(&dest, "previous").unwrap();
    let (client, _) = scripted([broken(file_answer("f", None, b"partial bytes"))]);
    let err = client
        .cp_from_vm("vm1", "/f", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    // The old file is intact and no temporary file is left.
    assert_eq!(fs::read(&dest).unwrap(), b"previous");
    let names: Vec<Vec<u8>> = snapshot(tmp.path()).into_keys().collect();
    assert_eq!(names, [b"existing".to_vec()]);
}

#[tokio::test]
async fn a_directory_onto_an_existing_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("file");
    fs::write(&dest, "x").unwrap();
    let (client, _) = scripted([dir_answer("site", site_archive())]);
    let err = client
        .cp_from_vm("vm1", "/srv/site", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("not a directory")),
        "{err}"
    );
    assert_eq!(fs::read(&dest).unwrap(), b"x");
    assert_eq!(snapshot(tmp.path()).len(), 1);
}

#[tokio::test]
async fn a_directory_into_an_existing_directory_gets_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, _) = scripted([dir_answer("site", site_archive())]);
    let report = client
        .cp_from_vm("vm1", "/srv/site", tmp.path(), &CopyOptions::new())
        .await
        .unwrap();
    let target = tmp.path().join("site");
    assert_eq!(report.local_path.as_deref(), Some(target.as_path()));
    assert_eq!(report.source_type, SourceType::Directory);
    assert_eq!(report.bytes, site_archive().len() as u64);
    assert_site(&target);
    assert!(leftovers(tmp.path(), DOWNLOAD_TEMP_PREFIX).is_empty());
}

#[tokio::test]
async fn a_directory_merges_into_an_existing_named_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("site");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("kept.txt"), "mine").unwrap();
    let (client, _) = scripted([dir_answer("site", site_archive())]);
    client
        .cp_from_vm("vm1", "/srv/site", tmp.path(), &CopyOptions::new())
        .await
        .unwrap();
    assert_eq!(fs::read(target.join("kept.txt")).unwrap(), b"mine");
    assert_eq!(fs::read(target.join("index.html")).unwrap(), b"<h1>hi</h1>");
}

#[tokio::test]
async fn contents_of_a_directory_go_straight_into_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    // A contents copy may carry an empty name.
    let (client, transport) = scripted([dir_answer("", site_archive())]);
    let options = CopyOptions::new().with_mode(CopyMode::Tar);
    let report = client
        .cp_from_vm("vm1", "/srv/site/.", tmp.path(), &options)
        .await
        .unwrap();
    assert_eq!(report.local_path.as_deref(), Some(tmp.path()));
    assert_site(tmp.path());
    assert!(transport.only_request().query().contains("mode=cp-v1-tar"));
}

#[tokio::test]
async fn a_directory_to_a_missing_path_is_created_with_its_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("a/b/copy/");
    let (client, _) = scripted([dir_answer("site", site_archive())]);
    let report = client
        .cp_from_vm("vm1", "/srv/site", &dest, &CopyOptions::new())
        .await
        .unwrap();
    let target = tmp.path().join("a/b/copy");
    assert_eq!(report.local_path.as_deref(), Some(target.as_path()));
    assert_site(&target);
    assert!(leftovers(tmp.path(), DOWNLOAD_TEMP_PREFIX).is_empty());
}

#[tokio::test]
async fn a_truncated_directory_download_leaves_nothing_at_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("copy");
    let mut bytes = site_archive();
    bytes.truncate(512 * 3 + 100);
    let (client, _) = scripted([dir_answer("site", bytes)]);
    let err = client
        .cp_from_vm("vm1", "/srv/site", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(
        snapshot(tmp.path()).is_empty(),
        "{:?}",
        snapshot(tmp.path())
    );
}

#[tokio::test]
async fn a_broken_directory_download_leaves_nothing_at_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("copy");
    let mut bytes = site_archive();
    bytes.truncate(512 * 3);
    let (client, _) = scripted([broken(dir_answer("site", bytes))]);
    let err = client
        .cp_from_vm("vm1", "/srv/site", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert!(snapshot(tmp.path()).is_empty());
}

#[tokio::test]
async fn a_hostile_archive_leaves_nothing_at_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("copy");
    let bytes = archive(&[
        raw_file("fine", b"ok"),
        raw_entry(b"../escape", b'0', 0o644, b"x", b""),
    ]);
    let (client, _) = scripted([dir_answer("site", bytes)]);
    let err = client
        .cp_from_vm("vm1", "/srv/site", &dest, &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tar(_)), "{err}");
    assert!(snapshot(tmp.path()).is_empty());
}

#[tokio::test]
async fn excludes_are_sent_and_applied_locally() {
    let tmp = tempfile::tempdir().unwrap();
    // An agent that ignores the patterns: the receiver still filters.
    let bytes = archive(&[raw_file("keep.txt", b"k"), raw_file("drop.tmp", b"d")]);
    let (client, transport) = scripted([dir_answer("site", bytes)]);
    let options = CopyOptions::new().with_exclude(["*.tmp"]);
    client
        .cp_from_vm("vm1", "/srv/site", tmp.path(), &options)
        .await
        .unwrap();
    let names: Vec<Vec<u8>> = snapshot(&tmp.path().join("site")).into_keys().collect();
    assert_eq!(names, [b"keep.txt".to_vec()]);
    assert!(
        transport.only_request().query().contains("exclude=%2A.tmp"),
        "{}",
        transport.only_request().query()
    );
}

#[tokio::test]
async fn a_legacy_agent_is_asked_again_and_the_name_comes_from_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, transport) = scripted([
        Scripted::status(400, r#"{"error":"invalid mode: cp-v1-recursive"}"#),
        Scripted::status(200, "legacy bytes"),
    ]);
    let report = client
        .cp_from_vm("vm1", "/var/log/app.log", tmp.path(), &CopyOptions::new())
        .await
        .unwrap();
    assert_eq!(report.generation, CopyGeneration::Legacy);
    assert_eq!(
        fs::read(tmp.path().join("app.log")).unwrap(),
        b"legacy bytes"
    );
    let requests = transport.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].query().contains("mode=binary"),
        "{}",
        requests[1].query()
    );
}

#[tokio::test]
async fn progress_counts_received_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let options = CopyOptions::new()
        .with_progress(move |done, total| seen.lock().unwrap().push((done, total)));
    let (client, _) = scripted([file_answer("f", None, b"0123456789")]);
    client
        .cp_from_vm("vm1", "/f", tmp.path(), &options)
        .await
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.last(), Some(&(10, None)));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
}

#[tokio::test]
async fn bad_options_are_refused_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (CopyOptions::new().with_uid(1000), "uid and gid"),
        (CopyOptions::new().with_permissions("rwx"), "octal"),
        (CopyOptions::new().with_exclude(["[unclosed"]), "[unclosed"),
        (
            CopyOptions::new()
                .with_mode(CopyMode::Binary)
                .with_exclude(["*.tmp"]),
            "directory downloads only",
        ),
    ];
    for (options, needle) in cases {
        let (client, transport) = scripted([]);
        let err = client
            .cp_from_vm("vm1", "/f", tmp.path(), &options)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(transport.requests().is_empty());
    }
    let (client, _) = scripted([]);
    let err = client
        .cp_from_vm("vm1", "/f", "", &CopyOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

/// A transport whose body delivers `chunks`, then tells the test and never
/// ends: a download in progress.
struct Stalled {
    answer: Mutex<Option<(String, Vec<u8>)>>,
    delivered: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[async_trait::async_trait]
impl slicer::HttpTransport for Stalled {
    async fn send(
        &self,
        _: slicer::http::Request<slicer::Body>,
    ) -> Result<slicer::http::Response<slicer::ResponseBody>, slicer::TransportError> {
        use futures_util::StreamExt as _;
        let (kind, data) = self.answer.lock().unwrap().take().expect("one request");
        let signal = self.delivered.lock().unwrap().take().expect("one request");
        let first = futures_util::stream::iter(vec![Ok(bytes::Bytes::from(data))]);
        let stall = futures_util::stream::once(async move {
            let _ = signal.send(());
            futures_util::future::pending::<Result<bytes::Bytes, slicer::TransportError>>().await
        });
        let mut response =
            slicer::http::Response::new(slicer::ResponseBody::new(first.chain(stall)));
        let headers = response.headers_mut();
        headers.insert("x-slicer-source-type", kind.parse().unwrap());
        headers.insert(
            "x-slicer-source-name-base64",
            common::encode_name("x").parse().unwrap(),
        );
        Ok(response)
    }
}

#[test]
fn a_cancelled_download_cleans_up_after_itself() {
    let mut big = site_archive();
    big.truncate(big.len() - 1024);
    for (kind, data) in [("file", vec![5u8; 100_000]), ("directory", big)] {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let transport = Stalled {
            answer: Mutex::new(Some((kind.to_owned(), data))),
            delivered: Mutex::new(Some(tx)),
        };
        let client =
            slicer::SlicerClient::new(transport, slicer::ClientConfig::new("http://127.0.0.1:9"))
                .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let options = CopyOptions::new();
            let copy = client.cp_from_vm("vm1", "/x", &dest, &options);
            tokio::select! {
                result = copy => panic!("the stalled download finished: {result:?}"),
                // Cancelled once the body has been handed over, mid-copy.
                _ = rx => {}
            }
        });
        // Dropping the runtime waits for the blocking writer to see the
        // cancellation and clean up.
        drop(runtime);
        assert!(
            snapshot(tmp.path()).is_empty(),
            "{kind}: {:?}",
            snapshot(tmp.path())
        );
    }
}
