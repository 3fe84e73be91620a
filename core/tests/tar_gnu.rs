//! Compatibility with GNU tar in both directions: GNU tar lists and extracts
//! what the writer produces, and the reader reads what GNU tar creates in
//! each of its formats. Needs the `tar` binary (GNU tar) on PATH.
#![cfg(unix)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use slicer_core::tar::{read_archive, Entry, EntryKind, TarError, TarReader, TarWriter};

const T0: i64 = 1_700_000_000;

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("slicer-tar-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs GNU tar and returns its stdout; fails the test on a non-zero exit
/// or any diagnostic on stderr.
fn gnu_tar(args: &[&str], cwd: &Path) -> Vec<u8> {
    let out = Command::new("tar")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("GNU tar must be installed for these tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "tar {args:?} failed: {stderr}"
    );
    out.stdout
}

fn set_mtime(path: &Path, secs: i64) {
    let time = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    fs::File::open(path).unwrap().set_modified(time).unwrap();
}

fn long_names() -> (String, String) {
    let deep_dir = format!("deep/{}/{}", "d".repeat(90), "é".repeat(60));
    let deep_file = format!("{deep_dir}/{}.txt", "f".repeat(95));
    assert!(deep_file.len() > 255);
    (deep_dir, deep_file)
}

#[test]
fn gnu_tar_extracts_what_the_writer_produces() {
    let (deep_dir, deep_file) = long_names();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();

    let mut writer = TarWriter::new(Vec::new());
    writer.append_dir("bin", 0o755, T0).unwrap();
    writer
        .append_file("bin/tool", 0o744, T0 + 1, b"#!/bin/sh\necho hi\n")
        .unwrap();
    writer
        .append_file("bin/secret", 0o600, T0 + 2, b"")
        .unwrap();
    writer
        .append_file_from("big.bin", 0o644, T0 + 3, big.len() as u64, &big[..])
        .unwrap();
    writer
        .append_file("bytes.bin", 0o644, T0 + 4, &all_bytes)
        .unwrap();
    writer.append_dir("deep", 0o755, T0).unwrap();
    writer
        .append_dir(deep_dir.rsplit_once('/').unwrap().0, 0o755, T0)
        .unwrap();
    writer.append_dir(&deep_dir, 0o755, T0).unwrap();
    writer
        .append_file(&deep_file, 0o644, T0 + 5, b"deep")
        .unwrap();
    writer.append_dir("private/", 0o700, T0 + 6).unwrap();
    writer
        .append_file("straße.txt", 0o640, -3600, "unicode".as_bytes())
        .unwrap();
    let archive = writer.finish().unwrap();

    let tmp = TempDir::new("gnu-extract");
    fs::write(tmp.path().join("a.tar"), &archive).unwrap();

    let listing = String::from_utf8(gnu_tar(&["-tf", "a.tar"], tmp.path())).unwrap();
    let names: Vec<&str> = listing.lines().collect();
    let deep_dir_slash = format!("{deep_dir}/");
    let middle_slash = format!("{}/", deep_dir.rsplit_once('/').unwrap().0);
    let want = [
        "bin/",
        "bin/tool",
        "bin/secret",
        "big.bin",
        "bytes.bin",
        "deep/",
        middle_slash.as_str(),
        deep_dir_slash.as_str(),
        deep_file.as_str(),
        "private/",
        "straße.txt",
    ];
    assert_eq!(names, want);

    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    // The pre-1970 mtime is deliberate: silence GNU tar's warning about it.
    gnu_tar(
        &[
            "-xpf",
            "../a.tar",
            "--no-same-owner",
            "--warning=no-timestamp",
        ],
        &out,
    );

    let check = |rel: &str, content: Option<&[u8]>, mode: u32, mtime: i64| {
        let path = out.join(rel);
        let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{rel} mode");
        assert_eq!(meta.mtime(), mtime, "{rel} mtime");
        match content {
            Some(data) => assert_eq!(fs::read(&path).unwrap(), data, "{rel} content"),
            None => assert!(meta.is_dir(), "{rel} is a directory"),
        }
    };
    check("bin", None, 0o755, T0);
    check("bin/tool", Some(b"#!/bin/sh\necho hi\n"), 0o755, T0 + 1);
    check("bin/secret", Some(b""), 0o600, T0 + 2);
    check("big.bin", Some(&big), 0o644, T0 + 3);
    check("bytes.bin", Some(&all_bytes), 0o644, T0 + 4);
    check(&deep_file, Some(b"deep"), 0o644, T0 + 5);
    check("private", None, 0o700, T0 + 6);
    check("straße.txt", Some(b"unicode"), 0o640, -3600);
}

/// The tree GNU tar archives in the next test, and what the reader must
/// return for it (symlink, hard link and FIFO are skipped).
fn make_tree(root: &Path) -> Vec<Entry> {
    let (deep_dir, deep_file) = long_names();
    let middle = deep_dir.rsplit_once('/').unwrap().0;
    let want = vec![
        Entry::directory("a").with_mode(0o750).with_mtime(T0),
        Entry::file("a/exec", "#!/bin/sh\n")
            .with_mode(0o755)
            .with_mtime(T0 + 1),
        Entry::file("a/setuid", "s")
            .with_mode(0o711)
            .with_mtime(T0 + 2),
        Entry::file("a/z-empty", "").with_mtime(T0 + 3),
        Entry::file("bytes.bin", (0..=255u8).collect::<Vec<u8>>()).with_mtime(T0 + 4),
        Entry::directory("deep").with_mtime(T0),
        Entry::directory(middle).with_mtime(T0),
        Entry::directory(deep_dir.as_str()).with_mtime(T0),
        Entry::file(deep_file.as_str(), "deep").with_mtime(T0 + 5),
        Entry::directory("empty")
            .with_mode(0o700)
            .with_mtime(T0 + 6),
        Entry::directory("ünï").with_mtime(T0),
        Entry::file("ünï/名前.txt", "unicode").with_mtime(T0 + 7),
    ];

    fs::create_dir_all(root.join(&deep_dir)).unwrap();
    fs::create_dir_all(root.join("a")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("ünï")).unwrap();
    for e in want.iter().filter(|e| e.kind == EntryKind::File) {
        fs::write(root.join(&e.path), &e.data).unwrap();
    }
    std::os::unix::fs::symlink("bytes.bin", root.join("link")).unwrap();
    fs::hard_link(root.join("bytes.bin"), root.join("zz-hard")).unwrap();
    let status = Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());

    let raw_modes = [
        ("a", 0o750),
        ("a/exec", 0o744),
        ("a/setuid", 0o4700),
        ("empty", 0o700),
    ];
    for e in &want {
        let mode = raw_modes
            .iter()
            .find(|(p, _)| *p == e.path)
            .map_or(e.mode, |m| m.1);
        fs::set_permissions(root.join(&e.path), fs::Permissions::from_mode(mode)).unwrap();
    }
    // Deepest first, so setting a file's time does not disturb its parent.
    for e in want.iter().rev() {
        set_mtime(&root.join(&e.path), e.mtime);
    }
    want
}

#[test]
fn the_reader_reads_what_gnu_tar_writes_in_every_format() {
    let tmp = TempDir::new("gnu-create");
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let want = make_tree(&src);
    let top = [
        "a",
        "bytes.bin",
        "deep",
        "empty",
        "fifo",
        "link",
        "zz-hard",
        "ünï",
    ];

    for format in ["gnu", "pax", "oldgnu"] {
        let out = tmp.path().join(format!("{format}.tar"));
        let out = out.to_str().unwrap();
        // Default blocking: archives are padded to 10240-byte records.
        let mut args = vec!["--format", format, "--sort=name", "-cf", out];
        args.extend(top);
        gnu_tar(&args, &src);
        let bytes = fs::read(out).unwrap();
        assert_eq!(bytes.len() % 10240, 0);
        assert_eq!(read_archive(&bytes).unwrap(), want, "format {format}");
    }

    // ustar cannot hold the long names; the rest reads the same.
    let ustar = tmp.path().join("ustar.tar");
    let ustar = ustar.to_str().unwrap();
    gnu_tar(
        &[
            "--format",
            "ustar",
            "--sort=name",
            "-cf",
            ustar,
            "a",
            "bytes.bin",
            "empty",
        ],
        &src,
    );
    let short: Vec<Entry> = want
        .iter()
        .filter(|e| {
            ["a", "bytes.bin", "empty"]
                .iter()
                .any(|t| e.path.starts_with(t))
        })
        .cloned()
        .collect();
    assert_eq!(read_archive(&fs::read(ustar).unwrap()).unwrap(), short);
}

#[test]
fn archives_of_dot_are_refused_by_name() {
    // `tar -C dir .` names everything `./...`, which PROTOCOL §20.2.2 rejects.
    let tmp = TempDir::new("gnu-dot");
    fs::write(tmp.path().join("f"), "x").unwrap();
    let bytes = gnu_tar(&["-cf", "-", "."], tmp.path());
    let err = read_archive(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar entry name \"./\": it has a `.` segment"
    );
}

#[test]
fn a_large_gnu_entry_streams_through_in_pieces() {
    let tmp = TempDir::new("gnu-stream");
    let data: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(tmp.path().join("blob"), &data).unwrap();
    let bytes = gnu_tar(&["-cf", "-", "blob"], tmp.path());

    let mut reader = TarReader::new(&bytes[..]);
    let mut entry = reader.next_entry().unwrap().unwrap();
    assert_eq!(
        (entry.path_str().unwrap(), entry.size()),
        ("blob", data.len() as u64)
    );
    let mut buf = vec![0u8; 4096];
    let mut at = 0;
    loop {
        let n = entry.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(buf[..n], data[at..at + n]);
        at += n;
    }
    assert_eq!(at, data.len());
    assert!(reader.next_entry().unwrap().is_none());

    // Cut inside the content: an error, never a short file.
    let cut = &bytes[..1_000_000];
    let err = read_archive(cut).unwrap_err();
    assert!(
        matches!(
            err,
            TarError::Truncated {
                offset: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
}
