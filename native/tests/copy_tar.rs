//! The directory walker and the extractor against each other and against
//! the core's tar reader and writer, on real temporary directories.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::{set_mtime, snapshot, write_file, Node};
use slicer::copy::{extract_tar, measure_tree, write_tar, ExtractOptions};
use slicer::tar::{EntryKind, Excludes, TarReader, TarWriter};
use slicer::Error;

const MTIME: u64 = 1_600_000_000;

/// Every byte value, in order: content nothing may alter.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 3 + 7).collect()
}

/// The two file names that between them hold every byte a name can have
/// (all but NUL and `/`); the second is not UTF-8.
fn byte_names() -> [Vec<u8>; 2] {
    [
        (1..=127u8).filter(|&b| b != b'/').collect(),
        (128..=255u8).collect(),
    ]
}

/// A tree with everything the layout cares about, and things it skips.
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    write_file(&root.join("bin/tool"), b"#!/bin/sh\necho hi\n", 0o744);
    write_file(&root.join("bin/private"), b"secret", 0o700);
    write_file(&root.join("bin/setuid"), b"x", 0o4755);
    fs::create_dir(root.join("a")).unwrap();
    write_file(&root.join("a/z"), b"z", 0o644);
    write_file(&root.join("a-b"), b"sibling", 0o600);
    write_file(&root.join("bytes.bin"), &all_bytes(), 0o644);
    write_file(&root.join("zero"), b"", 0o644);
    let unicode = root.join("ünïcødé");
    fs::create_dir(&unicode).unwrap();
    write_file(&unicode.join("файл 文件 📦.txt"), "ok ✓".as_bytes(), 0o640);
    let mut deep = root.join("deep");
    for i in 0..9 {
        deep = deep.join(format!("level-{i}-{}", "d".repeat(30)));
    }
    fs::create_dir_all(&deep).unwrap();
    write_file(&deep.join("leaf.txt"), b"deep", 0o644);
    for name in byte_names() {
        write_file(&root.join(OsStr::from_bytes(&name)), &name, 0o644);
    }
    // Skipped: links (dangling or not) and a socket.
    symlink("bin/tool", root.join("link-to-tool")).unwrap();
    symlink("/nonexistent/target", root.join("dangling")).unwrap();
    symlink("bin", root.join("link-to-dir")).unwrap();
    let _socket = UnixListener::bind(root.join("sock")).unwrap();

    // Times last, directories after their contents were written.
    for rel in ["bin/tool", "a/z", "bytes.bin"] {
        set_mtime(&root.join(rel), MTIME + 1);
    }
    set_mtime(&deep.join("leaf.txt"), MTIME + 2);
    for rel in ["empty", "bin", "a", "ünïcødé"] {
        set_mtime(&root.join(rel), MTIME + 3);
    }
}

/// The names a walk of `sample_tree` must produce, in order.
fn expected_names() -> Vec<Vec<u8>> {
    let mut deep = Vec::new();
    let mut prefix = b"deep".to_vec();
    deep.push(prefix.clone());
    for i in 0..9 {
        prefix.extend_from_slice(format!("/level-{i}-{}", "d".repeat(30)).as_bytes());
        deep.push(prefix.clone());
    }
    let mut leaf = prefix.clone();
    leaf.extend_from_slice(b"/leaf.txt");
    deep.push(leaf);
    let [low, high] = byte_names();

    let mut names: Vec<Vec<u8>> = vec![low];
    for n in [
        "a",
        "a/z",
        "a-b",
        "bin",
        "bin/private",
        "bin/setuid",
        "bin/tool",
        "bytes.bin",
    ] {
        names.push(n.as_bytes().to_vec());
    }
    names.extend(deep);
    names.push(b"empty".to_vec());
    names.push(b"zero".to_vec());
    // Bytewise: 0x80 sorts before the 0xC3 that starts "ü".
    names.push(high);
    for n in ["ünïcødé", "ünïcødé/файл 文件 📦.txt"] {
        names.push(n.as_bytes().to_vec());
    }
    names
}

struct Seen {
    name: Vec<u8>,
    kind: EntryKind,
    mode: u32,
    mtime: i64,
    data: Vec<u8>,
}

fn read_all(archive: &[u8]) -> Vec<Seen> {
    let mut reader = TarReader::new(archive);
    let mut out = Vec::new();
    while let Some(mut entry) = reader.next_entry().unwrap() {
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(Seen {
            name: entry.path_bytes().to_vec(),
            kind: entry.kind(),
            mode: entry.mode(),
            mtime: entry.mtime(),
            data,
        });
    }
    out
}

#[test]
fn walker_writes_the_protocol_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);

    let mut archive = Vec::new();
    let summary = write_tar(&root, &mut archive, &Excludes::default()).unwrap();
    let entries = read_all(&archive);

    let names: Vec<Vec<u8>> = entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(
        names,
        expected_names(),
        "{:#?}",
        names
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>()
    );
    let by_name: BTreeMap<&[u8], &Seen> = entries.iter().map(|e| (&e.name[..], e)).collect();
    let tool = by_name[&b"bin/tool"[..]];
    assert_eq!(
        (tool.kind, tool.mode, tool.mtime),
        (EntryKind::File, 0o755, (MTIME + 1) as i64)
    );
    assert_eq!(tool.data, b"#!/bin/sh\necho hi\n");
    assert_eq!(by_name[&b"bin/private"[..]].mode, 0o711);
    assert_eq!(by_name[&b"bin/setuid"[..]].mode, 0o755, "setuid dropped");
    assert_eq!(by_name[&b"a-b"[..]].mode, 0o600);
    assert_eq!(by_name[&b"bytes.bin"[..]].data, all_bytes());
    let empty = by_name[&b"empty"[..]];
    assert_eq!(
        (empty.kind, empty.mtime),
        (EntryKind::Directory, (MTIME + 3) as i64)
    );
    let deep_leaf = entries
        .iter()
        .find(|e| e.name.ends_with(b"leaf.txt"))
        .unwrap();
    assert!(deep_leaf.name.len() > 255, "{}", deep_leaf.name.len());
    assert_eq!(deep_leaf.mtime, (MTIME + 2) as i64);
    for name in byte_names() {
        assert_eq!(by_name[&name[..]].data, name);
    }

    // The archive ends in exactly two zero blocks, without record padding.
    assert_eq!(archive.len() % 512, 0);
    assert!(archive[archive.len() - 1024..].iter().all(|&b| b == 0));
    assert_eq!(summary.archive_size, archive.len() as u64);
    let files: Vec<&Seen> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    assert_eq!(summary.files, files.len() as u64);
    assert_eq!(summary.directories, (entries.len() - files.len()) as u64);
    let sizes: u64 = files.iter().map(|e| e.data.len() as u64).sum();
    assert_eq!(summary.unpacked_size, sizes);
    assert_eq!(measure_tree(&root, &Excludes::default()).unwrap(), summary);
}

#[test]
fn walk_and_extract_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    sample_tree(&src);

    let mut archive = Vec::new();
    write_tar(&src, &mut archive, &Excludes::default()).unwrap();
    let summary = extract_tar(&archive[..], &dst, &ExtractOptions::default()).unwrap();

    let mut want = snapshot(&src);
    want.retain(|_, node| matches!(node, Node::Dir { .. } | Node::File { .. }));
    for node in want.values_mut() {
        if let Node::File { mode, .. } = node {
            // What normalisation does to modes.
            *mode = slicer::tar::normalize_mode(EntryKind::File, *mode);
        }
    }
    assert_eq!(snapshot(&dst), want);
    assert_eq!(summary.files, 11);
    assert_eq!(summary.directories, 14);
}

#[test]
fn excludes_apply_while_walking_and_while_extracting() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for dir in [
        "a/b",
        "skipme/inner",
        "nested/d",
        "web/node_modules/pkg",
        "keep",
    ] {
        fs::create_dir_all(src.join(dir)).unwrap();
    }
    for file in [
        "keep.txt",
        "x.tmp",
        "a/b/x.tmp",
        "a/b/y.txt",
        "skipme/inner/f",
        "nested/a.txt",
        "nested/d/a.txt",
        "web/node_modules/pkg/index.js",
        "web/app.js",
    ] {
        fs::write(src.join(file), file).unwrap();
    }
    let excludes =
        Excludes::new(["*.tmp", "skipme/**", "nested/*.txt", "**/node_modules/**"]).unwrap();
    let kept = [
        "a",
        "a/b",
        "a/b/y.txt",
        "keep",
        "keep.txt",
        "nested",
        "nested/d",
        "nested/d/a.txt",
        "web",
        "web/app.js",
    ];

    let mut filtered = Vec::new();
    let summary = write_tar(&src, &mut filtered, &excludes).unwrap();
    let names: Vec<String> = read_all(&filtered)
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    assert_eq!(names, kept);
    assert_eq!(
        summary.unpacked_size,
        ("a/b/y.txt".len() + "keep.txt".len() + "nested/d/a.txt".len() + "web/app.js".len()) as u64
    );
    assert_eq!(measure_tree(&src, &excludes).unwrap(), summary);

    // The receiver filters a full archive the same way.
    let mut full = Vec::new();
    write_tar(&src, &mut full, &Excludes::default()).unwrap();
    let dst = tmp.path().join("dst");
    fs::create_dir(&dst).unwrap();
    extract_tar(
        &full[..],
        &dst,
        &ExtractOptions::default().with_excludes(excludes),
    )
    .unwrap();
    let got: Vec<String> = snapshot(&dst)
        .into_keys()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    assert_eq!(got, kept);
}

#[test]
fn extractor_reads_what_the_core_writer_builds() {
    let mut writer = TarWriter::new(Vec::new());
    writer.append_dir("ro", 0o555, 1_650_000_000).unwrap();
    writer
        .append_file("ro/inside", 0o644, 1_650_000_001, b"in a read-only dir")
        .unwrap();
    writer.append_dir("ro/sub", 0o700, 0).unwrap();
    writer
        .append_file("run.sh", 0o4744, 0, b"#!/bin/sh\n")
        .unwrap();
    writer.append_file("dup", 0o600, 1, b"first").unwrap();
    writer.append_file("dup", 0o640, 2, b"second").unwrap();
    writer
        .append_file("implied/parent/file", 0o644, 0, &all_bytes())
        .unwrap();
    let archive = writer.finish().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let summary = extract_tar(&archive[..], tmp.path(), &ExtractOptions::default()).unwrap();
    assert_eq!((summary.files, summary.directories), (5, 2));

    let tree = snapshot(tmp.path());
    assert_eq!(
        tree[&b"ro"[..]],
        Node::Dir {
            mode: 0o555,
            mtime: 1_650_000_000
        }
    );
    assert!(matches!(
        tree[&b"ro/sub"[..]],
        Node::Dir { mode: 0o700, .. }
    ));
    assert_eq!(
        tree[&b"ro/inside"[..]],
        Node::File {
            mode: 0o644,
            mtime: 1_650_000_001,
            data: b"in a read-only dir".to_vec()
        }
    );
    assert!(matches!(
        &tree[&b"run.sh"[..]],
        Node::File { mode: 0o755, .. }
    ));
    assert_eq!(
        tree[&b"dup"[..]],
        Node::File {
            mode: 0o640,
            mtime: 2,
            data: b"second".to_vec()
        }
    );
    assert!(
        matches!(&tree[&b"implied/parent/file"[..]], Node::File { data, .. } if *data == all_bytes())
    );
    assert!(matches!(tree[&b"implied"[..]], Node::Dir { .. }));
    // Make the tree removable again.
    fs::set_permissions(
        tmp.path().join("ro"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
}

/// A reader that hands out 1 to 7 bytes at a time and is interrupted now
/// and then, the way pipes and sockets behave.
struct Dribble<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 5 == 0 {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = (self.calls % 7 + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn short_reads_extract_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, whole, dribbled) = (
        tmp.path().join("src"),
        tmp.path().join("w"),
        tmp.path().join("d"),
    );
    for dir in [&src, &whole, &dribbled] {
        fs::create_dir(dir).unwrap();
    }
    sample_tree(&src);
    let mut archive = Vec::new();
    write_tar(&src, &mut archive, &Excludes::default()).unwrap();

    extract_tar(&archive[..], &whole, &ExtractOptions::default()).unwrap();
    let reader = Dribble {
        data: &archive,
        calls: 0,
    };
    extract_tar(reader, &dribbled, &ExtractOptions::default()).unwrap();
    assert_eq!(snapshot(&dribbled), snapshot(&whole));
}

#[test]
fn walker_refuses_a_file_root_and_follows_a_linked_root() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let err = write_tar(&file, io::sink(), &Excludes::default()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("is not a directory")),
        "{err}"
    );

    let missing = tmp.path().join("missing");
    let err = write_tar(&missing, io::sink(), &Excludes::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("missing")),
        "{err}"
    );

    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::write(real.join("inside"), "content").unwrap();
    symlink(&real, tmp.path().join("alias")).unwrap();
    let mut archive = Vec::new();
    write_tar(
        &tmp.path().join("alias"),
        &mut archive,
        &Excludes::default(),
    )
    .unwrap();
    let names: Vec<Vec<u8>> = read_all(&archive).into_iter().map(|e| e.name).collect();
    assert_eq!(names, [b"inside".to_vec()]);
}

#[test]
fn a_failing_writer_is_a_tar_error() {
    struct Full;
    impl io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let err = write_tar(tmp.path(), Full, &Excludes::default()).unwrap_err();
    assert!(matches!(err, Error::Tar(_)), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
}
