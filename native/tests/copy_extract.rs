//! The extractor against hostile and broken archives: nothing may be
//! written outside the destination, links inside it are never followed,
//! and a failure leaves no temporary files.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;

use common::{archive, leftovers, raw_entry, raw_file, snapshot, Node};
use slicer::copy::{extract_tar, ExtractOptions, EXTRACT_TEMP_PREFIX};
use slicer::tar::{NameProblem, TarError, TarWriter};
use slicer::Error;

/// A destination and a sibling "outside" directory holding one file, and
/// a snapshot of the outside to compare with at the end.
struct Scene {
    _tmp: tempfile::TempDir,
    dest: std::path::PathBuf,
    outside: std::path::PathBuf,
}

impl Scene {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("target.txt"), "original").unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o750)).unwrap();
        Scene {
            _tmp: tmp,
            dest,
            outside,
        }
    }

    fn extract(&self, bytes: &[u8]) -> Result<slicer::copy::ExtractSummary, Error> {
        extract_tar(bytes, &self.dest, &ExtractOptions::default())
    }

    /// The outside is exactly as created, and no temporary file is left in
    /// the destination.
    fn assert_untouched_outside(&self) {
        let outside = snapshot(&self.outside);
        assert_eq!(outside.len(), 1, "{outside:?}");
        assert!(matches!(
            &outside[&b"target.txt"[..]],
            Node::File { data, mode: 0o644, .. } if data == b"original"
        ));
        let mode = fs::metadata(&self.outside).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750, "the outside directory's mode changed");
        assert!(leftovers(&self.dest, EXTRACT_TEMP_PREFIX).is_empty());
    }
}

fn invalid_name(err: &Error) -> Option<NameProblem> {
    match err {
        Error::Tar(TarError::InvalidName { problem, .. }) => Some(*problem),
        _ => None,
    }
}

#[test]
fn absolute_and_dotdot_names_are_refused() {
    let scene = Scene::new();
    let absolute = format!("{}/evil", scene.outside.display());
    let cases: [(&[u8], NameProblem); 5] = [
        (absolute.as_bytes(), NameProblem::Absolute),
        (b"../outside/evil", NameProblem::DotDotSegment),
        (b"a/../../outside/evil", NameProblem::DotDotSegment),
        (b"./a", NameProblem::DotSegment),
        (b"a//b", NameProblem::EmptySegment),
    ];
    for (name, problem) in cases {
        // A harmless entry first: the bad one must still stop everything.
        let bytes = archive(&[
            raw_file("fine", b"ok"),
            raw_entry(name, b'0', 0o644, b"pwned", b""),
        ]);
        let err = scene.extract(&bytes).unwrap_err();
        assert_eq!(invalid_name(&err), Some(problem), "{err}");
        assert!(
            err.to_string().contains(&*String::from_utf8_lossy(name)),
            "{err}"
        );
        scene.assert_untouched_outside();
    }
    // Nothing beyond the entry that came before the bad one.
    let inside: Vec<Vec<u8>> = snapshot(&scene.dest).into_keys().collect();
    assert_eq!(inside, [b"fine".to_vec()]);
}

#[test]
fn a_symlinked_parent_inside_the_destination_is_not_followed() {
    let scene = Scene::new();
    symlink(&scene.outside, scene.dest.join("linked")).unwrap();
    // Relative links are no different.
    symlink("../outside", scene.dest.join("relative")).unwrap();
    for name in ["linked/evil", "linked/sub/evil", "relative/evil"] {
        let bytes = archive(&[raw_file(name, b"pwned")]);
        let err = scene.extract(&bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Tar(TarError::InvalidEntry { name: n, .. }) if n == name),
            "{text}"
        );
        assert!(text.contains("symbolic link"), "{text}");
        scene.assert_untouched_outside();
    }
    // A directory entry at the link must not chmod or touch its target.
    let bytes = archive(&[raw_entry(b"linked/", b'5', 0o777, b"", b"")]);
    let err = scene.extract(&bytes).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    scene.assert_untouched_outside();
}

#[test]
fn a_file_replaces_a_planted_symlink_instead_of_writing_through_it() {
    let scene = Scene::new();
    let victim = scene.dest.join("victim");
    symlink(scene.outside.join("target.txt"), &victim).unwrap();
    symlink(scene.outside.join("new.txt"), scene.dest.join("dangling")).unwrap();
    let bytes = archive(&[
        raw_file("victim", b"replaced"),
        raw_file("dangling", b"fresh"),
    ]);
    scene.extract(&bytes).unwrap();

    let meta = fs::symlink_metadata(&victim).unwrap();
    assert!(meta.file_type().is_file(), "the link was replaced");
    assert_eq!(fs::read(&victim).unwrap(), b"replaced");
    assert_eq!(fs::read(scene.dest.join("dangling")).unwrap(), b"fresh");
    scene.assert_untouched_outside();
}

#[test]
fn links_and_special_entries_in_the_archive_are_skipped() {
    let scene = Scene::new();
    let target = format!("{}/target.txt", scene.outside.display());
    let bytes = archive(&[
        raw_entry(b"sym", b'2', 0o777, b"", target.as_bytes()),
        raw_entry(b"hard", b'1', 0o644, b"", b"sym"),
        raw_entry(b"fifo", b'6', 0o644, b"", b""),
        raw_entry(b"chr", b'3', 0o644, b"", b""),
        raw_file("after", b"still extracted"),
    ]);
    let summary = scene.extract(&bytes).unwrap();
    assert_eq!(summary.files, 1);
    let inside: Vec<Vec<u8>> = snapshot(&scene.dest).into_keys().collect();
    assert_eq!(inside, [b"after".to_vec()]);
    scene.assert_untouched_outside();
}

#[test]
fn kind_conflicts_fail_with_the_entry_named() {
    let scene = Scene::new();
    fs::create_dir(scene.dest.join("dir")).unwrap();
    fs::write(scene.dest.join("file"), "x").unwrap();
    for (entry, needle) in [
        (raw_file("dir", b"over a directory"), "a directory exists"),
        (
            raw_entry(b"file/", b'5', 0o755, b"", b""),
            "not a directory",
        ),
        (
            raw_file("file/below", b"under a file"),
            "its parent \"file\"",
        ),
    ] {
        let err = scene.extract(&archive(&[entry])).unwrap_err();
        assert!(
            matches!(err, Error::Tar(TarError::InvalidEntry { .. })),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert_eq!(fs::read(scene.dest.join("file")).unwrap(), b"x");
    scene.assert_untouched_outside();
}

/// An archive cut in the middle of its second file.
fn truncated_archive() -> (Vec<u8>, usize) {
    let mut writer = TarWriter::new(Vec::new());
    writer.append_dir("d", 0o755, 0).unwrap();
    writer
        .append_file("d/first", 0o644, 0, b"complete")
        .unwrap();
    writer
        .append_file("d/second", 0o644, 0, &vec![7u8; 100_000])
        .unwrap();
    let full = writer.finish().unwrap();
    // Header blocks: d/ (512), first (512 + 512), second's header (512).
    let cut = 512 * 4 + 40_000;
    (full[..cut].to_vec(), cut)
}

#[test]
fn a_truncated_archive_fails_and_leaves_no_partial_file() {
    let scene = Scene::new();
    let (bytes, cut) = truncated_archive();
    let err = scene.extract(&bytes).unwrap_err();
    match &err {
        Error::Tar(TarError::Truncated { offset, inside }) => {
            assert_eq!(*offset, cut as u64);
            assert!(inside.contains("d/second"), "{inside}");
        }
        other => panic!("expected a truncation error, got {other}"),
    }
    // Entries before the cut stay; the cut one is not there at all.
    let tree = snapshot(&scene.dest);
    let names: Vec<&[u8]> = tree.keys().map(Vec::as_slice).collect();
    assert_eq!(names, [&b"d"[..], b"d/first"]);
    scene.assert_untouched_outside();
}

#[test]
fn the_destination_must_be_a_directory() {
    let scene = Scene::new();
    let file = scene.dest.join("plain");
    fs::write(&file, "x").unwrap();
    let err = extract_tar(&archive(&[])[..], &file, &ExtractOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("not a directory")),
        "{err}"
    );
    let err = extract_tar(
        &archive(&[])[..],
        &scene.dest.join("nope"),
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("nope")),
        "{err}"
    );

    // The root itself may be reached through a link.
    let alias = scene.dest.join("alias");
    fs::create_dir(scene.dest.join("real")).unwrap();
    symlink("real", &alias).unwrap();
    extract_tar(
        &archive(&[raw_file("x", b"y")])[..],
        &alias,
        &ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read(scene.dest.join("real/x")).unwrap(), b"y");
    assert!(Path::new(&scene.dest.join("alias")).is_symlink());
}
