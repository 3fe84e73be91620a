//! Tar archives in and out of a VM's root, with core's reader and writer
//! (PROTOCOL §20).
//!
//! Extraction is staged: entries go into a fresh `.slicer-extract-<hex>`
//! directory next to (or, when merging, inside) the destination, and are
//! moved into place only once the whole archive was read and checked. A bad
//! name, a truncated archive or any other failure removes the staging
//! directory, so nothing is written. Every file is written to a temporary
//! name and renamed over its final name; nothing is ever written through a
//! symlink, and a symlink already in the destination tree where a directory
//! is needed fails the extraction.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{self as rfs, Mode};
use slicer_core::tar::{EntryKind, Excludes, TarError, TarReader, TarWriter};

use super::fs::{make_dirs, MAX_TREE_DEPTH};
use super::paths::{
    create_temp, ensure_dir, guest_path, io_error, list_dir, open_file_at, open_subdir, random_hex,
    remove_tree, set_mtime, stat_at, GuestRoot, Kind, Meta, Owner,
};
use crate::error::ApiError;

/// How to write extracted files.
#[derive(Debug, Clone)]
pub(crate) struct ExtractOptions {
    /// Entries to skip.
    pub excludes: Excludes,
    /// Owner of everything created.
    pub owner: Owner,
    /// Mode for regular files, overriding the archive's.
    pub file_mode: Option<u32>,
}

/// Maps a tar problem to the API's answer: bad archives are the client's.
pub(crate) fn tar_error(err: TarError) -> ApiError {
    match err {
        TarError::Io(e) => ApiError::bad_request(format!("reading the upload failed: {e}")),
        other => ApiError::bad_request(format!("invalid tar upload: {other}")),
    }
}

/// Extracts the archive read from `body` into the directory `dest`
/// (symlink-free components; created with its parents when missing, merged
/// into when it exists). `shown` is the client's path, for messages.
pub(crate) fn extract(
    root: &GuestRoot,
    dest: &[OsString],
    shown: &str,
    body: impl Read,
    options: &ExtractOptions,
) -> Result<(), ApiError> {
    let context = format!("cannot extract into {shown:?}");
    let io = |e: io::Error| io_error(&context, e);
    // The staging directory lives beside a new destination (one rename
    // puts it in place) or inside an existing one (entries move over).
    let (stage_parent, merge_into, name) = match dest.split_last() {
        None => (root.open_dir(&[]).map_err(io)?, true, None),
        Some((name, parents)) => {
            let parent = make_dirs(root, parents, options.owner, shown)?;
            match stat_at(&parent, name).map_err(io)? {
                None => (parent, false, Some(name.clone())),
                Some(m) if m.kind == Kind::Dir => {
                    (open_subdir(&parent, name).map_err(io)?, true, None)
                }
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "{context}: {} exists and is not a directory",
                        guest_path(dest)
                    )))
                }
            }
        }
    };
    let stage_name = make_stage(&stage_parent).map_err(io)?;
    let stage = open_subdir(&stage_parent, &stage_name).map_err(io)?;
    let staged = stage_into(&stage, body, options).and_then(|dir_times| {
        if merge_into {
            merge(&stage, &stage_parent, dest).map(|()| dir_times)
        } else {
            rfs::fchmod(&stage, Mode::from_raw_mode(0o755)).map_err(|e| io(e.into()))?;
            options.owner.apply(&stage);
            let name = name.as_deref().unwrap_or_default();
            rfs::renameat(&stage_parent, &stage_name, &stage_parent, name).map_err(|e| {
                io_error(
                    &format!("{context}: {} appeared meanwhile", guest_path(dest)),
                    e.into(),
                )
            })?;
            Ok(dir_times)
        }
    });
    // Whatever is left of the staging directory (all of it on failure).
    let _ = remove_tree(&stage_parent, &stage_name, MAX_TREE_DEPTH + 1);
    let dir_times = staged?;
    // Directory times last, so that writing their contents does not
    // disturb them.
    let top = root.open_dir(dest).map_err(io)?;
    for (comps, mtime) in dir_times {
        if let Ok(dir) = open_path(&top, &comps) {
            let _ = set_mtime(&dir, mtime, 0);
        }
    }
    Ok(())
}

fn make_stage(parent: &impl AsFd) -> io::Result<OsString> {
    loop {
        let name = OsString::from(format!(".slicer-extract-{}", random_hex(16)));
        match rfs::mkdirat(parent, name.as_os_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => return Ok(name),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn open_path(dir: &OwnedFd, comps: &[OsString]) -> io::Result<OwnedFd> {
    let mut cur = rfs::openat(
        dir,
        ".",
        rfs::OFlags::RDONLY | rfs::OFlags::DIRECTORY | rfs::OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for c in comps {
        cur = open_subdir(&cur, c)?;
    }
    Ok(cur)
}

/// Reads every entry into `stage`; returns the directories whose mtime
/// must be set at the end.
fn stage_into(
    stage: &OwnedFd,
    body: impl Read,
    options: &ExtractOptions,
) -> Result<Vec<(Vec<OsString>, i64)>, ApiError> {
    let mut reader = TarReader::new(body).with_excludes(options.excludes.clone());
    let mut dir_times = Vec::new();
    while let Some(mut entry) = reader.next_entry().map_err(tar_error)? {
        let shown = String::from_utf8_lossy(entry.path_bytes()).into_owned();
        let comps: Vec<OsString> = entry
            .path_bytes()
            .split(|&b| b == b'/')
            .map(|s| OsString::from_vec(s.to_vec()))
            .collect();
        if comps.len() > MAX_TREE_DEPTH {
            return Err(ApiError::bad_request(format!(
                "invalid tar upload: entry {shown:?} is nested deeper than {MAX_TREE_DEPTH} levels"
            )));
        }
        let context = format!("cannot extract tar entry {shown:?}");
        let io = |e: io::Error| io_error(&context, e);
        let Some((leaf, parents)) = comps.split_last() else {
            continue;
        };
        let parent = stage_dirs(stage, parents, options.owner, &context)?;
        let (mode, mtime) = (entry.mode(), entry.mtime());
        match entry.kind() {
            EntryKind::Directory => {
                let dir = ensure_dir(&parent, leaf, mode, options.owner)
                    .map_err(io)?
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "{context}: a file of the same name came earlier in the archive"
                        ))
                    })?;
                rfs::fchmod(&dir, Mode::from_raw_mode(mode)).map_err(|e| io(e.into()))?;
                if mtime != 0 {
                    dir_times.push((comps.clone(), mtime));
                }
            }
            EntryKind::File => {
                if stat_at(&parent, leaf).map_err(io)?.map(|m| m.kind) == Some(Kind::Dir) {
                    return Err(ApiError::bad_request(format!(
                        "{context}: a directory of the same name came earlier in the archive"
                    )));
                }
                let (mut file, temp) = create_temp(&parent, "slicer-extract").map_err(io)?;
                let written = io::copy(&mut entry, &mut file)
                    .map_err(|e| tar_error(TarError::from(e)))
                    .and_then(|_| {
                        let mode = options.file_mode.unwrap_or(mode);
                        rfs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(|e| io(e.into()))?;
                        options.owner.apply(&file);
                        if mtime != 0 {
                            set_mtime(&file, mtime, 0).map_err(io)?;
                        }
                        rfs::renameat(&parent, &temp, &parent, leaf).map_err(|e| io(e.into()))
                    });
                if let Err(err) = written {
                    let _ = rfs::unlinkat(&parent, &temp, rfs::AtFlags::empty());
                    return Err(err);
                }
            }
        }
    }
    Ok(dir_times)
}

/// Opens (creating with mode 0755) the directories of `comps` in `stage`.
fn stage_dirs(
    stage: &OwnedFd,
    comps: &[OsString],
    owner: Owner,
    context: &str,
) -> Result<OwnedFd, ApiError> {
    let mut dir = open_path(stage, &[]).map_err(|e| io_error(context, e))?;
    for c in comps {
        dir = ensure_dir(&dir, c, 0o755, owner)
            .map_err(|e| io_error(context, e))?
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{context}: {:?} is a file earlier in the archive",
                    c.to_string_lossy()
                ))
            })?;
    }
    Ok(dir)
}

/// Moves the staged tree into the existing directory `into`: files replace
/// files (or symlinks), new directories move whole, existing directories
/// are merged and take the staged mode.
fn merge(stage: &OwnedFd, into: &OwnedFd, shown: &[OsString]) -> Result<(), ApiError> {
    for name in list_dir(stage).map_err(|e| io_error("cannot read the staged upload", e))? {
        let mut path = shown.to_vec();
        path.push(name.clone());
        let context = format!("cannot extract into {}", guest_path(&path));
        let io = |e: io::Error| io_error(&context, e);
        let Some(staged) = stat_at(stage, &name).map_err(io)? else {
            continue;
        };
        let existing = stat_at(into, &name).map_err(io)?;
        match (staged.kind, existing.map(|m| m.kind)) {
            (Kind::Dir, Some(Kind::Dir)) => {
                let from = open_subdir(stage, &name).map_err(io)?;
                let to = open_subdir(into, &name).map_err(io)?;
                rfs::fchmod(&to, Mode::from_raw_mode(staged.mode & 0o7777))
                    .map_err(|e| io(e.into()))?;
                merge(&from, &to, &path)?;
            }
            (Kind::Dir, Some(Kind::Symlink)) => {
                return Err(ApiError::bad_request(format!(
                    "{context}: it is a symbolic link, which extraction does not follow"
                )))
            }
            (Kind::Dir, Some(_)) => {
                return Err(ApiError::bad_request(format!(
                    "{context}: it exists and is not a directory"
                )))
            }
            (_, Some(Kind::Dir)) => {
                return Err(ApiError::bad_request(format!(
                    "{context}: a directory of that name exists"
                )))
            }
            _ => rfs::renameat(stage, &name, into, &name).map_err(|e| io(e.into()))?,
        }
    }
    Ok(())
}

/// Writes the contents of the directory `dir` as a tar (PROTOCOL §20.1:
/// names relative to it, sorted, directories first with size 0, only
/// directories and regular files) to `out`, skipping `excludes`.
pub(crate) fn write_archive<W: Write>(
    dir: OwnedFd,
    excludes: &Excludes,
    out: W,
) -> Result<W, TarError> {
    let mut tar = TarWriter::new(out);
    walk(&dir, &mut Vec::new(), 0, excludes, &mut tar)?;
    tar.finish()
}

fn walk<W: Write>(
    dir: &OwnedFd,
    prefix: &mut Vec<u8>,
    depth: usize,
    excludes: &Excludes,
    tar: &mut TarWriter<W>,
) -> Result<(), TarError> {
    if depth >= MAX_TREE_DEPTH {
        return Err(TarError::Io(io::Error::other(format!(
            "the directory tree is deeper than {MAX_TREE_DEPTH} levels"
        ))));
    }
    for name in list_dir(dir)? {
        let start = prefix.len();
        if start > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name.as_bytes());
        let result = add_entry(dir, &name, prefix, depth, excludes, tar);
        prefix.truncate(start);
        result?;
    }
    Ok(())
}

fn add_entry<W: Write>(
    dir: &OwnedFd,
    name: &OsStr,
    rel: &mut Vec<u8>,
    depth: usize,
    excludes: &Excludes,
    tar: &mut TarWriter<W>,
) -> Result<(), TarError> {
    if excludes.matches(rel) {
        return Ok(());
    }
    // Entries that vanish or turn into symlinks meanwhile are skipped.
    let Some(meta) = stat_at(dir, name)? else {
        return Ok(());
    };
    match meta.kind {
        Kind::Dir => {
            let Ok(sub) = open_subdir(dir, name) else {
                return Ok(());
            };
            tar.append_dir(&rel[..], meta.mode, meta.mtime)?;
            walk(&sub, rel, depth + 1, excludes, tar)
        }
        Kind::File => {
            let Ok(file) = open_file_at(dir, name) else {
                return Ok(());
            };
            let meta = Meta::from_stat(&rfs::fstat(&file).map_err(io::Error::from)?);
            if meta.kind != Kind::File {
                return Ok(());
            }
            match tar.append_file_from(&rel[..], meta.mode, meta.mtime, meta.size, file) {
                // The file grew while it was read: the entry is complete
                // (with the size it had) and the archive stays valid.
                Ok(()) | Err(TarError::ContentTooLong { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Kind::Symlink | Kind::Other => Ok(()),
    }
}

/// Opens a regular file of the root for a download, with its facts.
pub(crate) fn open_download(root: &GuestRoot, comps: &[OsString]) -> io::Result<(File, Meta)> {
    let file = root.open_file(comps)?;
    let meta = Meta::from_stat(&rfs::fstat(&file)?);
    Ok((file, meta))
}
