//! The tar module: round trips, the writer's layout, fixtures from GNU tar
//! and Python's tarfile, hand-made edge cases, hostile names, truncation,
//! short reads and exclusions.

use std::io::{self, Read};

use slicer_core::tar::{
    build_archive, build_archive_excluding, read_archive, read_archive_excluding, unpacked_size,
    Entry, EntryKind, Excludes, NameProblem, TarError, TarReader, TarWriter,
};

const T0: i64 = 1_700_000_000;

// ---------------------------------------------------------------------------
// Helpers

/// A reader that hands out 1 to 7 bytes per call, and reports `Interrupted`
/// now and then, as a slow socket might.
struct Trickle<R> {
    inner: R,
    calls: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 11 == 0 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "try again"));
        }
        let n = buf.len().min(1 + self.calls % 7);
        self.inner.read(&mut buf[..n])
    }
}

fn trickle(bytes: &[u8]) -> Trickle<&[u8]> {
    Trickle {
        inner: bytes,
        calls: 0,
    }
}

/// Reads every entry through the streaming reader, content in small pieces.
fn read_streaming<R: Read>(source: R) -> Result<Vec<Entry>, TarError> {
    let mut reader = TarReader::new(source);
    let mut out = Vec::new();
    while let Some(mut entry) = reader.next_entry()? {
        let mut data = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        assert_eq!(data.len() as u64, entry.size());
        out.push(Entry {
            path: entry.path_str()?.to_owned(),
            kind: entry.kind(),
            mode: entry.mode(),
            mtime: entry.mtime(),
            data,
        });
    }
    Ok(out)
}

fn file(path: &str, mode: u32, mtime: i64, data: &[u8]) -> Entry {
    Entry::file(path, data).with_mode(mode).with_mtime(mtime)
}

fn dir(path: &str, mode: u32, mtime: i64) -> Entry {
    Entry::directory(path).with_mode(mode).with_mtime(mtime)
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

fn seal(block: &mut [u8; 512]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A header block written by hand, independent of the module under test.
fn header(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    header_with(name, typeflag, size, 0o644, T0 as u64, true)
}

fn header_with(
    name: &[u8],
    typeflag: u8,
    size: u64,
    mode: u32,
    mtime: u64,
    ustar: bool,
) -> [u8; 512] {
    let mut block = [0u8; 512];
    block[..name.len()].copy_from_slice(name);
    octal(&mut block[100..108], u64::from(mode));
    octal(&mut block[108..116], 0);
    octal(&mut block[116..124], 0);
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], mtime);
    block[156] = typeflag;
    if ustar {
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
    }
    seal(&mut block);
    block
}

/// Content followed by zeros up to the next block boundary.
fn padded(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out.resize(data.len().div_ceil(512) * 512, 0);
    out
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const END: [u8; 1024] = [0; 1024];

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

// ---------------------------------------------------------------------------
// Round trips and the writer's layout

#[test]
fn round_trip_keeps_names_content_modes_and_mtimes() {
    let long_ascii = format!(
        "deep/{}/{}/{}",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(90)
    );
    let long_unicode = format!("deep/{}/{}", "ü".repeat(80), "名前".repeat(30));
    assert!(long_ascii.len() > 200 && long_unicode.len() > 255);
    let input = vec![
        file("all-bytes.bin", 0o644, T0, &all_bytes()),
        file("empty.txt", 0o600, T0 + 1, b""),
        dir("empty-dir", 0o700, T0 + 2),
        file("bin/tool", 0o744, T0, b"#!/bin/sh\n"),
        file("bin/private", 0o700, T0, b"x"),
        file("bin/setuid", 0o4755, T0, b"x"),
        dir("sticky", 0o1777, T0),
        file("ünïcode/日本語.txt", 0o644, T0, "straße".as_bytes()),
        file(&long_ascii, 0o644, T0, b"long"),
        file(&long_unicode, 0o644, T0, b"longer"),
        file("epoch.txt", 0o644, 0, b"0"),
        file("before-1970.txt", 0o644, -86_400, b"old"),
        file("far-future.txt", 0o644, 1 << 40, b"new"),
        file("octal-limit.txt", 0o644, (1 << 33) - 1, b"edge"),
        file("back\\slash", 0o644, T0, b"systemd"),
        file("big.bin", 0o644, T0, &vec![0xa5; 70_000]),
    ];
    let archive = build_archive(&input).unwrap();
    let got = read_archive(&archive).unwrap();

    let find = |path: &str| {
        got.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} missing"))
    };
    assert_eq!(find("all-bytes.bin").data, all_bytes());
    assert_eq!(find("empty.txt").data, b"");
    assert_eq!(find("empty.txt").mode, 0o600);
    assert_eq!(find("empty.txt").mtime, T0 + 1);
    assert_eq!(find("empty-dir"), &dir("empty-dir", 0o700, T0 + 2));
    assert_eq!(find("bin/tool").mode, 0o755);
    assert_eq!(find("bin/private").mode, 0o711);
    assert_eq!(find("bin/setuid").mode, 0o755);
    assert_eq!(find("sticky").mode, 0o777);
    assert_eq!(find("ünïcode/日本語.txt").data, "straße".as_bytes());
    assert_eq!(find(&long_ascii).data, b"long");
    assert_eq!(find(&long_unicode).data, b"longer");
    assert_eq!(find("epoch.txt").mtime, 0);
    assert_eq!(find("before-1970.txt").mtime, -86_400);
    assert_eq!(find("far-future.txt").mtime, 1 << 40);
    assert_eq!(find("octal-limit.txt").mtime, (1 << 33) - 1);
    assert_eq!(find("back\\slash").data, b"systemd");
    assert_eq!(find("big.bin").data, vec![0xa5; 70_000]);
    // Implied parents were added once each, as 0755 directories.
    assert_eq!(find("bin"), &dir("bin", 0o755, 0));
    assert_eq!(got.iter().filter(|e| e.path == "deep").count(), 1);
    let files = got.iter().filter(|e| e.kind == EntryKind::File).count();
    assert_eq!(
        files,
        input.iter().filter(|e| e.kind == EntryKind::File).count()
    );

    // The streaming reader, fed a few bytes at a time, sees the same.
    assert_eq!(read_streaming(trickle(&archive)).unwrap(), got);
}

#[test]
fn writer_produces_the_protocol_layout() {
    let mut writer = TarWriter::new(Vec::new());
    writer.append_dir("d/", 0o2755, T0).unwrap();
    writer.append_file("d/f", 0o640, T0, b"abc").unwrap();
    let bytes = writer.finish().unwrap();

    // Two headers, one content block, two zero blocks: no record padding.
    assert_eq!(bytes.len(), 5 * 512);
    assert!(bytes[3 * 512..].iter().all(|&b| b == 0));
    let d = &bytes[..512];
    let f = &bytes[512..1024];
    assert_eq!(&d[..3], b"d/\0");
    assert_eq!(&f[..4], b"d/f\0");
    for h in [d, f] {
        assert_eq!(&h[257..265], b"ustar\x0000", "magic and version");
        assert_eq!(&h[108..116], b"0000000\0", "uid");
        assert_eq!(&h[116..124], b"0000000\0", "gid");
        assert!(
            h[265..329].iter().all(|&b| b == 0),
            "user and group names are empty"
        );
        assert_eq!(&h[136..148], format!("{T0:011o}\0").as_bytes());
    }
    assert_eq!(d[156], b'5');
    assert_eq!(&d[100..108], b"0000755\0", "setgid dropped");
    assert_eq!(&d[124..136], b"00000000000\0", "directories have size 0");
    assert_eq!(f[156], b'0');
    assert_eq!(&f[100..108], b"0000640\0");
    assert_eq!(&f[124..136], b"00000000003\0");
    assert_eq!(&bytes[1024..1027], b"abc");
    assert!(bytes[1027..1536].iter().all(|&b| b == 0));

    // GNU tar's own listing agrees on the checksums (checked in tar_gnu.rs);
    // here, the tar crate's header parser does.
    for h in [d, f] {
        let parsed = tar::Header::from_byte_slice(h);
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(parsed.cksum().unwrap(), sum);
    }
}

/// Typeflags of the headers in an archive written by this module, with the
/// PAX records (if any) that precede each entry.
fn header_kinds(bytes: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= bytes.len() && bytes[at..at + 512].iter().any(|&b| b != 0) {
        let h = &bytes[at..at + 512];
        let size =
            u64::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap() as usize;
        let size = if h[156] == b'5' { 0 } else { size };
        let body = String::from_utf8_lossy(&bytes[at + 512..at + 512 + size]).into_owned();
        out.push((h[156], if h[156] == b'x' { body } else { String::new() }));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn pax_headers_appear_only_when_ustar_cannot_hold_the_entry() {
    let split_fits = format!("{}/{}", "p".repeat(150), "n".repeat(100)); // 251 bytes
    let no_split = format!("{}/{}", "p".repeat(10), "n".repeat(101)); // name part too long
    let too_long = format!("{}/{}", "p".repeat(160), "n".repeat(99)); // prefix too long
    let mut writer = TarWriter::new(Vec::new());
    writer.append_file("short", 0o644, T0, b"").unwrap();
    writer.append_file("x".repeat(100), 0o644, T0, b"").unwrap();
    writer.append_file(&split_fits, 0o644, T0, b"").unwrap();
    // As a directory the same name gains a `/`: 101 bytes after the split.
    writer.append_dir(&split_fits, 0o755, T0).unwrap();
    writer.append_file(&no_split, 0o644, T0, b"").unwrap();
    writer.append_file(&too_long, 0o644, T0, b"").unwrap();
    writer.append_file("café", 0o644, T0, b"").unwrap();
    writer.append_file("old", 0o644, -1, b"").unwrap();
    writer.append_file("new", 0o644, 1 << 33, b"").unwrap();
    let bytes = writer.finish().unwrap();

    let kinds = header_kinds(&bytes);
    let flags: Vec<u8> = kinds.iter().map(|k| k.0).collect();
    assert_eq!(flags, b"000x5x0x0x0x0x0");
    let records: Vec<&str> = kinds
        .iter()
        .filter(|k| k.0 == b'x')
        .map(|k| k.1.as_str())
        .collect();
    assert_eq!(
        records[0],
        String::from_utf8(pax_record("path", format!("{split_fits}/").as_bytes())).unwrap()
    );
    assert_eq!(
        records[1],
        String::from_utf8(pax_record("path", no_split.as_bytes())).unwrap()
    );
    assert_eq!(
        records[2],
        String::from_utf8(pax_record("path", too_long.as_bytes())).unwrap()
    );
    assert_eq!(records[3], "14 path=café\n");
    assert_eq!(records[4], "12 mtime=-1\n");
    assert_eq!(records[5], "20 mtime=8589934592\n");

    // The split one really uses the prefix field.
    let split_header = &bytes[1024..1536];
    assert_eq!(&split_header[345..350], b"ppppp");
    assert_eq!(&split_header[..3], b"nnn");

    let names: Vec<String> = read_archive(&bytes)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(names.len(), 9);
    assert!(names.contains(&too_long) && names.contains(&"café".to_owned()));
}

#[test]
fn sizes_of_8_gib_and_more_use_a_pax_size_record() {
    // Streams 8 GiB of zeros into a sink that keeps only the headers.
    struct Head(Vec<u8>, u64);
    impl io::Write for Head {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let keep = buf.len().min(4096usize.saturating_sub(self.0.len()));
            self.0.extend_from_slice(&buf[..keep]);
            self.1 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let size = 8u64 << 30;
    let mut writer = TarWriter::new(Head(Vec::new(), 0));
    writer
        .append_file_from("huge.img", 0o644, T0, size, io::repeat(0).take(size))
        .unwrap();
    assert_eq!(writer.unpacked_size(), size);
    let Head(head, total) = writer.finish().unwrap();
    assert_eq!(total, 512 + 512 + 512 + size + 1024);
    assert_eq!(head[156], b'x');
    assert!(String::from_utf8_lossy(&head[512..1024]).starts_with("19 size=8589934592\n"));
    assert_eq!(head[1024 + 156], b'0');
    assert_eq!(
        &head[1024 + 124..1024 + 136],
        b"00000000000\0",
        "the octal field says 0"
    );

    // The reader takes the size from the PAX record.
    let mut reader = TarReader::new(io::Read::chain(&head[..1536], io::repeat(0)));
    let entry = reader.next_entry().unwrap().unwrap();
    assert_eq!(
        (entry.path_str().unwrap(), entry.size()),
        ("huge.img", size)
    );
}

#[test]
fn build_archive_sorts_depth_first_and_adds_implied_parents() {
    let input = vec![
        Entry::file("b.txt", "b"),
        Entry::file("a/z.txt", "z"),
        Entry::file("a-b/x", "x"),
        Entry::file("a/b/c.txt", "c"),
        dir("a/b/", 0o700, 5),
        Entry::file("A", "upper"),
    ];
    let got = read_archive(&build_archive(&input).unwrap()).unwrap();
    let order: Vec<(&str, EntryKind)> = got.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    use EntryKind::{Directory as D, File as F};
    assert_eq!(
        order,
        [
            ("A", F),
            ("a", D),
            ("a/b", D),
            ("a/b/c.txt", F),
            ("a/z.txt", F),
            ("a-b", D),
            ("a-b/x", F),
            ("b.txt", F)
        ]
    );
    assert_eq!(
        got[2],
        dir("a/b", 0o700, 5),
        "an explicit directory keeps its mode and mtime"
    );
    assert_eq!(got[1], dir("a", 0o755, 0));
}

#[test]
fn build_archive_refuses_inconsistent_input() {
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![Entry::file("a", "1"), Entry::file("a", "2")],
            "tar entry \"a\" is given twice",
        ),
        (
            vec![Entry::directory("d"), Entry::directory("d/")],
            "tar entry \"d\" is given twice",
        ),
        (
            vec![Entry::file("f", "x"), Entry::file("f/g", "y")],
            "its parent \"f\" is a regular file",
        ),
        (
            vec![Entry {
                data: b"x".to_vec(),
                ..Entry::directory("d")
            }],
            "a directory cannot have content",
        ),
        (
            vec![Entry::file("f/", "x")],
            "a regular file's name cannot end in `/`",
        ),
        (
            vec![Entry::file("../up", "x")],
            "invalid tar entry name \"../up\"",
        ),
        (vec![Entry::file("", "x")], "the name is empty"),
    ];
    for (entries, want) in cases {
        let err = build_archive(&entries).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn build_archive_excluding_leaves_out_matches_and_their_subtrees() {
    let input = vec![
        Entry::file("keep.txt", "k"),
        Entry::file("x.tmp", "t"),
        Entry::file("node_modules/left-pad/index.js", "n"),
        Entry::directory("cache"),
        Entry::file("cache/blob", "c"),
        Entry::file("src/a.tmp", "t"),
        Entry::file("src/main.rs", "m"),
    ];
    let excludes = Excludes::new(["*.tmp", "node_modules", "cache/**"]).unwrap();
    let archive = build_archive_excluding(&input, &excludes).unwrap();
    let names: Vec<String> = read_archive(&archive)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(names, ["keep.txt", "src", "src/main.rs"]);
    assert_eq!(
        unpacked_size(&archive[..], &Excludes::default()).unwrap(),
        2
    );
}

#[test]
fn writer_rejects_bad_names_before_writing_and_stays_usable() {
    let mut writer = TarWriter::new(Vec::new());
    writer.append_file("ok", 0o644, T0, b"1").unwrap();
    let before = writer.get_ref().len();
    for bad in ["/abs", "a/../b", "./a", "a//b", "", "a/.", "a\0b"] {
        let err = writer.append_file(bad, 0o644, T0, b"x").unwrap_err();
        assert!(
            matches!(err, TarError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
        assert!(writer.append_dir(bad, 0o755, T0).is_err());
    }
    let err = writer.append_file("dir/", 0o644, T0, b"x").unwrap_err();
    assert!(matches!(
        err,
        TarError::InvalidName {
            problem: NameProblem::TrailingSlash,
            ..
        }
    ));
    let huge = "n/".repeat(600_000) + "n";
    let err = writer.append_file(&huge, 0o644, T0, b"x").unwrap_err();
    assert!(matches!(
        err,
        TarError::InvalidName {
            problem: NameProblem::TooLong,
            ..
        }
    ));
    assert_eq!(writer.get_ref().len(), before, "nothing was written");
    writer.append_file("ok2", 0o644, T0, b"2").unwrap();
    let got = read_archive(&writer.finish().unwrap()).unwrap();
    assert_eq!(got.len(), 2);
}

#[test]
fn streamed_files_must_match_their_declared_size() {
    // Longer than declared: the entry is complete, the call says so.
    let mut writer = TarWriter::new(Vec::new());
    let err = writer
        .append_file_from("grew", 0o644, T0, 3, &b"abcdef"[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the content of \"grew\" has more than the 3 bytes declared"
    );
    writer
        .append_file_from("next", 0o644, T0, 2, trickle(b"hi"))
        .unwrap();
    assert_eq!(writer.unpacked_size(), 5);
    let got = read_archive(&writer.finish().unwrap()).unwrap();
    assert_eq!(got[0].data, b"abc");
    assert_eq!(got[1].data, b"hi");

    // Shorter than declared: the archive is broken and the writer says so.
    let mut writer = TarWriter::new(Vec::new());
    let err = writer
        .append_file_from("shrank", 0o644, T0, 10, &b"abc"[..])
        .unwrap_err();
    assert!(
        matches!(
            err,
            TarError::ContentTooShort {
                expected: 10,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    let again = writer.append_file("more", 0o644, T0, b"").unwrap_err();
    assert!(matches!(again, TarError::AlreadyFailed("writer")));
    assert!(matches!(
        writer.finish(),
        Err(TarError::AlreadyFailed("writer"))
    ));
}

#[test]
fn write_errors_poison_the_writer() {
    struct Full(usize);
    impl io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut writer = TarWriter::new(Full(700));
    let err = writer.append_file("a", 0o644, T0, &[1; 1000]).unwrap_err();
    assert!(
        matches!(&err, TarError::Io(e) if e.kind() == io::ErrorKind::StorageFull),
        "{err}"
    );
    assert!(matches!(
        writer.append_dir("b", 0o755, T0),
        Err(TarError::AlreadyFailed(_))
    ));
}

#[test]
fn non_utf8_names_travel_as_bytes() {
    let mut writer = TarWriter::new(Vec::new());
    writer
        .append_file(b"latin1-caf\xe9".as_slice(), 0o644, T0, b"x")
        .unwrap();
    let bytes = writer.finish().unwrap();
    let mut reader = TarReader::new(&bytes[..]);
    let entry = reader.next_entry().unwrap().unwrap();
    assert_eq!(entry.path_bytes(), b"latin1-caf\xe9");
    let err = entry.path_str().unwrap_err();
    assert!(matches!(
        err,
        TarError::InvalidName {
            problem: NameProblem::NotUtf8,
            ..
        }
    ));
    let err = read_archive(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar entry name \"latin1-caf\u{fffd}\": it is not valid UTF-8"
    );
}

#[test]
fn errors_convert_into_the_sdk_error() {
    let err = read_archive(b"garbage").unwrap_err();
    let sdk: slicer_core::Error = err.into();
    assert!(matches!(
        sdk,
        slicer_core::Error::Tar(TarError::Truncated { .. })
    ));
    assert!(sdk.to_string().contains("truncated"));
}

// ---------------------------------------------------------------------------
// Fixtures made by GNU tar and Python's tarfile (see fixtures/make.sh)

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn long_fixture_entries() -> Vec<Entry> {
    let a = "a".repeat(100);
    let x = "x".repeat(150);
    vec![
        dir("long", 0o755, T0),
        dir(&format!("long/{a}"), 0o755, T0),
        file(&format!("long/{a}/file-{x}"), 0o644, T0, b"deep\n"),
        dir("ünïcode", 0o755, T0),
        file("ünïcode/日本語.txt", 0o644, T0, "straße\n".as_bytes()),
    ]
}

fn modes_fixture_entries(with_empty_file: bool) -> Vec<Entry> {
    let mut entries = vec![
        dir("bin", 0o755, T0),
        file("bin/run.sh", 0o755, T0 + 100, b"#!/bin/sh\necho hi\n"),
        file("bin/suid", 0o751, T0, b"setuid\n"),
        dir("empty", 0o755, T0),
        file("empty.txt", 0o644, T0, b""),
        file("hello.txt", 0o644, T0, b"hello\n"),
    ];
    if !with_empty_file {
        entries.remove(4);
    }
    entries
}

fn python_fixture_entries(with_negative: bool) -> Vec<Entry> {
    let long_dir = format!("py/{}/{}", "ü".repeat(40), "d".repeat(90));
    let mut entries = vec![
        dir("py", 0o775, T0),
        dir(&long_dir, 0o755, T0),
        file(
            &format!("{long_dir}/{}.bin", "f".repeat(120)),
            0o711,
            T0,
            &all_bytes(),
        ),
        // 1700000000.75 in a PAX record: whole seconds, rounded down.
        file("py/float-mtime.txt", 0o644, T0, b"float\n"),
    ];
    if with_negative {
        entries.push(file("py/negative-mtime.txt", 0o644, -100, b"old\n"));
    }
    entries
}

#[test]
fn fixtures_read_as_expected_directly_and_in_short_reads() {
    let cases = [
        ("gnutar-gnu.tar", long_fixture_entries()),
        ("gnutar-pax.tar", long_fixture_entries()),
        ("gnutar-oldgnu.tar", modes_fixture_entries(true)),
        ("gnutar-v7.tar", modes_fixture_entries(false)),
        ("python-gnu.tar", python_fixture_entries(false)),
        ("python-pax.tar", python_fixture_entries(true)),
    ];
    for (name, want) in cases {
        let bytes = fixture(name);
        assert_eq!(read_archive(&bytes).unwrap(), want, "{name}");
        assert_eq!(
            read_streaming(trickle(&bytes)).unwrap(),
            want,
            "{name} in short reads"
        );
    }
}

#[test]
fn fixtures_really_use_the_formats_they_are_named_after() {
    // Guards the test above against fixtures regenerated in another format.
    let has = |name: &str, needle: &[u8]| fixture(name).windows(needle.len()).any(|w| w == needle);
    assert!(has("gnutar-gnu.tar", b"././@LongLink"));
    assert!(has("gnutar-pax.tar", b"PaxHeaders"));
    assert!(has("gnutar-oldgnu.tar", b"ustar  \0"));
    assert!(!has("gnutar-v7.tar", b"ustar"));
    assert!(has("python-pax.tar", b"comment=made by tarfile"));
    assert!(has("python-gnu.tar", b"././@LongLink"));
    let v7 = fixture("gnutar-v7.tar");
    let oldgnu = fixture("gnutar-oldgnu.tar");
    assert!(oldgnu.chunks(512).any(|h| h[156] == b'1'), "a hard link");
    assert!(oldgnu.chunks(512).any(|h| h[156] == b'2'), "a symlink");
    assert!(oldgnu.chunks(512).any(|h| h[156] == b'6'), "a FIFO");
    assert!(
        fixture("python-gnu.tar")
            .chunks(512)
            .any(|h| h[156] == b'K'),
        "a long link"
    );
    assert!(
        fixture("python-pax.tar")
            .chunks(512)
            .any(|h| h[156] == b'g'),
        "a global header"
    );
    assert_eq!(v7.len() % 512, 0);
}

// ---------------------------------------------------------------------------
// Hand-made archives for what the fixtures cannot show

#[test]
fn go_style_directory_sizes_are_treated_as_zero() {
    let archive = concat(&[
        &header(b"d/", b'5', 4096),
        &header(b"d/f", b'0', 5),
        &padded(b"hello"),
        &header_with(b"d/link", b'2', 100, 0o777, T0 as u64, true),
        &header_with(b"d/hard", b'1', 5, 0o644, T0 as u64, true),
        &header_with(b"d/chr", b'3', 7, 0o644, T0 as u64, true),
        &header_with(b"d/blk", b'4', 9, 0o644, T0 as u64, true),
        &header_with(b"d/fifo", b'6', 11, 0o644, T0 as u64, true),
        &header(b"e/", b'5', 4096),
        &END,
    ]);
    let want = vec![
        dir("d", 0o644, T0),
        file("d/f", 0o644, T0, b"hello"),
        dir("e", 0o644, T0),
    ];
    assert_eq!(read_archive(&archive).unwrap(), want);
    assert_eq!(read_streaming(trickle(&archive)).unwrap(), want);
    // The tar crate's own reader loses entries on this archive (PROTOCOL
    // §20.1), the reason this module parses blocks itself.
    let mut theirs = tar::Archive::new(&archive[..]);
    let names: io::Result<Vec<Vec<u8>>> = theirs
        .entries()
        .unwrap()
        .map(|e| e.map(|e| e.path_bytes().into_owned()))
        .collect();
    assert!(
        names
            .as_ref()
            .map_or(true, |names| !names.contains(&b"d/f".to_vec())),
        "tar 0.4 now reads Go directory sizes; the workaround may be unnecessary: {names:?}"
    );
}

#[test]
fn legacy_nul_typeflag_is_a_regular_file_or_by_slash_a_directory() {
    let archive = concat(&[
        &header_with(b"olddir/", 0, 0, 0o755, 5, false),
        &header_with(b"olddir/file", 0, 3, 0o4755, 6, false),
        &padded(b"abc"),
        &END,
    ]);
    assert_eq!(
        read_archive(&archive).unwrap(),
        vec![
            dir("olddir", 0o755, 5),
            file("olddir/file", 0o755, 6, b"abc")
        ]
    );
}

#[test]
fn pax_records_override_the_header_and_globals_are_ignored() {
    let global = pax_record("path", b"global/ignored");
    let local = [
        pax_record("path", "ünï/long name".as_bytes()),
        pax_record("mtime", b"123.5"),
        pax_record("size", b"4"),
    ]
    .concat();
    let archive = concat(&[
        &header(b"pax_global_header", b'g', global.len() as u64),
        &padded(&global),
        &header(b"plain", b'0', 1),
        &padded(b"p"),
        &header(b"PaxHeaders/x", b'x', local.len() as u64),
        &padded(&local),
        // The header's own size (9) is overridden by the record (4).
        &header(b"ascii-fallback", b'0', 9),
        &padded(b"four"),
        &header(b"after", b'0', 1),
        &padded(b"a"),
        &END,
    ]);
    let got = read_archive(&archive).unwrap();
    assert_eq!(
        got,
        vec![
            file("plain", 0o644, T0, b"p"),
            file("ünï/long name", 0o644, 123, b"four"),
            file("after", 0o644, T0, b"a"),
        ]
    );
}

#[test]
fn gnu_long_names_and_long_links_are_applied() {
    let long = "l".repeat(300);
    let mut name_data = long.clone().into_bytes();
    name_data.push(0);
    let archive = concat(&[
        &header(b"././@LongLink", b'K', 10),
        &padded(b"target\0\0\0\0"),
        &header(b"././@LongLink", b'L', name_data.len() as u64),
        &padded(&name_data),
        &header(b"truncated-name", b'0', 2),
        &padded(b"ok"),
        &END,
    ]);
    assert_eq!(
        read_archive(&archive).unwrap(),
        vec![file(&long, 0o644, T0, b"ok")]
    );
}

#[test]
fn archives_may_end_without_zero_blocks_or_padding() {
    let base = concat(&[&header(b"a", b'0', 3), b"abc"]);
    let want = vec![file("a", 0o644, T0, b"abc")];
    // No padding, no end blocks.
    assert_eq!(read_archive(&base).unwrap(), want);
    // Part of the padding.
    assert_eq!(read_archive(&concat(&[&base, &[0; 100]])).unwrap(), want);
    // Padding, no end blocks.
    assert_eq!(read_archive(&padded(&base)).unwrap(), want);
    // One end block only, or one and a half.
    assert_eq!(
        read_archive(&concat(&[&padded(&base), &[0; 512]])).unwrap(),
        want
    );
    assert_eq!(
        read_archive(&concat(&[&padded(&base), &[0; 800]])).unwrap(),
        want
    );
    // Record padding and trailing data after the end blocks are not read.
    assert_eq!(
        read_archive(&concat(&[&padded(&base), &[0; 9216], b"junk"])).unwrap(),
        want
    );
    // An empty stream is an empty archive.
    assert_eq!(read_archive(b"").unwrap(), vec![]);
    assert_eq!(read_archive(&END).unwrap(), vec![]);
}

#[test]
fn a_zero_block_followed_by_data_is_an_error() {
    let archive = concat(&[&[0; 512], &header(b"a", b'0', 0), &END]);
    let err = read_archive(&archive).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar header at offset 512: a zero block (end of archive) is followed by a non-zero block"
    );
}

#[test]
fn bad_checksums_name_the_offset() {
    let mut second = header(b"b", b'0', 0);
    second[0] = b'c';
    let archive = concat(&[&header(b"a", b'0', 1), &padded(b"1"), &second, &END]);
    let err = read_archive(&archive).unwrap_err();
    assert!(matches!(err, TarError::BadChecksum { offset: 1024 }));
    assert_eq!(
        err.to_string(),
        "bad tar header checksum in the block at offset 1024"
    );
    // Random bytes are not a header either.
    let noise: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
    assert!(matches!(
        read_archive(&noise),
        Err(TarError::BadChecksum { offset: 0 })
    ));
}

#[test]
fn malformed_headers_are_errors_with_offsets() {
    let mut bad_size = header(b"a", b'0', 0);
    bad_size[124..136].copy_from_slice(b"12345678x01\0");
    seal(&mut bad_size);
    let err = read_archive(&concat(&[&bad_size, &END])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar header at offset 0: the size field is not a number"
    );

    let big = 2 << 20;
    let archive = concat(&[&header(b"x", b'x', big), &vec![b'9'; big as usize]]);
    let err = read_archive(&archive).unwrap_err();
    assert!(
        err.to_string().contains("larger than the 1048576 allowed"),
        "{err}"
    );

    let junk = b"not a record\n";
    let archive = concat(&[
        &header(b"x", b'x', junk.len() as u64),
        &padded(junk),
        &header(b"a", b'0', 0),
        &END,
    ]);
    let err = read_archive(&archive).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar header at offset 0: a PAX record's length is malformed"
    );

    let record = pax_record("path", b"p");
    let archive = concat(&[
        &header(b"x", b'x', record.len() as u64),
        &padded(&record),
        &END,
    ]);
    let err = read_archive(&archive).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tar header at offset 1024: the archive ends after the extended header at offset 0, before its entry"
    );
}

#[test]
fn pax_sparse_files_are_refused_not_misread() {
    let records = [
        pax_record("GNU.sparse.major", b"1"),
        pax_record("GNU.sparse.name", b"disk.img"),
    ]
    .concat();
    let archive = concat(&[
        &header(b"x", b'x', records.len() as u64),
        &padded(&records),
        &header(b"GNUSparseFile.0/disk.img", b'0', 512),
        &[0; 512],
        &END,
    ]);
    let err = read_archive(&archive).unwrap_err();
    assert!(matches!(err, TarError::Unsupported { .. }));
    assert!(err.to_string().contains("GNU sparse file"), "{err}");
}

// ---------------------------------------------------------------------------
// Hostile names

#[test]
fn traversal_corpus_is_rejected_naming_the_entry() {
    let corpus: [(&[u8], NameProblem); 11] = [
        (b"/etc/passwd", NameProblem::Absolute),
        (b"../escape", NameProblem::DotDotSegment),
        (b"a/../../b", NameProblem::DotDotSegment),
        (b"a/b/..", NameProblem::DotDotSegment),
        (b"..", NameProblem::DotDotSegment),
        (b"./a", NameProblem::DotSegment),
        (b"./", NameProblem::DotSegment),
        (b"a/./b", NameProblem::DotSegment),
        (b"a//b", NameProblem::EmptySegment),
        (b"//", NameProblem::Absolute),
        (b"", NameProblem::Empty),
    ];
    for (name, problem) in corpus {
        let shown = String::from_utf8_lossy(name).into_owned();
        // As a file, a directory and a symlink (skipped types are checked
        // too), after a good entry, and through PAX and GNU long names.
        let pax = pax_record("path", if name.is_empty() { b"/" } else { name });
        let mut gnu = name.to_vec();
        gnu.push(0);
        let archives = [
            concat(&[
                &header(b"fine", b'0', 1),
                &padded(b"1"),
                &header(name, b'0', 1),
                &padded(b"x"),
                &END,
            ]),
            concat(&[&header(name, b'5', 0), &END]),
            concat(&[&header(name, b'2', 0), &END]),
            concat(&[
                &header(b"x", b'x', pax.len() as u64),
                &padded(&pax),
                &header(b"ok", b'0', 0),
                &END,
            ]),
            concat(&[
                &header(b"././@LongLink", b'L', gnu.len() as u64),
                &padded(&gnu),
                &header(b"ok", b'0', 0),
                &END,
            ]),
        ];
        for (i, archive) in archives.iter().enumerate() {
            if i == 4 && name.is_empty() {
                // An empty GNU long name is no long name: the header's applies.
                assert_eq!(
                    read_archive(archive).unwrap(),
                    vec![file("ok", 0o644, T0, b"")]
                );
                continue;
            }
            // An empty PAX path means "no override"; "/" stands in for it.
            let shown = if i == 3 && name.is_empty() {
                "/".to_owned()
            } else {
                shown.clone()
            };
            let err = read_archive(archive).unwrap_err();
            match &err {
                TarError::InvalidName {
                    name: got,
                    problem: p,
                } => {
                    assert_eq!((got.as_str(), *p), (shown.as_str(), problem), "archive {i}");
                }
                other => panic!("archive {i} for {shown:?}: {other}"),
            }
            assert!(err.to_string().contains(&format!("{shown:?}")), "{err}");
        }
    }
}

#[test]
fn the_reader_refuses_to_continue_after_an_error() {
    let archive = concat(&[&header(b"../x", b'0', 0), &header(b"fine", b'0', 0), &END]);
    let mut reader = TarReader::new(&archive[..]);
    assert!(matches!(
        reader.next_entry(),
        Err(TarError::InvalidName { .. })
    ));
    assert!(matches!(
        reader.next_entry(),
        Err(TarError::AlreadyFailed("reader"))
    ));
}

// ---------------------------------------------------------------------------
// Truncation

#[test]
fn every_truncation_is_an_error_or_a_clean_prefix() {
    let input = vec![
        Entry::file("a.txt", "x".repeat(700)),
        Entry::directory("d"),
        Entry::file("d/empty", ""),
        Entry::file(format!("d/{}", "n".repeat(120)), "pax named"),
        Entry::file("z", "zz"),
    ];
    let archive = build_archive(&input).unwrap();
    let full = read_archive(&archive).unwrap();
    let mut errors = 0;
    for cut in 0..archive.len() {
        let bytes = &archive[..cut];
        match read_archive(bytes) {
            Ok(prefix) => {
                // Only a cut at an entry boundary, in padding or in the end
                // blocks may succeed, and then with whole entries.
                assert!(prefix.len() <= full.len());
                assert_eq!(prefix[..], full[..prefix.len()], "cut at {cut}");
            }
            Err(TarError::Truncated { offset, .. }) => {
                assert_eq!(offset, cut as u64);
                errors += 1;
            }
            Err(other) => panic!("cut at {cut}: {other}"),
        }
        let streamed = read_streaming(trickle(bytes));
        assert_eq!(
            streamed.is_ok(),
            read_archive(bytes).is_ok(),
            "cut at {cut}"
        );
    }
    assert!(
        errors > archive.len() / 2,
        "most cuts land in a header or content"
    );
}

#[test]
fn truncation_messages_say_where() {
    let archive = build_archive(&[Entry::file("data.bin", vec![7u8; 1000])]).unwrap();
    let err = read_archive(&archive[..300]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the tar archive is truncated: it ends at offset 300, inside the header block at offset 0"
    );
    let err = read_archive(&archive[..900]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the tar archive is truncated: it ends at offset 900, inside the content of entry \"data.bin\""
    );

    // Streaming: the entry's reader fails with UnexpectedEof carrying the
    // tar error, and never returns a short file silently.
    let mut reader = TarReader::new(&archive[..900]);
    let mut entry = reader.next_entry().unwrap().unwrap();
    let mut sink = Vec::new();
    let err = entry.read_to_end(&mut sink).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(matches!(
        TarError::from(err),
        TarError::Truncated { offset: 900, .. }
    ));
    assert!(matches!(
        reader.next_entry(),
        Err(TarError::AlreadyFailed("reader"))
    ));

    // Skipping the unread content of a truncated entry fails too.
    let mut reader = TarReader::new(&archive[..900]);
    drop(reader.next_entry().unwrap());
    assert!(matches!(
        reader.next_entry(),
        Err(TarError::Truncated { .. })
    ));
}

// ---------------------------------------------------------------------------
// Exclusions and sizes while reading

#[test]
fn the_reader_skips_excluded_entries_and_their_subtrees() {
    let archive = build_archive(&[
        Entry::file("keep/a.txt", "a"),
        Entry::file("keep/b.tmp", "b"),
        Entry::file("skipme/x", "x"),
        Entry::file("skipme/deep/y", "y"),
        Entry::file("nested/a.txt", "n"),
        Entry::file("nested/d/a.txt", "nd"),
        Entry::file("web/node_modules/m/i.js", "m"),
    ])
    .unwrap();
    let excludes =
        Excludes::new(["*.tmp", "skipme/**", "nested/*.txt", "**/node_modules/**"]).unwrap();
    let names: Vec<String> = read_archive_excluding(&archive, &excludes)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        names,
        [
            "keep",
            "keep/a.txt",
            "nested",
            "nested/d",
            "nested/d/a.txt",
            "web"
        ]
    );
    assert_eq!(unpacked_size(trickle(&archive), &excludes).unwrap(), 3);
    assert_eq!(
        unpacked_size(&archive[..], &Excludes::default()).unwrap(),
        8
    );
}
