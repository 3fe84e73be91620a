//! `/vm/{h}/cp` (PROTOCOL §10): uploads (`POST`) and downloads (`GET`) in
//! all three protocol generations.
//!
//! - G0: no `mode`; an upload's `Content-Type` (or a download's `Accept`)
//!   of `application/x-tar` selects tar, anything else binary.
//! - G1: `mode=binary|tar`; the path is the file to write or the directory
//!   to extract into.
//! - G2: `mode=cp-v1-binary|cp-v1-tar|cp-v1-recursive` with
//!   `copy_semantics=cp-v1`: the destination rules of §10.3 and §10.4, and
//!   the `X-Slicer-Source-*` headers on downloads.
//!
//! In legacy-agent mode G2 modes answer 400 with the daemon's relay text
//! (`cp produced an unexpected error: 400: invalid mode: <mode>`).
//!
//! Choices where the protocol is silent: a binary upload without
//! `permissions` keeps the mode of the file it replaces, else 0644; a tar
//! upload's `permissions` applies to regular files only; written files
//! belong to `uid`/`gid` (the default user when absent); an upload whose
//! `X-Slicer-Unpacked-Size` exceeds the free space answers 413.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use rustix::fs::{self as rfs, Mode};
use serde_json::{json, Value};
use slicer_core::copy::{
    check_source_name, SOURCE_NAME_HEADER, SOURCE_TYPE_HEADER, UNPACKED_SIZE_HEADER,
};
use slicer_core::fs::FILE_MODE_HEADER;
use slicer_core::tar::Excludes;

use super::fs::{make_dirs, parse_mode};
use super::paths::{
    create_temp, guest_path, io_error, parse_guest_path, reject_host_dirs, stat_at, GuestRoot,
    Kind, Meta, Owner,
};
use super::sandbox::identity;
use super::stream::{body_channel, channel_body, discard, ChannelReader, ChannelWriter};
use super::tarfs::{extract, open_download, write_archive, ExtractOptions};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::vm::Vm;

/// Which protocol generation a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Header-selected, no `mode`.
    G0,
    /// `mode=binary|tar`.
    G1,
    /// `cp-v1`.
    G2,
}

/// What moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// One file's bytes.
    Binary,
    /// A tar of a directory's contents.
    Tar,
    /// Downloads only: a file's bytes or a directory's tar, whichever it is.
    Recursive,
}

/// Reads `mode` (and for G0 the content headers).
fn select_mode(
    query: &QueryParams,
    headers: &HeaderMap,
    upload: bool,
    legacy: bool,
) -> Result<(Generation, Payload), ApiError> {
    if let Some(semantics) = query.get("copy_semantics") {
        if semantics != "cp-v1" {
            return Err(ApiError::bad_request(format!(
                "invalid copy_semantics {semantics:?}: only cp-v1 is supported"
            )));
        }
    }
    let Some(mode) = query.get("mode") else {
        let header = if upload {
            header::CONTENT_TYPE
        } else {
            header::ACCEPT
        };
        let value = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let tar = value.contains("application/x-tar")
            && (upload || !value.contains("application/octet-stream"));
        return Ok((
            Generation::G0,
            if tar { Payload::Tar } else { Payload::Binary },
        ));
    };
    let selected = match mode {
        "binary" => (Generation::G1, Payload::Binary),
        "tar" => (Generation::G1, Payload::Tar),
        "cp-v1-binary" | "cp-v1-tar" | "cp-v1-recursive" if legacy => {
            // What the daemon relays when an old agent refuses the mode.
            return Err(ApiError::bad_request(format!(
                "cp produced an unexpected error: 400: invalid mode: {mode}"
            )));
        }
        "cp-v1-binary" => (Generation::G2, Payload::Binary),
        "cp-v1-tar" => (Generation::G2, Payload::Tar),
        "cp-v1-recursive" if upload => {
            return Err(ApiError::bad_request(
                "mode cp-v1-recursive is for downloads; upload with cp-v1-binary or cp-v1-tar",
            ))
        }
        "cp-v1-recursive" => (Generation::G2, Payload::Recursive),
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid mode: {other} (expected binary, tar, cp-v1-binary, cp-v1-tar or \
                 cp-v1-recursive)"
            )))
        }
    };
    Ok(selected)
}

fn required_path(query: &QueryParams) -> Result<String, ApiError> {
    query
        .get("path")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("missing path: name the path in the VM"))
}

fn excludes(query: &QueryParams) -> Result<Excludes, ApiError> {
    Excludes::new(query.all("exclude"))
        .map_err(|e| ApiError::bad_request(format!("invalid exclude pattern: {e}")))
}

fn id_param(query: &QueryParams, key: &str) -> Result<Option<u32>, ApiError> {
    query
        .get(key)
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid {key} {text:?}: expected a number from 0 to 4294967294"
                ))
            })
        })
        .transpose()
        .map(|id| id.filter(|&id| id != u32::MAX))
}

/// A checked upload request.
#[derive(Debug, Clone)]
struct UploadPlan {
    path: String,
    generation: Generation,
    payload: Payload,
    uid: Option<u32>,
    gid: Option<u32>,
    permissions: Option<u32>,
    excludes: Excludes,
    source_name: String,
    copy_contents: bool,
    unpacked_size: Option<u64>,
}

impl UploadPlan {
    fn parse(query: &QueryParams, headers: &HeaderMap, legacy: bool) -> Result<Self, ApiError> {
        let path = required_path(query)?;
        let (generation, payload) = select_mode(query, headers, true, legacy)?;
        let permissions = query
            .get("permissions")
            .map(|text| parse_mode("permissions", text))
            .transpose()?;
        let mut plan = UploadPlan {
            path,
            generation,
            payload,
            uid: id_param(query, "uid")?,
            gid: id_param(query, "gid")?,
            permissions,
            excludes: excludes(query)?,
            source_name: String::new(),
            copy_contents: false,
            unpacked_size: None,
        };
        if generation == Generation::G2 {
            plan.copy_contents = query.bool("copy_contents")?.unwrap_or(false);
            let expected = match payload {
                Payload::Binary => "file",
                _ => "directory",
            };
            if let Some(kind) = query.get("source_type") {
                if kind != expected {
                    return Err(ApiError::bad_request(format!(
                        "source_type {kind:?} does not match mode {}: expected {expected}",
                        query.get("mode").unwrap_or_default()
                    )));
                }
            }
            if plan.copy_contents && payload == Payload::Binary {
                return Err(ApiError::bad_request(
                    "copy_contents applies to directory (cp-v1-tar) uploads only",
                ));
            }
            plan.source_name = query
                .all("source_name")
                .next()
                .unwrap_or_default()
                .to_owned();
            if !(plan.copy_contents && plan.source_name.is_empty()) {
                check_source_name(&plan.source_name).map_err(|e| {
                    ApiError::bad_request(format!("invalid source_name: {}", inner_message(&e)))
                })?;
            }
        }
        if payload == Payload::Tar {
            if let Some(value) = headers.get(HeaderName::from_static(UNPACKED_SIZE_HEADER)) {
                let parsed = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                plan.unpacked_size = Some(parsed.ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid X-Slicer-Unpacked-Size {value:?}: expected a number of bytes"
                    ))
                })?);
            }
        }
        Ok(plan)
    }
}

fn inner_message(err: &slicer_core::Error) -> String {
    match err {
        slicer_core::Error::InvalidInput(message) => message.clone(),
        other => other.to_string(),
    }
}

/// `POST /vm/{h}/cp`.
pub(crate) async fn upload(
    vm: Arc<Vm>,
    query: QueryParams,
    headers: HeaderMap,
    body: Body,
    legacy: bool,
) -> Result<Json<Value>, ApiError> {
    let plan = match UploadPlan::parse(&query, &headers, legacy) {
        Ok(plan) => plan,
        Err(err) => {
            discard(body);
            return Err(err);
        }
    };
    let reader = ChannelReader::new(body);
    let root = vm.root();
    let written = tokio::task::spawn_blocking(move || run_upload(root, &plan, reader))
        .await
        .map_err(|e| ApiError::internal("the upload failed", e))??;
    tracing::debug!(hostname = vm.hostname(), path = %written, "upload written");
    Ok(Json(json!({ "path": written })))
}

fn run_upload(root: PathBuf, plan: &UploadPlan, body: ChannelReader) -> Result<String, ApiError> {
    let root = GuestRoot::open(&root)
        .map_err(|e| ApiError::internal("cannot open the VM's root directory", e))?;
    let user = identity(&root, plan.uid, plan.gid);
    let owner = Owner {
        uid: user.uid,
        gid: user.gid,
    };
    let comps = parse_guest_path(&plan.path, &user.home)?;
    reject_host_dirs(&comps, &plan.path)?;
    let resolved = root.resolve(&comps, true, &plan.path)?;
    let g2 = plan.generation == Generation::G2;
    match plan.payload {
        Payload::Binary => {
            let trailing = plan.path.ends_with('/');
            let is_dir = resolved.is_dir();
            let dest = match (g2, resolved.meta) {
                (true, Some(_)) if is_dir => {
                    let mut dest = resolved.comps.clone();
                    dest.push(OsString::from(&plan.source_name));
                    dest
                }
                (true, None) if trailing => {
                    return Err(ApiError::bad_request(format!(
                        "destination directory {:?} does not exist",
                        plan.path
                    )))
                }
                (false, Some(_)) if is_dir => {
                    return Err(ApiError::bad_request(format!(
                        "cannot write {:?}: it is a directory; name the file to write",
                        plan.path
                    )))
                }
                (false, None) if trailing => {
                    return Err(ApiError::bad_request(format!(
                        "cannot write {:?}: a file name cannot end with '/'",
                        plan.path
                    )))
                }
                _ => resolved.comps.clone(),
            };
            write_file(&root, &dest, &plan.path, body, owner, plan.permissions)?;
            Ok(guest_path(&dest))
        }
        Payload::Tar | Payload::Recursive => {
            if resolved.meta.is_some() && !resolved.is_dir() {
                return Err(ApiError::bad_request(format!(
                    "destination {:?} exists and is not a directory",
                    plan.path
                )));
            }
            let mut dest = resolved.comps.clone();
            if g2 && resolved.is_dir() && !plan.copy_contents {
                dest.push(OsString::from(&plan.source_name));
            }
            if let Some(needed) = plan.unpacked_size {
                check_space(&root, needed)?;
            }
            let options = ExtractOptions {
                excludes: plan.excludes.clone(),
                owner,
                file_mode: plan.permissions,
            };
            extract(&root, &dest, &plan.path, body, &options)?;
            Ok(guest_path(&dest))
        }
    }
}

/// 413 when the VM's file system cannot hold `needed` more bytes.
fn check_space(root: &GuestRoot, needed: u64) -> Result<(), ApiError> {
    let dir = root
        .open_dir(&[])
        .map_err(|e| ApiError::internal("cannot open the VM's root directory", e))?;
    let Ok(vfs) = rfs::fstatvfs(&dir) else {
        return Ok(());
    };
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    if needed > free {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the upload unpacks to {needed} bytes but the VM's disk has only {free} bytes free"
            ),
        ));
    }
    Ok(())
}

/// Writes `body` to the file `dest` atomically: a temporary file in the
/// same directory, renamed over the final name once complete.
fn write_file(
    root: &GuestRoot,
    dest: &[OsString],
    shown: &str,
    mut body: impl Read,
    owner: Owner,
    permissions: Option<u32>,
) -> Result<(), ApiError> {
    let (name, parents) = dest
        .split_last()
        .ok_or_else(|| ApiError::bad_request(format!("cannot write {shown:?}: no file name")))?;
    let parent = make_dirs(root, parents, owner, shown)?;
    let context = format!("cannot write {}", guest_path(dest));
    let io = |e: io::Error| io_error(&context, e);
    let existing = stat_at(&parent, name).map_err(io)?;
    if existing.is_some_and(|m| m.kind == Kind::Dir) {
        return Err(ApiError::bad_request(format!(
            "{context}: it is a directory"
        )));
    }
    let mode = permissions.unwrap_or_else(|| {
        existing
            .filter(|m| m.kind == Kind::File)
            .map_or(0o644, |m| m.mode)
    });
    let (mut file, temp) = create_temp(&parent, "slicer-upload").map_err(io)?;
    let done = io::copy(&mut body, &mut file)
        .map_err(|e| ApiError::bad_request(format!("reading the upload failed: {e}")))
        .and_then(|_| {
            rfs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(|e| io(e.into()))?;
            owner.apply(&file);
            rfs::renameat(&parent, &temp, &parent, name).map_err(|e| io(e.into()))
        });
    if done.is_err() {
        let _ = rfs::unlinkat(&parent, &temp, rfs::AtFlags::empty());
    }
    done
}

/// What a download found.
enum Source {
    File(File, Meta),
    Dir(OwnedFd),
}

/// `GET /vm/{h}/cp`.
pub(crate) async fn download(
    vm: Arc<Vm>,
    query: QueryParams,
    headers: HeaderMap,
    legacy: bool,
) -> Result<Response, ApiError> {
    let path = required_path(&query)?;
    let (generation, payload) = select_mode(&query, &headers, false, legacy)?;
    let excludes = excludes(&query)?;
    let root = vm.root();
    let shown = path.clone();
    let (source, name) = tokio::task::spawn_blocking(move || open_source(root, &shown, payload))
        .await
        .map_err(|e| ApiError::internal("the download failed", e))??;
    let (tx, rx) = body_channel();
    let mut response = channel_body(rx).into_response();
    let h = response.headers_mut();
    let source_type = match source {
        Source::File(file, meta) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
            h.insert(
                HeaderName::from_static(FILE_MODE_HEADER),
                HeaderValue::from_str(&format!("{:04o}", meta.mode & 0o777))
                    .unwrap_or(HeaderValue::from_static("0600")),
            );
            tokio::task::spawn_blocking(move || {
                let mut out = ChannelWriter::new(tx);
                let copied = io::copy(&mut file.take(meta.size), &mut out)
                    .and_then(|n| out.flush().map(|()| n));
                match copied {
                    Ok(n) if n == meta.size => {}
                    Ok(n) => out.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the file shrank to {n} bytes while it was sent"),
                    )),
                    Err(e) => out.fail(e),
                }
            });
            "file"
        }
        Source::Dir(dir) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            );
            let errors = tx.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = write_archive(dir, &excludes, ChannelWriter::new(tx)) {
                    tracing::warn!("tar download stopped: {e}");
                    let _ = errors.blocking_send(Err(io::Error::other(e.to_string())));
                }
            });
            "directory"
        }
    };
    if generation == Generation::G2 {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes());
        h.insert(
            HeaderName::from_static(SOURCE_TYPE_HEADER),
            HeaderValue::from_static(source_type),
        );
        h.insert(
            HeaderName::from_static(SOURCE_NAME_HEADER),
            HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static("")),
        );
    }
    Ok(response)
}

/// Whether a download path names a directory's contents (`/`, `…/.`).
fn copies_contents(path: &str) -> bool {
    let trimmed = path.trim_end_matches('/');
    trimmed.is_empty() || trimmed == "." || trimmed.ends_with("/.")
}

fn open_source(root: PathBuf, text: &str, payload: Payload) -> Result<(Source, String), ApiError> {
    let root = GuestRoot::open(&root)
        .map_err(|e| ApiError::internal("cannot open the VM's root directory", e))?;
    let user = identity(&root, None, None);
    let comps = parse_guest_path(text, &user.home)?;
    reject_host_dirs(&comps, text)?;
    let resolved = root.resolve(&comps, true, text)?;
    let meta = resolved
        .meta
        .ok_or_else(|| ApiError::not_found(format!("path {text:?} does not exist")))?;
    let name = if copies_contents(text) {
        String::new()
    } else {
        comps
            .last()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let context = format!("cannot copy {text:?}");
    let want_file = match (payload, meta.kind) {
        (Payload::Binary, Kind::Dir) => {
            return Err(ApiError::bad_request(format!(
                "{context}: must specify a file not a directory"
            )))
        }
        (Payload::Tar, kind) if kind != Kind::Dir => {
            return Err(ApiError::bad_request(format!(
                "{context} as a tar archive: it is not a directory (download files in binary mode)"
            )))
        }
        (_, Kind::Dir) => false,
        (_, Kind::File) => true,
        _ => {
            return Err(ApiError::bad_request(format!(
                "{context}: it is neither a regular file nor a directory"
            )))
        }
    };
    let source = if want_file {
        let (file, meta) =
            open_download(&root, &resolved.comps).map_err(|e| io_error(&context, e))?;
        Source::File(file, meta)
    } else {
        Source::Dir(
            root.open_dir(&resolved.comps)
                .map_err(|e| io_error(&context, e))?,
        )
    };
    Ok((source, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(
        q: &str,
        ct: &str,
        upload: bool,
        legacy: bool,
    ) -> Result<(Generation, Payload), ApiError> {
        let mut headers = HeaderMap::new();
        let name = if upload {
            header::CONTENT_TYPE
        } else {
            header::ACCEPT
        };
        headers.insert(name, HeaderValue::from_str(ct).unwrap());
        select_mode(&QueryParams::parse(q), &headers, upload, legacy)
    }

    #[test]
    fn generations_are_told_apart() {
        assert_eq!(
            mode("", "application/x-tar", true, false).unwrap(),
            (Generation::G0, Payload::Tar)
        );
        assert_eq!(
            mode("", "", true, false).unwrap(),
            (Generation::G0, Payload::Binary)
        );
        assert_eq!(
            mode(
                "",
                "application/octet-stream, application/x-tar",
                false,
                false
            )
            .unwrap(),
            (Generation::G0, Payload::Binary)
        );
        assert_eq!(
            mode("mode=tar", "", false, false).unwrap(),
            (Generation::G1, Payload::Tar)
        );
        assert_eq!(
            mode(
                "mode=cp-v1-recursive&copy_semantics=cp-v1",
                "",
                false,
                false
            )
            .unwrap(),
            (Generation::G2, Payload::Recursive)
        );
        assert!(mode("mode=cp-v1-recursive", "", true, false).is_err());
        let err = mode("mode=zip", "", true, false).unwrap_err();
        assert!(err.message.contains("invalid mode: zip"), "{err}");
        let err = mode("mode=cp-v1-tar", "", true, true).unwrap_err();
        assert_eq!(
            err.message,
            "cp produced an unexpected error: 400: invalid mode: cp-v1-tar"
        );
        assert!(mode("mode=binary&copy_semantics=v9", "", true, false).is_err());
    }

    #[test]
    fn upload_plans_check_cp_v1_metadata() {
        let plan = |q: &str| UploadPlan::parse(&QueryParams::parse(q), &HeaderMap::new(), false);
        assert!(plan("mode=binary").is_err(), "path is required");
        let p = plan("path=%2Ftmp&mode=cp-v1-tar&source_name=site&source_type=directory").unwrap();
        assert_eq!(p.source_name, "site");
        for (q, word) in [
            (
                "path=x&mode=cp-v1-binary&source_name=a&source_type=directory",
                "source_type",
            ),
            ("path=x&mode=cp-v1-binary&source_type=file", "source_name"),
            ("path=x&mode=cp-v1-binary&source_name=a%2Fb", "source_name"),
            ("path=x&mode=cp-v1-binary&source_name=..", "source_name"),
            (
                "path=x&mode=cp-v1-binary&source_name=a&copy_contents=true",
                "copy_contents",
            ),
            ("path=x&mode=binary&permissions=9", "permissions"),
            ("path=x&mode=tar&exclude=%5B", "exclude"),
            ("path=x&mode=tar&uid=x", "uid"),
        ] {
            let err = plan(q).unwrap_err();
            assert_eq!(err.status, 400, "{q}");
            assert!(err.message.contains(word), "{q}: {err}");
        }
        assert!(plan("path=x&mode=cp-v1-tar&copy_contents=true&source_type=directory").is_ok());
        let mut headers = HeaderMap::new();
        headers.insert("x-slicer-unpacked-size", HeaderValue::from_static("12x"));
        let err =
            UploadPlan::parse(&QueryParams::parse("path=x&mode=tar"), &headers, false).unwrap_err();
        assert!(err.message.contains("X-Slicer-Unpacked-Size"), "{err}");
    }

    #[test]
    fn contents_paths() {
        for p in ["/", "/srv/.", "/srv/./", ".", "//"] {
            assert!(copies_contents(p), "{p}");
        }
        for p in ["/srv", "~", "/srv/.x"] {
            assert!(!copies_contents(p), "{p}");
        }
    }
}
