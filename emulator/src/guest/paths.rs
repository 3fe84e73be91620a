//! Guest paths: `~` expansion, resolution inside a VM's root directory that
//! never leaves it, and race-free file operations through directory
//! descriptors.
//!
//! Resolution works component by component on a [`Namespace`]: symlinks are
//! read and followed by this code, never by the kernel, absolute targets
//! start again at the VM's root (as they would inside the guest), and a `..`
//! that would climb above the root is refused. Paths given by clients may
//! not contain `..` at all.
//!
//! The resolved path is symlink-free. Every operation then opens it with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` relative to a descriptor
//! of the root and works on names relative to directory descriptors with
//! `O_NOFOLLOW`, so a guest process that swaps a directory for a symlink
//! while the emulator works makes the operation fail instead of redirecting
//! it outside the root.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};

use crate::error::ApiError;

/// Most symlinks one resolution follows (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Top-level directories the sandbox takes from the host (or mounts
/// itself); they are not part of a VM's root directory.
pub(crate) const HOST_DIRS: [&str; 7] = ["usr", "bin", "lib", "lib64", "sbin", "proc", "dev"];

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

/// The `lstat` facts the emulator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Entry type.
    pub kind: Kind,
    /// Permission bits, with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: u32,
}

impl Meta {
    // The `Stat` field types differ between architectures; the conversions
    // are no-ops only on some.
    #[allow(clippy::useless_conversion)]
    pub(crate) fn from_stat(st: &rfs::Stat) -> Meta {
        let kind = match rfs::FileType::from_raw_mode(st.st_mode) {
            rfs::FileType::Directory => Kind::Dir,
            rfs::FileType::RegularFile => Kind::File,
            rfs::FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        Meta {
            kind,
            mode: u32::from(st.st_mode) & 0o7777,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: i64::from(st.st_mtime),
            mtime_nsec: u32::try_from(u64::from(st.st_mtime_nsec)).unwrap_or(0),
        }
    }

    pub(crate) fn from_metadata(m: &std::fs::Metadata) -> Meta {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        Meta {
            kind,
            mode: m.mode() & 0o7777,
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: u32::try_from(m.mtime_nsec()).unwrap_or(0),
        }
    }
}

/// One step of a lookup in a [`Namespace`].
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Anything but a symlink.
    Entry(Meta),
    /// A symlink, with its target.
    Link(Meta, OsString),
    /// Exists, but its contents are not visible to the emulator (the
    /// sandbox's own `/proc` and `/dev`); resolution stops here.
    Opaque,
}

/// A tree that paths can be resolved in.
pub(crate) trait Namespace {
    /// `lstat` of the symlink-free path `comps` (empty: the root). Fails
    /// with `NotFound` or `NotADirectory` like the system call.
    fn lookup(&self, comps: &[OsString]) -> io::Result<Node>;
}

/// A resolved guest path.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Components from the root, with every symlink resolved (except a final
    /// one that was asked not to be followed). Empty for the root itself.
    pub comps: Vec<OsString>,
    /// What is there; `None` when the path does not exist.
    pub meta: Option<Meta>,
    /// For a missing path: whether its parent directory exists.
    pub parent_exists: bool,
    /// The path ended in an opaque directory (`/proc`, `/dev`).
    pub opaque: bool,
}

impl Resolved {
    /// The guest path it names, such as `/home/ubuntu/x`.
    pub fn guest_path(&self) -> String {
        guest_path(&self.comps)
    }

    /// Whether it exists and is a directory.
    pub fn is_dir(&self) -> bool {
        self.meta.is_some_and(|m| m.kind == Kind::Dir)
    }

    /// The last component (`None` for the root).
    pub fn name(&self) -> Option<&OsStr> {
        self.comps.last().map(OsString::as_os_str)
    }

    /// The components of the parent directory.
    pub fn parent(&self) -> &[OsString] {
        &self.comps[..self.comps.len().saturating_sub(1)]
    }
}

/// `/a/b` from `[a, b]`; `/` for none.
pub(crate) fn guest_path(comps: &[OsString]) -> String {
    let mut out = String::new();
    for c in comps {
        out.push('/');
        out.push_str(&c.to_string_lossy());
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Splits a client-supplied guest path into components: `~` and `~/x` are
/// the user's `home`, a relative path is relative to `home`. `.` and empty
/// segments are dropped.
///
/// # Errors
/// 400 for an empty path, a NUL byte, or any `..` segment.
pub(crate) fn parse_guest_path(text: &str, home: &str) -> Result<Vec<OsString>, ApiError> {
    if text.is_empty() {
        return Err(ApiError::bad_request("the path must not be empty"));
    }
    if text.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "invalid path {text:?}: it contains a NUL byte"
        )));
    }
    let full = if text == "~" {
        home.to_owned()
    } else if let Some(rest) = text.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if text.starts_with('/') {
        text.to_owned()
    } else {
        format!("{home}/{text}")
    };
    let mut comps = Vec::new();
    for seg in full.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(ApiError::bad_request(format!(
                    "invalid path {text:?}: `..` is not allowed in guest paths"
                )))
            }
            s => comps.push(OsString::from(s)),
        }
    }
    Ok(comps)
}

/// Refuses paths under the directories the sandbox takes from the host.
pub(crate) fn reject_host_dirs(comps: &[OsString], text: &str) -> Result<(), ApiError> {
    match comps.first().and_then(|c| c.to_str()) {
        Some(first) if HOST_DIRS.contains(&first) => Err(ApiError::bad_request(format!(
            "path {text:?} is under /{first}, which the emulator's sandbox provides from the \
             host (read-only) rather than from the VM; file operations work on the VM's own \
             directories such as /home, /tmp, /etc and /root"
        ))),
        _ => Ok(()),
    }
}

/// Resolves `input` (symlink-free or not) in `ns`. `follow_final` decides
/// whether a symlink in the last position is followed (`stat`) or returned
/// itself (`lstat`). `shown` is the path as the client wrote it, for errors.
///
/// # Errors
/// 400 when a symlink leads above the root, a non-directory is used as a
/// directory, or links loop; 404 when a `..` follows a missing component;
/// 500 for I/O failures.
pub(crate) fn resolve<N: Namespace + ?Sized>(
    ns: &N,
    input: &[OsString],
    follow_final: bool,
    shown: &str,
) -> Result<Resolved, ApiError> {
    let mut stack: Vec<OsString> = Vec::new();
    let mut queue: VecDeque<OsString> = input.iter().cloned().collect();
    let mut links = 0usize;
    while let Some(c) = queue.pop_front() {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            if stack.pop().is_none() {
                return Err(ApiError::bad_request(format!(
                    "path {shown:?} resolves outside the VM's root through a symbolic link"
                )));
            }
            continue;
        }
        stack.push(c);
        let last = queue.iter().all(|c| c.is_empty() || c == ".");
        match ns.lookup(&stack) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if queue.iter().any(|c| c == "..") {
                    return Err(ApiError::not_found(format!(
                        "path {shown:?} does not exist: {} is missing",
                        guest_path(&stack)
                    )));
                }
                stack.extend(queue.into_iter().filter(|c| !c.is_empty() && c != "."));
                return Ok(Resolved {
                    comps: stack,
                    meta: None,
                    parent_exists: last,
                    opaque: false,
                });
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                return Err(not_a_directory(shown, &stack[..stack.len() - 1]));
            }
            Err(e) => {
                return Err(io_error(
                    &format!("cannot look up {}", guest_path(&stack)),
                    e,
                ))
            }
            Ok(Node::Opaque) => {
                stack.extend(queue.into_iter().filter(|c| !c.is_empty() && c != "."));
                return Ok(Resolved {
                    comps: stack,
                    meta: None,
                    parent_exists: true,
                    opaque: true,
                });
            }
            Ok(Node::Link(meta, target)) => {
                if last && !follow_final {
                    return Ok(Resolved {
                        comps: stack,
                        meta: Some(meta),
                        parent_exists: true,
                        opaque: false,
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(ApiError::bad_request(format!(
                        "path {shown:?} has too many levels of symbolic links"
                    )));
                }
                stack.pop();
                let bytes = target.as_bytes();
                if bytes.first() == Some(&b'/') {
                    // Absolute targets mean the guest's root, which is the VM's root.
                    stack.clear();
                }
                let mut next: VecDeque<OsString> = bytes
                    .split(|&b| b == b'/')
                    .filter(|s| !s.is_empty())
                    .map(|s| OsString::from_vec(s.to_vec()))
                    .collect();
                next.extend(queue);
                queue = next;
            }
            Ok(Node::Entry(meta)) => {
                if last {
                    return Ok(Resolved {
                        comps: stack,
                        meta: Some(meta),
                        parent_exists: true,
                        opaque: false,
                    });
                }
                if meta.kind != Kind::Dir {
                    return Err(not_a_directory(shown, &stack));
                }
            }
        }
    }
    // Only `.`, `..` or a link to a directory remained: `stack` is a
    // directory already walked through (or the root).
    match ns.lookup(&stack) {
        Ok(Node::Entry(meta)) => Ok(Resolved {
            comps: stack,
            meta: Some(meta),
            parent_exists: true,
            opaque: false,
        }),
        Ok(_) => Ok(Resolved {
            comps: stack,
            meta: None,
            parent_exists: true,
            opaque: true,
        }),
        Err(e) => Err(ApiError::internal(
            &format!("cannot look up {}", guest_path(&stack)),
            e,
        )),
    }
}

fn not_a_directory(shown: &str, comps: &[OsString]) -> ApiError {
    ApiError::bad_request(format!(
        "path {shown:?} is invalid: {} is not a directory",
        guest_path(comps)
    ))
}

/// A VM's root directory, held open so that every operation is relative to
/// it.
#[derive(Debug)]
pub(crate) struct GuestRoot {
    fd: OwnedFd,
}

const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

fn join_comps(comps: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push("/");
        }
        out.push(c);
    }
    out
}

impl GuestRoot {
    /// Opens the root directory at `path` (a trusted host path).
    pub fn open(path: &Path) -> io::Result<GuestRoot> {
        let fd = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(GuestRoot { fd })
    }

    /// Opens the directory at the symlink-free `comps` for reading and as a
    /// base for `*at` calls. A symlink anywhere fails (`ELOOP`).
    pub fn open_dir(&self, comps: &[OsString]) -> io::Result<OwnedFd> {
        let path = if comps.is_empty() {
            OsString::from(".")
        } else {
            join_comps(comps)
        };
        Ok(rfs::openat2(
            &self.fd,
            path.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            BENEATH,
        )?)
    }

    /// Opens the regular file at the symlink-free `comps` for reading.
    pub fn open_file(&self, comps: &[OsString]) -> io::Result<File> {
        let fd = rfs::openat2(
            &self.fd,
            join_comps(comps).as_os_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
            BENEATH,
        )?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }

    /// Resolves a client path (already split) in the VM's root.
    pub fn resolve(
        &self,
        comps: &[OsString],
        follow_final: bool,
        shown: &str,
    ) -> Result<Resolved, ApiError> {
        resolve(self, comps, follow_final, shown)
    }

    /// Reads a small file (at most `limit` bytes) at a guest path, following
    /// symlinks inside the root; `None` when it does not exist.
    pub fn read_small(&self, text: &str, limit: u64) -> Option<Vec<u8>> {
        let comps = parse_guest_path(text, "/").ok()?;
        let resolved = self.resolve(&comps, true, text).ok()?;
        if resolved.meta?.kind != Kind::File {
            return None;
        }
        let file = self.open_file(&resolved.comps).ok()?;
        let mut out = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(file, limit), &mut out).ok()?;
        Some(out)
    }
}

impl Namespace for GuestRoot {
    fn lookup(&self, comps: &[OsString]) -> io::Result<Node> {
        let Some((name, parent)) = comps.split_last() else {
            return Ok(Node::Entry(Meta::from_stat(&rfs::fstat(&self.fd)?)));
        };
        let dir = self.open_dir(parent)?;
        lookup_at(&dir, name)
    }
}

/// `lstat` of `name` in `dir`, with the target of a symlink.
pub(crate) fn lookup_at(dir: &impl AsFd, name: &OsStr) -> io::Result<Node> {
    let meta = Meta::from_stat(&rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?);
    if meta.kind == Kind::Symlink {
        let target = rfs::readlinkat(dir, name, Vec::new())?;
        return Ok(Node::Link(meta, OsString::from_vec(target.into_bytes())));
    }
    Ok(Node::Entry(meta))
}

/// `lstat` of `name` in `dir`; `None` when missing.
pub(crate) fn stat_at(dir: &impl AsFd, name: &OsStr) -> io::Result<Option<Meta>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(Meta::from_stat(&st))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens the subdirectory `name` of `dir`, refusing a symlink.
pub(crate) fn open_subdir(dir: &impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the regular file `name` of `dir` for reading, refusing a symlink.
pub(crate) fn open_file_at(dir: &impl AsFd, name: &OsStr) -> io::Result<File> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Creates (exclusively, mode 0600) a file named `.<prefix>-<32 hex>` in
/// `dir`, returning it and its name.
pub(crate) fn create_temp(dir: &impl AsFd, prefix: &str) -> io::Result<(File, OsString)> {
    loop {
        let name = OsString::from(format!(".{prefix}-{}", random_hex(16)));
        match rfs::openat(
            dir,
            name.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((File::from(fd), name)),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes `name` a directory in `dir` (mode applied exactly, not through the
/// umask) unless it already is one, and opens it. `Ok(None)` when something
/// else is there.
pub(crate) fn ensure_dir(
    dir: &impl AsFd,
    name: &OsStr,
    mode: u32,
    owner: Owner,
) -> io::Result<Option<OwnedFd>> {
    match rfs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) => {
            let fd = open_subdir(dir, name)?;
            rfs::fchmod(&fd, Mode::from_raw_mode(mode))?;
            owner.apply(&fd);
            Ok(Some(fd))
        }
        Err(rustix::io::Errno::EXIST) => match stat_at(dir, name)? {
            Some(m) if m.kind == Kind::Dir => Ok(Some(open_subdir(dir, name)?)),
            _ => Ok(None),
        },
        Err(e) => Err(e.into()),
    }
}

/// Who owns created files: chown happens only when uid or gid is non-zero
/// (PROTOCOL §20.2.8), and failures are ignored, since a non-root emulator
/// cannot give files away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

impl Owner {
    /// Chowns an open file or directory.
    pub fn apply(&self, fd: &impl AsFd) {
        if self.uid != 0 || self.gid != 0 {
            let _ = rfs::fchown(
                fd,
                Some(rfs::Uid::from_raw(self.uid)),
                Some(rfs::Gid::from_raw(self.gid)),
            );
        }
    }
}

/// Sets the modification (and access) time of an open file.
pub(crate) fn set_mtime(fd: &impl AsFd, secs: i64, nsecs: u32) -> io::Result<()> {
    let t = rfs::Timespec {
        tv_sec: secs,
        tv_nsec: nsecs.into(),
    };
    rfs::futimens(
        fd,
        &rfs::Timestamps {
            last_access: t,
            last_modification: t,
        },
    )?;
    Ok(())
}

/// Removes `name` from `dir`: a file or symlink is unlinked, a directory is
/// emptied depth-first (never following symlinks) and removed.
///
/// # Errors
/// I/O errors, and `InvalidInput` when the tree is deeper than `depth_left`.
pub(crate) fn remove_tree(dir: &impl AsFd, name: &OsStr, depth_left: usize) -> io::Result<()> {
    let Some(meta) = stat_at(dir, name)? else {
        return Ok(());
    };
    if meta.kind != Kind::Dir {
        return Ok(rfs::unlinkat(dir, name, AtFlags::empty())?);
    }
    if depth_left == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the directory tree is too deep to remove",
        ));
    }
    let sub = open_subdir(dir, name)?;
    for child in list_dir(&sub)? {
        remove_tree(&sub, &child, depth_left - 1)?;
    }
    Ok(rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// The names in a directory (without `.` and `..`), sorted bytewise.
pub(crate) fn list_dir(dir: &impl AsFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Maps an I/O error of a file operation to the API's answer.
pub(crate) fn io_error(context: &str, err: io::Error) -> ApiError {
    let errno = err.raw_os_error();
    let is = |e: rustix::io::Errno| errno == Some(e.raw_os_error());
    if err.kind() == io::ErrorKind::NotFound {
        ApiError::not_found(format!("{context}: no such file or directory"))
    } else if is(rustix::io::Errno::LOOP) || is(rustix::io::Errno::XDEV) {
        // A symlink appeared where the resolution saw a directory: the
        // guest changed the tree while the emulator worked in it.
        ApiError::conflict(format!(
            "{context}: the path changed while it was being used (a symbolic link appeared)"
        ))
    } else if is(rustix::io::Errno::NOSPC) || is(rustix::io::Errno::DQUOT) {
        ApiError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            format!("{context}: no space left on the device"),
        )
    } else if is(rustix::io::Errno::NOTDIR)
        || is(rustix::io::Errno::ISDIR)
        || is(rustix::io::Errno::NOTEMPTY)
        || is(rustix::io::Errno::EXIST)
        || is(rustix::io::Errno::NAMETOOLONG)
        || err.kind() == io::ErrorKind::InvalidInput
    {
        ApiError::bad_request(format!("{context}: {err}"))
    } else {
        ApiError::internal(context, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    fn comps(text: &str) -> Vec<OsString> {
        parse_guest_path(text, "/home/ubuntu").unwrap()
    }

    /// A VM root inside a parent directory that stands for "outside".
    fn setup() -> (tempfile::TempDir, PathBuf, GuestRoot) {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("home/ubuntu/sub")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::write(outer.path().join("secret"), "host secret").unwrap();
        let guest = GuestRoot::open(&root).unwrap();
        (outer, root, guest)
    }

    fn resolve_str(g: &GuestRoot, p: &str, follow: bool) -> Result<Resolved, ApiError> {
        g.resolve(&comps(p), follow, p)
    }

    #[test]
    fn client_paths_expand_home_and_refuse_dotdot() {
        assert_eq!(comps("~"), comps("/home/ubuntu"));
        assert_eq!(comps("~/x/./y//"), comps("/home/ubuntu/x/y"));
        assert_eq!(comps("rel/f"), comps("/home/ubuntu/rel/f"));
        assert!(comps("/").is_empty());
        for bad in ["../x", "/a/../b", "~/..", "a/..", ""] {
            let err = parse_guest_path(bad, "/home/ubuntu").unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
        }
        assert!(parse_guest_path("a\0b", "/").is_err());
        let err = reject_host_dirs(&comps("/usr/bin/env"), "/usr/bin/env").unwrap_err();
        assert!(err.message.contains("/usr"), "{err}");
        assert!(reject_host_dirs(&comps("/usrx"), "/usrx").is_ok());
    }

    #[test]
    fn plain_paths_resolve_with_their_kind() {
        let (_outer, _root, g) = setup();
        let r = resolve_str(&g, "/etc/hosts", true).unwrap();
        assert_eq!(r.guest_path(), "/etc/hosts");
        assert_eq!(r.meta.unwrap().kind, Kind::File);
        let r = resolve_str(&g, "/", true).unwrap();
        assert!(r.comps.is_empty() && r.is_dir());
        let r = resolve_str(&g, "/home/ubuntu/new/deeper", true).unwrap();
        assert!(r.meta.is_none() && !r.parent_exists);
        assert_eq!(r.guest_path(), "/home/ubuntu/new/deeper");
        let r = resolve_str(&g, "/home/ubuntu/new", true).unwrap();
        assert!(r.meta.is_none() && r.parent_exists);
        let err = resolve_str(&g, "/etc/hosts/x", true).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("not a directory"), "{err}");
    }

    #[test]
    fn absolute_symlinks_are_re_rooted_in_the_vm() {
        let (outer, root, g) = setup();
        // Points at the host's copy of the secret, by its real host path.
        let host_secret = outer.path().join("secret");
        symlink(&host_secret, root.join("home/ubuntu/abs")).unwrap();
        symlink("/etc", root.join("home/ubuntu/etc-link")).unwrap();
        let r = resolve_str(&g, "~/etc-link/hosts", true).unwrap();
        assert_eq!(r.guest_path(), "/etc/hosts");
        // The host path means the same path inside the VM, which is missing:
        // nothing outside the root is ever reached.
        let r = resolve_str(&g, "~/abs", true).unwrap();
        assert!(r.meta.is_none());
        assert!(r.guest_path().ends_with("/secret"));
        assert!(!r.guest_path().contains("/root/"));
        // Without following, the link itself is reported.
        let r = resolve_str(&g, "~/abs", false).unwrap();
        assert_eq!(r.meta.unwrap().kind, Kind::Symlink);
        assert_eq!(r.guest_path(), "/home/ubuntu/abs");
    }

    #[test]
    fn relative_symlinks_that_climb_out_are_refused() {
        let (_outer, root, g) = setup();
        symlink("../../../..", root.join("home/ubuntu/up")).unwrap();
        symlink("../../../secret", root.join("home/ubuntu/sneaky")).unwrap();
        symlink("../../etc", root.join("home/ubuntu/fine")).unwrap();
        for p in ["~/up", "~/up/secret", "~/sneaky"] {
            let err = resolve_str(&g, p, true).unwrap_err();
            assert_eq!(err.status, 400, "{p}");
            assert!(err.message.contains("outside"), "{err}");
        }
        // Not following the final link leaves it alone.
        assert!(resolve_str(&g, "~/sneaky", false).is_ok());
        let r = resolve_str(&g, "~/fine/hosts", true).unwrap();
        assert_eq!(r.guest_path(), "/etc/hosts");
    }

    #[test]
    fn link_loops_and_dotdot_after_missing_parts_fail_cleanly() {
        let (_outer, root, g) = setup();
        symlink("b", root.join("home/ubuntu/a")).unwrap();
        symlink("a", root.join("home/ubuntu/b")).unwrap();
        let err = resolve_str(&g, "~/a", true).unwrap_err();
        assert!(err.message.contains("levels of symbolic links"), "{err}");
        symlink("missing/../x", root.join("home/ubuntu/m")).unwrap();
        assert_eq!(resolve_str(&g, "~/m", true).unwrap_err().status, 404);
        // `..` inside a target walks up from the link's directory.
        symlink("sub/../sub", root.join("home/ubuntu/s")).unwrap();
        let r = resolve_str(&g, "~/s", true).unwrap();
        assert_eq!(r.guest_path(), "/home/ubuntu/sub");
    }

    #[test]
    fn descriptor_operations_refuse_symlinks_anywhere() {
        let (outer, root, g) = setup();
        std::fs::create_dir(outer.path().join("elsewhere")).unwrap();
        symlink(outer.path().join("elsewhere"), root.join("home/ubuntu/out")).unwrap();
        let via_link = vec![
            OsString::from("home"),
            OsString::from("ubuntu"),
            OsString::from("out"),
        ];
        // A final symlink is not a directory to O_NOFOLLOW | O_DIRECTORY ...
        let err = g.open_dir(&via_link).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::NOTDIR.raw_os_error())
        );
        // ... and one in the middle is refused by RESOLVE_NO_SYMLINKS.
        let mut deeper = via_link.clone();
        deeper.push(OsString::from("x"));
        let err = g.open_dir(&deeper).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::LOOP.raw_os_error())
        );
        assert_eq!(io_error("x", err).status, 409);
        assert!(g.lookup(&deeper).is_err());
        // `..` in a raw descriptor path cannot climb out either.
        let up = vec![OsString::from("..")];
        assert!(g.open_dir(&up).is_err());
        // And the host path never changed.
        assert_eq!(
            std::fs::read_dir(outer.path().join("elsewhere"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn temp_files_dirs_and_removal() {
        let (_outer, root, g) = setup();
        let home = g
            .open_dir(&[OsString::from("home"), OsString::from("ubuntu")])
            .unwrap();
        let (mut f, name) = create_temp(&home, "slicer-upload").unwrap();
        io::Write::write_all(&mut f, b"hi").unwrap();
        assert_eq!(name.len(), ".slicer-upload-".len() + 32);
        let owner = Owner { uid: 0, gid: 0 };
        let d = ensure_dir(&home, OsStr::new("made"), 0o750, owner)
            .unwrap()
            .unwrap();
        let meta = rfs::fstat(&d).unwrap();
        assert_eq!(Meta::from_stat(&meta).mode, 0o750);
        assert!(ensure_dir(&home, &name, 0o755, owner).unwrap().is_none());
        std::fs::create_dir_all(root.join("home/ubuntu/made/a/b")).unwrap();
        std::fs::write(root.join("home/ubuntu/made/a/b/f"), "x").unwrap();
        symlink("/etc", root.join("home/ubuntu/made/a/link")).unwrap();
        assert!(remove_tree(&home, OsStr::new("made"), 2).is_err());
        remove_tree(&home, OsStr::new("made"), 64).unwrap();
        assert!(!root.join("home/ubuntu/made").exists());
        assert!(
            root.join("etc/hosts").exists(),
            "links are removed, not followed"
        );
        assert_eq!(
            list_dir(&home).unwrap(),
            vec![name.clone(), OsString::from("sub")]
        );
    }
}
