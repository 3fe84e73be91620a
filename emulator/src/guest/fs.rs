//! Filesystem endpoints (PROTOCOL §12): readdir, stat, mkdir and remove on
//! a VM's root directory. Blocking; the routes run them off the async
//! workers.
//!
//! `~` means the default user's home. Entries are reported from `lstat`
//! (a symlink is `symlink`; devices, FIFOs and sockets are `file`), with
//! `mtime` as RFC 3339 and `mode` as a four-digit octal string. Created
//! directories belong to the default user (1000:1000) when the emulator
//! runs as root.

use std::ffi::OsString;

use rustix::fs::{self as rfs, AtFlags};
use slicer_core::fs::{FileType, FsEntry, MkdirRequest};
use time::OffsetDateTime;

use super::paths::{
    ensure_dir, guest_path, io_error, list_dir, parse_guest_path, reject_host_dirs, remove_tree,
    stat_at, GuestRoot, Kind, Meta, Owner, Resolved,
};
use super::sandbox::identity;
use crate::error::ApiError;

/// Deepest directory tree the emulator walks or removes.
pub(crate) const MAX_TREE_DEPTH: usize = 256;

/// The API's entry object for `meta`.
pub(crate) fn fs_entry(name: String, meta: &Meta) -> FsEntry {
    let mtime = OffsetDateTime::from_unix_timestamp(meta.mtime)
        .ok()
        .and_then(|t| t.replace_nanosecond(meta.mtime_nsec).ok());
    FsEntry {
        name,
        file_type: match meta.kind {
            Kind::Dir => FileType::Directory,
            Kind::Symlink => FileType::Symlink,
            Kind::File | Kind::Other => FileType::File,
        },
        size: meta.size,
        mtime,
        mode: format!("{:04o}", meta.mode & 0o777),
    }
}

/// A VM root, the default user, and a client path split and checked.
pub(crate) struct Target {
    /// The root.
    pub root: GuestRoot,
    /// The default account (for `~` and ownership).
    pub owner: Owner,
    /// The path's components.
    pub comps: Vec<OsString>,
    /// The path as given.
    pub text: String,
}

impl Target {
    /// Opens `root` and parses `text` for the default user.
    pub fn new(root: &std::path::Path, text: &str) -> Result<Target, ApiError> {
        let root = GuestRoot::open(root)
            .map_err(|e| ApiError::internal("cannot open the VM's root directory", e))?;
        let user = identity(&root, None, None);
        let comps = parse_guest_path(text, &user.home)?;
        reject_host_dirs(&comps, text)?;
        Ok(Target {
            owner: Owner {
                uid: user.uid,
                gid: user.gid,
            },
            root,
            comps,
            text: text.to_owned(),
        })
    }

    /// Resolves the path (`follow_final`: `stat` rather than `lstat`).
    pub fn resolve(&self, follow_final: bool) -> Result<Resolved, ApiError> {
        self.root.resolve(&self.comps, follow_final, &self.text)
    }

    fn missing(&self) -> ApiError {
        ApiError::not_found(format!("path {:?} does not exist", self.text))
    }
}

/// `GET /vm/{h}/fs/readdir?path=P`: entries sorted by name.
pub(crate) fn readdir(root: &std::path::Path, text: &str) -> Result<Vec<FsEntry>, ApiError> {
    let t = Target::new(root, text)?;
    let r = t.resolve(true)?;
    match r.meta {
        None => return Err(t.missing()),
        Some(m) if m.kind != Kind::Dir => {
            return Err(ApiError::bad_request(format!(
                "path {text:?} is not a directory"
            )))
        }
        Some(_) => {}
    }
    let context = format!("cannot list {text:?}");
    let dir = t
        .root
        .open_dir(&r.comps)
        .map_err(|e| io_error(&context, e))?;
    let mut out = Vec::new();
    for name in list_dir(&dir).map_err(|e| io_error(&context, e))? {
        if let Some(meta) = stat_at(&dir, &name).map_err(|e| io_error(&context, e))? {
            out.push(fs_entry(name.to_string_lossy().into_owned(), &meta));
        }
    }
    Ok(out)
}

/// `GET /vm/{h}/fs/stat?path=P`: the entry itself (a symlink is not
/// followed).
pub(crate) fn stat(root: &std::path::Path, text: &str) -> Result<FsEntry, ApiError> {
    let t = Target::new(root, text)?;
    let r = t.resolve(false)?;
    let meta = r.meta.ok_or_else(|| t.missing())?;
    let name = r
        .name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(fs_entry(name, &meta))
}

/// Parses an octal mode parameter.
pub(crate) fn parse_mode(what: &str, text: &str) -> Result<u32, ApiError> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(ApiError::bad_request(format!(
            "invalid {what} {text:?}: expected an octal mode such as 0755"
        ))),
    }
}

/// `POST /vm/{h}/fs/mkdir`.
pub(crate) fn mkdir(root: &std::path::Path, req: &MkdirRequest) -> Result<(), ApiError> {
    if req.path.is_empty() {
        return Err(ApiError::bad_request(
            "missing path: name the directory to create",
        ));
    }
    let mode = match req.mode.as_deref().filter(|m| !m.is_empty()) {
        Some(text) => parse_mode("mode", text)?,
        None => 0o755,
    };
    let t = Target::new(root, &req.path)?;
    let r = t.resolve(true)?;
    match r.meta {
        Some(m) if m.kind == Kind::Dir && req.recursive => return Ok(()),
        Some(m) if m.kind == Kind::Dir => {
            return Err(ApiError::bad_request(format!(
                "cannot create directory {:?}: it already exists",
                req.path
            )))
        }
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "cannot create directory {:?}: a file of that name exists",
                req.path
            )))
        }
        None if !r.parent_exists && !req.recursive => {
            return Err(ApiError::bad_request(format!(
                "cannot create directory {:?}: its parent directory {} does not exist; \
                 pass recursive=true to create missing parents",
                req.path,
                guest_path(r.parent())
            )))
        }
        None => {}
    }
    let (name, parents) = r
        .comps
        .split_last()
        .ok_or_else(|| ApiError::bad_request("cannot create the root directory"))?;
    let parent = make_dirs(&t.root, parents, t.owner, &req.path)?;
    let context = format!("cannot create directory {:?}", req.path);
    ensure_dir(&parent, name, mode, t.owner)
        .map_err(|e| io_error(&context, e))?
        .ok_or_else(|| ApiError::bad_request(format!("{context}: a file of that name exists")))?;
    Ok(())
}

/// Opens the directory `comps` (symlink-free), creating what is missing
/// with mode 0755 and `owner`.
pub(crate) fn make_dirs(
    root: &GuestRoot,
    comps: &[OsString],
    owner: Owner,
    shown: &str,
) -> Result<std::os::fd::OwnedFd, ApiError> {
    let context = format!("cannot create the parent directories of {shown:?}");
    let mut dir = root.open_dir(&[]).map_err(|e| io_error(&context, e))?;
    for (i, comp) in comps.iter().enumerate() {
        dir = ensure_dir(&dir, comp, 0o755, owner)
            .map_err(|e| io_error(&context, e))?
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{context}: {} is not a directory",
                    guest_path(&comps[..=i])
                ))
            })?;
    }
    Ok(dir)
}

/// `DELETE /vm/{h}/fs/remove?path=P&recursive=B`; a symlink is removed, not
/// followed.
pub(crate) fn remove(root: &std::path::Path, text: &str, recursive: bool) -> Result<(), ApiError> {
    let t = Target::new(root, text)?;
    let r = t.resolve(false)?;
    let meta = r.meta.ok_or_else(|| t.missing())?;
    let Some(name) = r.name() else {
        return Err(ApiError::bad_request(
            "refusing to remove the root directory",
        ));
    };
    let context = format!("cannot remove {text:?}");
    let parent = t
        .root
        .open_dir(r.parent())
        .map_err(|e| io_error(&context, e))?;
    if meta.kind != Kind::Dir {
        return rfs::unlinkat(&parent, name, AtFlags::empty())
            .map_err(|e| io_error(&context, e.into()));
    }
    if recursive {
        return remove_tree(&parent, name, MAX_TREE_DEPTH).map_err(|e| io_error(&context, e));
    }
    match rfs::unlinkat(&parent, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST) => {
            Err(ApiError::bad_request(format!(
                "{context}: the directory is not empty; pass recursive=true to remove it with \
                 its contents"
            )))
        }
        Err(e) => Err(io_error(&context, e.into())),
    }
}
