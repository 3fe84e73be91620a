//! Extracting a tar stream onto the local file system under the rules of
//! PROTOCOL §20.2.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use slicer_core::tar::{EntryKind, Excludes, TarError, TarReader};
use slicer_core::{Error, Result};

use super::{local_error, random_name};

/// Prefix of the temporary file each extracted file is written to before it
/// is renamed into place.
pub const EXTRACT_TEMP_PREFIX: &str = ".slicer-extract-";

/// How [`extract_tar`] treats an archive.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Entries to skip (PROTOCOL §10.8); everything below an excluded
    /// directory is skipped too.
    pub excludes: Excludes,
    /// Owner given to every file and directory the extraction creates.
    /// `None` leaves that id as the process made it. Failures to change
    /// ownership are ignored, as PROTOCOL §20.2.8 prescribes.
    pub uid: Option<u32>,
    /// Group given to every created file and directory; see `uid`.
    pub gid: Option<u32>,
}

impl ExtractOptions {
    /// Options that skip what `excludes` matches.
    pub fn with_excludes(mut self, excludes: Excludes) -> Self {
        self.excludes = excludes;
        self
    }
}

/// What [`extract_tar`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractSummary {
    /// Regular files written (a name given twice counts twice).
    pub files: u64,
    /// Directory entries applied, created or already present.
    pub directories: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Extracts a tar stream into the existing directory `dest`, reading it
/// entry by entry so no file's content is ever held in memory.
///
/// The rules are PROTOCOL §20.2, on the local file system:
///
/// - Only directories and regular files are extracted; links, devices and
///   FIFOs are skipped with their content. Entries `options.excludes`
///   matches are skipped.
/// - A bad name (absolute, `..`, not clean) fails the whole extraction.
/// - Nothing is written outside `dest`. `dest` itself may be reached
///   through a symbolic link, but every directory below it is checked with
///   `lstat`, and an entry whose parent inside `dest` is a symbolic link
///   fails with an error naming the entry, so a planted `linked -> /etc`
///   cannot redirect `linked/passwd`.
/// - Each file is written to a fresh `.slicer-extract-<32 hex>` file in its
///   directory (exclusive create, mode 0600), given its mode and mtime, and
///   renamed over its final name: an existing file, or a symbolic link
///   planted at that name, is replaced and never written through, and a
///   later entry of the same name replaces an earlier one.
/// - Missing parent directories are created (mode 0755, less the umask).
///   Directory entries are created, then given their mode and mtime once
///   every entry is written, deepest first, so a read-only directory can
///   still be filled and writing files does not disturb the times.
/// - Modes are normalised (permission bits; any execute bit becomes all
///   three); an mtime of 0 is left alone.
///
/// An archive that ends early (inside a header or a file's content) is an
/// error; the file being written then is removed, and entries already
/// extracted stay. Extract into an empty staging directory and rename it
/// when the whole archive must appear or nothing (as
/// [`cp_from_vm`](super::CopyExt::cp_from_vm) does).
///
/// # Errors
///
/// [`Error::InvalidInput`] when `dest` is not a directory; [`Error::Tar`]
/// for a corrupt, truncated or hostile archive, naming the entry (a
/// symbolic link in the way, a file where a directory is needed or the
/// reverse); [`Error::Io`] naming the local path that could not be
/// created or written.
///
/// # Examples
///
/// ```no_run
/// use slicer::copy::{extract_tar, ExtractOptions};
///
/// # fn main() -> slicer::Result<()> {
/// let archive = std::fs::File::open("/tmp/project.tar").expect("open");
/// std::fs::create_dir_all("/tmp/project").expect("mkdir");
/// let summary = extract_tar(archive, "/tmp/project".as_ref(), &ExtractOptions::default())?;
/// println!("{} files", summary.files);
/// # Ok(()) }
/// ```
pub fn extract_tar<R: Read>(
    reader: R,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<ExtractSummary> {
    let meta = fs::metadata(dest).map_err(local_error(dest))?;
    if !meta.is_dir() {
        return Err(Error::InvalidInput(format!(
            "the extraction destination {} is not a directory",
            dest.display()
        )));
    }
    let mut reader = TarReader::new(reader).with_excludes(options.excludes.clone());
    let mut extractor = Extractor {
        root: dest,
        options,
        verified: HashSet::new(),
        dirs: Vec::new(),
        dir_index: HashMap::new(),
        summary: ExtractSummary::default(),
    };
    while let Some(mut entry) = reader.next_entry()? {
        let rel = entry.path_bytes().to_vec();
        match entry.kind() {
            EntryKind::Directory => extractor.directory(&rel, entry.mode(), entry.mtime())?,
            EntryKind::File => {
                let (mode, mtime, size) = (entry.mode(), entry.mtime(), entry.size());
                extractor.file(&rel, mode, mtime, size, &mut entry)?
            }
        }
    }
    extractor.finish_directories()?;
    Ok(extractor.summary)
}

struct Extractor<'a> {
    root: &'a Path,
    options: &'a ExtractOptions,
    /// Relative paths known to be real directories (not links) inside the
    /// root: checked or created during this extraction. The extractor never
    /// creates links, so an archive cannot turn one of them into a link.
    verified: HashSet<Vec<u8>>,
    /// Directory entries whose mode and mtime are applied at the end.
    dirs: Vec<PendingDir>,
    /// Where each directory sits in `dirs`, so a repeated entry updates it.
    dir_index: HashMap<Vec<u8>, usize>,
    summary: ExtractSummary,
}

struct PendingDir {
    rel: Vec<u8>,
    mode: u32,
    mtime: i64,
}

impl Extractor<'_> {
    fn path(&self, rel: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel))
    }

    /// Makes sure every parent of `rel` is a real directory inside the
    /// root, creating missing ones and refusing links.
    fn ensure_parents(&mut self, rel: &[u8]) -> Result<()> {
        let slashes = rel.iter().enumerate().filter(|&(_, &b)| b == b'/');
        let prefixes: Vec<usize> = slashes.map(|(i, _)| i).collect();
        for end in prefixes {
            let prefix = &rel[..end];
            if self.verified.contains(prefix) {
                continue;
            }
            let path = self.path(prefix);
            match lstat(&path)? {
                Some(meta) if meta.is_dir() => {}
                Some(meta) => return Err(blocked(rel, prefix, &meta)),
                None => self.create_dir(&path, 0o755, rel, prefix)?,
            }
            self.verified.insert(prefix.to_vec());
        }
        Ok(())
    }

    /// Creates one directory; losing a race to another creator is fine as
    /// long as what is there now is a real directory.
    fn create_dir(&self, path: &Path, mode: u32, rel: &[u8], at: &[u8]) -> Result<()> {
        match DirBuilder::new().mode(mode).create(path) {
            Ok(()) => {
                self.chown_path(path);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match lstat(path)? {
                Some(meta) if meta.is_dir() => Ok(()),
                Some(meta) => Err(blocked(rel, at, &meta)),
                None => Err(local_error(path)(e)),
            },
            Err(e) => Err(local_error(path)(e)),
        }
    }

    fn directory(&mut self, rel: &[u8], mode: u32, mtime: i64) -> Result<()> {
        self.ensure_parents(rel)?;
        if !self.verified.contains(rel) {
            let path = self.path(rel);
            match lstat(&path)? {
                Some(meta) if meta.is_dir() => {}
                Some(meta) => return Err(blocked(rel, rel, &meta)),
                // Owner-writable until the end, whatever its final mode.
                None => self.create_dir(&path, 0o700, rel, rel)?,
            }
            self.verified.insert(rel.to_vec());
        }
        let pending = PendingDir {
            rel: rel.to_vec(),
            mode,
            mtime,
        };
        match self.dir_index.get(rel) {
            Some(&i) => self.dirs[i] = pending,
            None => {
                self.dir_index.insert(rel.to_vec(), self.dirs.len());
                self.dirs.push(pending);
            }
        }
        self.summary.directories += 1;
        Ok(())
    }

    fn file(
        &mut self,
        rel: &[u8],
        mode: u32,
        mtime: i64,
        size: u64,
        content: &mut impl Read,
    ) -> Result<()> {
        self.ensure_parents(rel)?;
        let path = self.path(rel);
        if let Some(meta) = lstat(&path)? {
            if meta.is_dir() {
                return Err(entry_error(
                    rel,
                    "a directory exists at its place in the destination",
                ));
            }
        }
        let parent = path.parent().unwrap_or(self.root);
        let mut temp = TempFile::create(parent, EXTRACT_TEMP_PREFIX)?;
        let written = copy_content(content, temp.file_mut(), &path)?;
        if size != 0 && written != size {
            return Err(entry_error(
                rel,
                &format!("its content has {written} bytes, but its header says {size}"),
            ));
        }
        let file = temp.file_mut();
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(local_error(&path))?;
        if self.chowns() {
            // Ignored on purpose, as for directories.
            let _ = std::os::unix::fs::fchown(&*file, self.options.uid, self.options.gid);
        }
        if let Some(time) = mtime_of(mtime) {
            file.set_times(FileTimes::new().set_modified(time))
                .map_err(local_error(&path))?;
        }
        temp.persist(&path)?;
        self.summary.files += 1;
        self.summary.bytes += written;
        Ok(())
    }

    /// Applies the directories' modes and mtimes, deepest first: a parent
    /// losing its write or search bit cannot then block its children.
    fn finish_directories(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.iter().filter(|&&b| b == b'/').count()));
        for dir in dirs {
            let path = self.path(&dir.rel);
            // Opened without following a link, so the times and mode land
            // on the directory that was checked, never on a link's target.
            let handle = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(&path)
                .map_err(local_error(&path))?;
            if let Some(time) = mtime_of(dir.mtime) {
                handle
                    .set_times(FileTimes::new().set_modified(time))
                    .map_err(local_error(&path))?;
            }
            handle
                .set_permissions(Permissions::from_mode(dir.mode))
                .map_err(local_error(&path))?;
        }
        Ok(())
    }

    fn chowns(&self) -> bool {
        self.options.uid.is_some() || self.options.gid.is_some()
    }

    fn chown_path(&self, path: &Path) {
        if self.chowns() {
            // Ignored on purpose (PROTOCOL §20.2.8): an unprivileged
            // extraction keeps its own ids.
            let _ = std::os::unix::fs::lchown(path, self.options.uid, self.options.gid);
        }
    }
}

/// Copies an entry's content, telling archive errors (the reader) from
/// local ones (the file being written).
fn copy_content(content: &mut impl Read, file: &mut File, path: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Tar(TarError::from(e))),
        };
        file.write_all(&buf[..n]).map_err(local_error(path))?;
        written += n as u64;
    }
}

/// `lstat`, with a missing path as `None`.
fn lstat(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(local_error(path)(e)),
    }
}

/// The error for an entry whose path (or the parent `at`) is occupied by
/// something other than a real directory.
fn blocked(rel: &[u8], at: &[u8], meta: &fs::Metadata) -> Error {
    let at = String::from_utf8_lossy(at);
    let what = if meta.file_type().is_symlink() {
        "is a symbolic link inside the destination, which is never followed"
    } else {
        "exists and is not a directory"
    };
    if at.len() == rel.len() {
        entry_error(rel, &format!("its path {what}"))
    } else {
        entry_error(rel, &format!("its parent {at:?} {what}"))
    }
}

fn entry_error(rel: &[u8], message: &str) -> Error {
    Error::Tar(TarError::InvalidEntry {
        name: String::from_utf8_lossy(rel).into_owned(),
        message: message.to_owned(),
    })
}

/// The time an archive's mtime stands for; `None` for 0 (PROTOCOL §20.2.9:
/// unknown, leave it) or a value the platform cannot represent.
fn mtime_of(secs: i64) -> Option<SystemTime> {
    if secs == 0 {
        return None;
    }
    let offset = Duration::from_secs(secs.unsigned_abs());
    if secs > 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    }
}

/// A freshly created temporary file that is removed unless it is renamed
/// into place, so an error or a cancelled copy leaves nothing behind.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Creates `<dir>/<prefix><32 hex>` exclusively, mode 0600.
    pub(crate) fn create(dir: &Path, prefix: &str) -> Result<Self> {
        let path = dir.join(random_name(prefix));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(local_error(&path))?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// The open file, for writing.
    pub(crate) fn file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file stays open until `persist` consumes the guard")
    }

    /// Closes the file and renames it over `target` (replacing a file or
    /// link there).
    pub(crate) fn persist(mut self, target: &Path) -> Result<()> {
        drop(self.file.take());
        fs::rename(&self.path, target).map_err(local_error(target))?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            // Best effort: the copy has already failed with a better error.
            let _ = fs::remove_file(&self.path);
        }
    }
}
