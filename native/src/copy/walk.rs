//! Walking a local directory into a tar stream in the layout of PROTOCOL
//! §20.1, without ever holding a file's content.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use slicer_core::tar::{Excludes, TarError, TarWriter};
use slicer_core::{Error, Result};

use super::local_error;

/// What [`write_tar`] wrote, or what [`measure_tree`] found it would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TarSummary {
    /// Regular files archived.
    pub files: u64,
    /// Directories archived (the root directory itself has no entry).
    pub directories: u64,
    /// Sum of the regular files' sizes: the `X-Slicer-Unpacked-Size` of an
    /// upload (PROTOCOL §10.2).
    pub unpacked_size: u64,
    /// Bytes of the archive, headers and end blocks included.
    pub archive_size: u64,
}

/// Writes the tar of a local directory's contents to `writer`, streaming
/// each file from disk.
///
/// The layout is PROTOCOL §20.1: names relative to `dir` (which has no entry
/// of its own), a depth-first walk with names sorted bytewise inside each
/// directory, directories before their contents, permission bits only
/// (any execute bit on a file becomes all three), mtimes in whole seconds,
/// ownership zero. Symbolic links, devices, FIFOs and sockets inside `dir`
/// are skipped; `dir` itself may be reached through a symbolic link.
/// Entries that `excludes` matches are left out, and an excluded directory
/// is not entered at all.
///
/// Nothing is buffered beyond one 64 KiB block, so the writer decides how
/// much memory the archive takes (a file or a bounded channel keeps it
/// small). Files are opened without following symbolic links, so a file
/// swapped for a link during the walk is never read through.
///
/// # Errors
///
/// [`Error::InvalidInput`] when `dir` is not a directory; [`Error::Io`]
/// naming the local path that could not be listed, opened or read, or the
/// file whose size changed while it was archived; [`Error::Tar`] when
/// `writer` fails (the archive is then incomplete).
///
/// # Examples
///
/// ```no_run
/// use slicer::copy::write_tar;
/// use slicer::tar::Excludes;
///
/// # fn main() -> slicer::Result<()> {
/// let excludes = Excludes::new(["target", "*.tmp"])?;
/// let out = std::fs::File::create("/tmp/project.tar").expect("create");
/// let summary = write_tar("/home/me/project".as_ref(), out, &excludes)?;
/// println!("{} files, {} bytes", summary.files, summary.unpacked_size);
/// # Ok(()) }
/// ```
pub fn write_tar<W: Write>(dir: &Path, writer: W, excludes: &Excludes) -> Result<TarSummary> {
    let mut tar = TarWriter::new(Counting::new(writer));
    let mut summary = TarSummary::default();
    walk(dir, excludes, |node| match node.kind {
        NodeKind::Directory => {
            summary.directories += 1;
            tar.append_dir(&node.rel, node.mode(), node.meta.mtime())
                .map_err(Error::Tar)
        }
        NodeKind::File => {
            summary.files += 1;
            append_file(&mut tar, node)
        }
    })?;
    summary.unpacked_size = tar.unpacked_size();
    summary.archive_size = tar.finish()?.count;
    Ok(summary)
}

/// Walks `dir` exactly as [`write_tar`] would and returns the same summary,
/// without opening or reading any file: the cheap pre-walk that gives an
/// upload its `X-Slicer-Unpacked-Size` and its expected length.
///
/// # Errors
///
/// As [`write_tar`], except that file contents are never read.
pub fn measure_tree(dir: &Path, excludes: &Excludes) -> Result<TarSummary> {
    let mut tar = TarWriter::new(Counting::new(io::sink()));
    let mut summary = TarSummary::default();
    walk(dir, excludes, |node| {
        let (mode, mtime) = (node.mode(), node.meta.mtime());
        let appended = match node.kind {
            NodeKind::Directory => {
                summary.directories += 1;
                tar.append_dir(&node.rel, mode, mtime)
            }
            NodeKind::File => {
                summary.files += 1;
                let size = node.meta.len();
                tar.append_file_from(&node.rel, mode, mtime, size, Unread(size))
            }
        };
        appended.map_err(Error::Tar)
    })?;
    summary.unpacked_size = tar.unpacked_size();
    summary.archive_size = tar.finish()?.count;
    Ok(summary)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Directory,
    File,
}

/// One directory or regular file met by the walk.
struct Node {
    /// Name in the archive: relative, `/`-separated, raw bytes.
    rel: Vec<u8>,
    path: PathBuf,
    kind: NodeKind,
    /// From `lstat`.
    meta: Metadata,
}

impl Node {
    fn mode(&self) -> u32 {
        self.meta.mode() & 0o7777
    }
}

/// A directory being walked: its path, its archive name, and the children
/// still to visit, in bytewise order.
struct Frame {
    path: PathBuf,
    rel: Vec<u8>,
    children: std::vec::IntoIter<OsString>,
}

/// Visits every directory and regular file below `root`, depth-first with
/// names sorted bytewise, skipping excluded subtrees and anything that is
/// neither. An explicit stack rather than recursion: a deep tree must not
/// overflow a blocking thread's stack.
fn walk(
    root: &Path,
    excludes: &Excludes,
    mut visit: impl FnMut(&Node) -> Result<()>,
) -> Result<()> {
    let meta = fs::metadata(root).map_err(local_error(root))?;
    if !meta.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let mut stack = vec![Frame {
        path: root.to_path_buf(),
        rel: Vec::new(),
        children: sorted_children(root)?,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(name) = frame.children.next() else {
            stack.pop();
            continue;
        };
        let mut rel = frame.rel.clone();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let path = frame.path.join(&name);
        // Walking top-down, the parents were already checked: the name
        // itself is all that can match here.
        if excludes.matches(&rel) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(local_error(&path))?;
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            NodeKind::Directory
        } else if file_type.is_file() {
            NodeKind::File
        } else {
            tracing::debug!(path = %path.display(), "skipping a link or special file");
            continue;
        };
        let node = Node {
            rel,
            path,
            kind,
            meta,
        };
        visit(&node)?;
        if kind == NodeKind::Directory {
            let children = sorted_children(&node.path)?;
            stack.push(Frame {
                path: node.path,
                rel: node.rel,
                children,
            });
        }
    }
    Ok(())
}

fn sorted_children(dir: &Path) -> Result<std::vec::IntoIter<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(local_error(dir))? {
        names.push(entry.map_err(local_error(dir))?.file_name());
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names.into_iter())
}

/// Streams one file into the archive. The file is opened without following
/// links and without blocking on a FIFO swapped in since the `lstat`, and
/// its size, mode and mtime come from the open descriptor.
fn append_file<W: Write>(tar: &mut TarWriter<W>, node: &Node) -> Result<()> {
    let path = &node.path;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(local_error(path))?;
    let meta = file.metadata().map_err(local_error(path))?;
    if !meta.is_file() {
        return Err(changed(path, "it is no longer a regular file"));
    }
    let mut source = Tracked {
        file: &mut file,
        error: None,
    };
    let size = meta.len();
    let appended = tar.append_file_from(
        &node.rel,
        meta.mode() & 0o7777,
        meta.mtime(),
        size,
        &mut source,
    );
    match appended {
        Ok(()) => Ok(()),
        Err(_) if source.error.is_some() => Err(Error::Io {
            path: path.display().to_string(),
            source: source.error.take().expect("checked above"),
        }),
        Err(e @ (TarError::ContentTooShort { .. } | TarError::ContentTooLong { .. })) => {
            Err(changed(path, &format!("its size changed ({e})")))
        }
        Err(e) => Err(Error::Tar(e)),
    }
}

fn changed(path: &Path, what: &str) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the file changed while it was archived: {what}"),
        ),
    }
}

/// A file reader that keeps its own read errors, so they can be told from
/// errors of the archive's writer (both reach the caller as tar I/O).
struct Tracked<'a> {
    file: &'a mut File,
    error: Option<io::Error>,
}

impl Read for Tracked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|e| {
            let kind = e.kind();
            if kind != io::ErrorKind::Interrupted {
                self.error = Some(e);
            }
            io::Error::from(kind)
        })
    }
}

/// Stands in for a file's content when only the archive's length matters:
/// it reports `n` bytes read without touching them, so measuring costs no
/// disk reads and no copying.
struct Unread(u64);

impl Read for Unread {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
        self.0 -= n as u64;
        Ok(n)
    }
}

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W> Counting<W> {
    fn new(inner: W) -> Self {
        Counting { inner, count: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
