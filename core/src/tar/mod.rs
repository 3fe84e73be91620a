//! Tar archives as Slicer moves them (PROTOCOL §20): building, reading and
//! filtering, in memory or streaming.
//!
//! Directory copies travel as uncompressed tar whose names are relative to
//! the copied directory (PROTOCOL §10.4). This module writes exactly the
//! layout the Go SDK writes and reads everything its extractor accepts,
//! with the same name checks, so an archive built here is never refused by
//! a reader here, and no name in a hostile archive can climb out of the
//! destination (what the names meet on disk is the extractor's concern; see
//! Limitations).
//!
//! Everything works over [`std::io::Read`] and [`std::io::Write`], has no
//! platform code, and builds for `wasm32-unknown-unknown`.
//!
//! # Building an archive
//!
//! In memory, from a list of files (what a browser folder upload has):
//! [`build_archive`] sorts the entries into the protocol's order and adds
//! each parent directory the paths imply, once.
//!
//! ```
//! use slicer_core::tar::{build_archive, Entry};
//!
//! let archive = build_archive(&[
//!     Entry::file("site/index.html", "<h1>hi</h1>").with_mtime(1_700_000_000),
//!     Entry::file("site/css/app.css", "h1{}"),
//!     Entry::file("run.sh", "#!/bin/sh\n").with_mode(0o755),
//! ])?;
//! // Entries: run.sh, site/, site/css/, site/css/app.css, site/index.html
//! # assert_eq!(slicer_core::tar::read_archive(&archive)?.len(), 5);
//! # Ok::<(), slicer_core::tar::TarError>(())
//! ```
//!
//! Streaming, entry by entry in the caller's order, to any writer:
//! [`TarWriter`] (its [`append_file_from`](TarWriter::append_file_from)
//! copies a file of known size from a reader without holding it).
//!
//! # Reading an archive
//!
//! [`read_archive`] returns every directory and file with its content;
//! [`TarReader`] yields entries one by one, each readable as a stream.
//!
//! ```
//! use slicer_core::tar::{build_archive, read_archive, Entry, EntryKind};
//!
//! let archive = build_archive(&[Entry::file("a/b.txt", "hello")])?;
//! let entries = read_archive(&archive)?;
//! assert_eq!(entries[0], Entry::directory("a").with_mtime(0));
//! assert_eq!(entries[1].kind, EntryKind::File);
//! assert_eq!(entries[1].data, b"hello");
//! # Ok::<(), slicer_core::tar::TarError>(())
//! ```
//!
//! # Excluding entries
//!
//! [`Excludes`] holds the `exclude` patterns of PROTOCOL §10.8; the reader
//! ([`TarReader::with_excludes`], [`read_archive_excluding`]), the builder
//! ([`build_archive_excluding`]) and the native directory walker share it.
//!
//! # What is extracted, and how strictly
//!
//! Only directories and regular files; links, devices and FIFOs are skipped
//! silently. Every name is checked by [`validate_name`]: relative, clean
//! (`a//b`, `./a`, `a/./b` and `a/b/..` all fail), no `..` anywhere. A bad
//! name, a bad checksum, or an archive that ends inside a header or an
//! entry's content fails the whole read, with an error naming the entry or
//! the offset. Modes are normalised with [`normalize_mode`].
//!
//! # Limitations
//!
//! - No compression: the protocol moves plain tar.
//! - GNU sparse files stored with PAX sparse records fail with
//!   [`TarError::Unsupported`] rather than yielding their sparse map as
//!   content. Old-style GNU sparse entries (type `S`) are skipped like other
//!   special types.
//! - PAX global headers are read and ignored, as the Go extractor does.
//! - Backslashes are ordinary name characters (PROTOCOL §20.2.2). An
//!   extractor writing to a Windows file system must also reject names with
//!   `\` or drive prefixes; [`validate_name`] does not, because names in the
//!   archive are the same on every platform.
//! - Writing the files to disk (containment, symlink checks, temporary
//!   files, ownership; PROTOCOL §20.2.3 to §20.2.8) belongs to the native
//!   crate and the emulator; this module gives them validated names and
//!   exact contents.

mod error;
mod exclude;
mod format;
mod name;
mod reader;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

pub use error::{NameProblem, TarError};
pub use exclude::Excludes;
pub use name::{compare_names, validate_name};
pub use reader::{ArchiveEntry, TarReader};
pub use writer::TarWriter;

use error::lossy;
use name::check_name;

/// What an entry is. Archives may hold other types, but they are never
/// written and are skipped when read (PROTOCOL §20.1, §20.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (type `0`, or the legacy NUL type flag).
    File,
    /// A directory (type `5`).
    Directory,
}

/// Normalises a mode the way both the writer and the extractor do
/// (PROTOCOL §20.1, §20.2.7): only the permission bits (`0o777`) are kept,
/// dropping setuid, setgid and sticky; a regular file with any execute bit
/// gets all three.
///
/// ```
/// use slicer_core::tar::{normalize_mode, EntryKind};
///
/// assert_eq!(normalize_mode(EntryKind::File, 0o744), 0o755);
/// assert_eq!(normalize_mode(EntryKind::File, 0o4700), 0o711);
/// assert_eq!(normalize_mode(EntryKind::File, 0o644), 0o644);
/// assert_eq!(normalize_mode(EntryKind::Directory, 0o1750), 0o750);
/// ```
pub fn normalize_mode(kind: EntryKind, mode: u32) -> u32 {
    let mode = mode & 0o777;
    if kind == EntryKind::File && mode & 0o111 != 0 {
        mode | 0o111
    } else {
        mode
    }
}

/// A directory or regular file held in memory, as [`build_archive`] takes
/// them and [`read_archive`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative `/`-separated path. [`read_archive`] returns it without a
    /// trailing `/`; [`build_archive`] accepts one on directories.
    pub path: String,
    /// Directory or regular file.
    pub kind: EntryKind,
    /// Permission bits; normalised on writing and reading.
    pub mode: u32,
    /// Modification time in whole seconds since the Unix epoch; 0 means
    /// unknown, and the extractor then leaves the time alone.
    pub mtime: i64,
    /// A file's content; always empty for a directory.
    pub data: Vec<u8>,
}

impl Entry {
    /// A regular file with mode `0o644` and mtime 0.
    pub fn file(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: 0,
            data: data.into(),
        }
    }

    /// A directory with mode `0o755` and mtime 0.
    pub fn directory(path: impl Into<String>) -> Self {
        Entry {
            path: path.into(),
            kind: EntryKind::Directory,
            mode: 0o755,
            mtime: 0,
            data: Vec::new(),
        }
    }

    /// The same entry with another mode.
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The same entry with another mtime (seconds since the Unix epoch).
    pub fn with_mtime(mut self, mtime: i64) -> Self {
        self.mtime = mtime;
        self
    }
}

/// Builds an archive in the layout of PROTOCOL §20.1 from in-memory entries.
///
/// The caller's order does not matter: entries are written depth-first with
/// names sorted bytewise in each directory ([`compare_names`]). Every parent
/// directory a path implies but the list lacks is added once, with mode
/// `0o755` and mtime 0, so a plain list of files (a browser folder upload)
/// makes a complete archive.
///
/// # Errors
///
/// [`TarError::InvalidName`] for a name the reader would refuse (or a file
/// name ending in `/`), [`TarError::DuplicateEntry`] for a name given twice,
/// [`TarError::InvalidEntry`] for a directory with content or a path below a
/// regular file.
pub fn build_archive(entries: &[Entry]) -> Result<Vec<u8>, TarError> {
    build_archive_excluding(entries, &Excludes::default())
}

/// [`build_archive`], leaving out entries that `excludes` matches and
/// everything below a matching directory. Parent directories are implied
/// only by the entries that remain.
///
/// # Errors
///
/// As [`build_archive`]; names are checked before exclusions apply.
pub fn build_archive_excluding(
    entries: &[Entry],
    excludes: &Excludes,
) -> Result<Vec<u8>, TarError> {
    let mut explicit: BTreeMap<TarOrder<'_>, &Entry> = BTreeMap::new();
    for entry in entries {
        let name = check_name(entry.path.as_bytes())
            .map_err(|p| TarError::invalid_name(entry.path.as_bytes(), p))?;
        if entry.kind == EntryKind::File && name.len() != entry.path.len() {
            return Err(TarError::invalid_name(
                entry.path.as_bytes(),
                NameProblem::TrailingSlash,
            ));
        }
        if entry.kind == EntryKind::Directory && !entry.data.is_empty() {
            return Err(TarError::InvalidEntry {
                name: entry.path.clone(),
                message: "a directory cannot have content".into(),
            });
        }
        if excludes.is_excluded(name) {
            continue;
        }
        if explicit.insert(TarOrder(name), entry).is_some() {
            return Err(TarError::DuplicateEntry { name: lossy(name) });
        }
    }

    let mut implied: BTreeSet<TarOrder<'_>> = BTreeSet::new();
    for name in explicit.keys() {
        for (i, _) in name.0.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            let parent = &name.0[..i];
            match explicit.get(&TarOrder(parent)) {
                Some(entry) if entry.kind == EntryKind::File => {
                    return Err(TarError::InvalidEntry {
                        name: lossy(name.0),
                        message: format!("its parent {:?} is a regular file", lossy(parent)),
                    });
                }
                Some(_) => {}
                None => {
                    implied.insert(TarOrder(parent));
                }
            }
        }
    }

    let mut all: BTreeMap<TarOrder<'_>, Option<&Entry>> =
        implied.into_iter().map(|name| (name, None)).collect();
    all.extend(
        explicit
            .into_iter()
            .map(|(name, entry)| (name, Some(entry))),
    );

    let mut writer = TarWriter::new(Vec::new());
    for (name, entry) in all {
        match entry {
            None => writer.append_dir(name.0, 0o755, 0)?,
            Some(e) if e.kind == EntryKind::Directory => {
                writer.append_dir(name.0, e.mode, e.mtime)?
            }
            Some(e) => writer.append_file(name.0, e.mode, e.mtime, &e.data)?,
        }
    }
    writer.finish()
}

/// A name ordered by [`compare_names`].
#[derive(PartialEq, Eq)]
struct TarOrder<'a>(&'a [u8]);

impl Ord for TarOrder<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_names(self.0, other.0)
    }
}

impl PartialOrd for TarOrder<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Reads a whole archive held in memory into its directories and files,
/// in archive order. A name repeated in the archive appears twice; the
/// later entry is the one an extractor keeps (PROTOCOL §20.2.6).
///
/// # Errors
///
/// Everything [`TarReader::next_entry`] reports, and
/// [`TarError::InvalidName`] with [`NameProblem::NotUtf8`] for a name that
/// is not UTF-8 (use [`TarReader`] to handle such names as bytes).
pub fn read_archive(bytes: &[u8]) -> Result<Vec<Entry>, TarError> {
    read_archive_excluding(bytes, &Excludes::default())
}

/// [`read_archive`], skipping entries that `excludes` matches and everything
/// below a matching directory.
///
/// # Errors
///
/// As [`read_archive`].
pub fn read_archive_excluding(bytes: &[u8], excludes: &Excludes) -> Result<Vec<Entry>, TarError> {
    let mut reader = TarReader::new(bytes).with_excludes(excludes.clone());
    let mut entries = Vec::new();
    while let Some(mut entry) = reader.next_entry()? {
        let path = entry.path_str()?.to_owned();
        // The header's size is untrusted: never reserve more than the input.
        let mut data = Vec::with_capacity(entry.size().min(bytes.len() as u64) as usize);
        entry.read_to_end(&mut data)?;
        entries.push(Entry {
            path,
            kind: entry.kind(),
            mode: entry.mode(),
            mtime: entry.mtime(),
            data,
        });
    }
    Ok(entries)
}

/// The sum of the sizes of the regular files an archive holds once
/// `excludes` is applied: the `X-Slicer-Unpacked-Size` of an upload
/// (PROTOCOL §10.2) whose archive came from elsewhere. Content is skipped,
/// not kept.
///
/// # Errors
///
/// Everything [`TarReader::next_entry`] reports.
pub fn unpacked_size<R: Read>(archive: R, excludes: &Excludes) -> Result<u64, TarError> {
    let mut reader = TarReader::new(archive).with_excludes(excludes.clone());
    let mut total = 0u64;
    while let Some(entry) = reader.next_entry()? {
        if entry.kind() == EntryKind::File {
            total = total.saturating_add(entry.size());
        }
    }
    Ok(total)
}
