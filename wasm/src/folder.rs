//! Folder transfer in memory: files a page holds (a `FileList`, `File`s,
//! plain records) go up as one tar, and a VM directory comes back as
//! records, with no filesystem on this side.

use std::rc::Rc;

use js_sys::{Array, Function, Reflect, Uint8Array};
use slicer_core::tar::{build_archive, read_archive, Entry, EntryKind};
use slicer_core::{DownloadMode, DownloadRequest, Error, Upload, UploadSource};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::api::State;
use crate::convert::{bytes_of, js_bytes, Obj};
use crate::errors::{plain, to_js, type_error};
use crate::transport::{Direction, ProgressFn};

/// Reads bytes from a `Uint8Array`/`ArrayBuffer`/string, a `Blob`, a
/// `ReadableStream` of chunks, or an async iterable of chunks (a Node
/// `Readable` is one).
pub(crate) async fn collect_bytes(value: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(bytes) = bytes_of(value) {
        return Ok(bytes);
    }
    if let Some(bytes) = blob_bytes(value).await? {
        return Ok(bytes);
    }
    let bad = || {
        type_error(
            "expected bytes, a Blob, a ReadableStream or an async iterable of Uint8Array chunks",
        )
    };
    let mut out = Vec::new();
    if let Ok(get_reader) = method(value, "getReader") {
        let reader = get_reader.call0(value)?;
        let read = method(&reader, "read")?;
        loop {
            let step = JsFuture::from(js_sys::Promise::resolve(&read.call0(&reader)?)).await?;
            if Reflect::get(&step, &"done".into())?.is_truthy() {
                return Ok(out);
            }
            let chunk = Reflect::get(&step, &"value".into())?;
            out.extend(bytes_of(&chunk).ok_or_else(bad)?);
        }
    }
    let factory = Reflect::get(value, &js_sys::Symbol::async_iterator())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(bad)?;
    let iterator = factory.call0(value)?;
    let next = method(&iterator, "next")?;
    loop {
        let step = JsFuture::from(js_sys::Promise::resolve(&next.call0(&iterator)?)).await?;
        if Reflect::get(&step, &"done".into())?.is_truthy() {
            return Ok(out);
        }
        let chunk = Reflect::get(&step, &"value".into())?;
        out.extend(bytes_of(&chunk).ok_or_else(bad)?);
    }
}

fn method(value: &JsValue, name: &str) -> Result<Function, JsValue> {
    if !value.is_object() {
        return Err(type_error(format!("expected an object with {name}()")));
    }
    Reflect::get(value, &name.into())?
        .dyn_into::<Function>()
        .map_err(|_| type_error(format!("expected an object with {name}()")))
}

/// The bytes of a `Blob` (or `File`), `None` for anything else.
async fn blob_bytes(value: &JsValue) -> Result<Option<Vec<u8>>, JsValue> {
    let Ok(array_buffer) = method(value, "arrayBuffer") else {
        return Ok(None);
    };
    let buffer = JsFuture::from(js_sys::Promise::resolve(&array_buffer.call0(value)?)).await?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

fn string_prop(value: &JsValue, key: &str) -> Option<String> {
    Reflect::get(value, &key.into())
        .ok()
        .and_then(|v| v.as_string())
        .filter(|s| !s.is_empty())
}

/// A mode given as a number (`0o755`) or an octal string (`'0755'`).
fn mode_of(value: &JsValue, path: &str) -> Result<Option<u32>, JsValue> {
    let raw = Reflect::get(value, &"mode".into())?;
    if raw.is_undefined() || raw.is_null() {
        return Ok(None);
    }
    let mode = match (raw.as_f64(), raw.as_string()) {
        (Some(n), _) if n >= 0.0 && n.fract() == 0.0 && n <= 0o7777 as f64 => Some(n as u32),
        (_, Some(s)) => u32::from_str_radix(s.trim(), 8)
            .ok()
            .filter(|&m| m <= 0o7777),
        _ => None,
    };
    mode.map(Some).ok_or_else(|| {
        type_error(format!(
            "the mode of {path:?} must be a number such as 0o644 or an octal string such as '0644'"
        ))
    })
}

/// An mtime in seconds since the epoch: a number of seconds or a `Date`.
fn mtime_of(value: &JsValue, path: &str) -> Result<Option<i64>, JsValue> {
    let raw = Reflect::get(value, &"mtime".into())?;
    if raw.is_undefined() || raw.is_null() {
        return Ok(None);
    }
    if let Some(date) = raw.dyn_ref::<js_sys::Date>() {
        return Ok(Some((date.get_time() / 1000.0).floor() as i64));
    }
    match raw.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n.floor() as i64)),
        _ => Err(type_error(format!(
            "the mtime of {path:?} must be seconds since the epoch or a Date"
        ))),
    }
}

/// One item of `uploadFolder`'s `files` as a tar entry.
async fn entry_of(item: &JsValue, index: u32) -> Result<Entry, JsValue> {
    if !item.is_object() {
        return Err(type_error(format!(
            "files[{index}] must be a File, a Blob record or {{path, data}}"
        )));
    }
    let explicit = string_prop(item, "path");
    let is_blob = method(item, "arrayBuffer").is_ok();
    let (path, data_holder) = match (explicit, is_blob) {
        (Some(p), _) => (p, Reflect::get(item, &"data".into())?),
        (None, true) => {
            // A File from an <input webkitdirectory> or a drop carries its
            // path below the chosen folder; a lone File only its name.
            let path = string_prop(item, "webkitRelativePath")
                .or_else(|| string_prop(item, "name"))
                .ok_or_else(|| {
                    type_error(format!(
                        "files[{index}] is a Blob without a name: pass {{path, data: blob}}"
                    ))
                })?;
            (path, item.clone())
        }
        (None, false) => {
            return Err(type_error(format!(
                "files[{index}] has no path: give each record a relative path"
            )))
        }
    };
    let data = if data_holder.is_undefined() || data_holder.is_null() {
        return Err(type_error(format!("files[{index}] ({path:?}) has no data")));
    } else if let Some(bytes) = bytes_of(&data_holder) {
        bytes
    } else if let Some(bytes) = blob_bytes(&data_holder).await? {
        bytes
    } else {
        return Err(type_error(format!(
            "the data of {path:?} must be a Uint8Array, an ArrayBuffer, a string or a Blob"
        )));
    };
    let mut entry = Entry::file(path.trim_start_matches("./"), data);
    if let Some(mode) = mode_of(item, &path)? {
        entry.mode = mode;
    }
    if let Some(mtime) = mtime_of(item, &path)? {
        entry.mtime = mtime;
    } else if is_blob {
        if let Some(ms) = Reflect::get(item, &"lastModified".into())?.as_f64() {
            entry.mtime = (ms / 1000.0).floor() as i64;
        }
    }
    Ok(entry)
}

fn progress_fn(callback: Option<Function>) -> Option<ProgressFn> {
    let callback = callback?;
    Some(Rc::new(move |direction, loaded, total| {
        let phase = match direction {
            Direction::Upload => "upload",
            Direction::Download => "download",
        };
        let report = Obj::new()
            .set("phase", phase)
            .set("loaded", loaded)
            .opt("total", total)
            .build();
        // A throwing callback must not break the transfer.
        let _ = callback.call1(&JsValue::UNDEFINED, &report);
    }))
}

/// `vm.fs.uploadFolder`: the files become one tar (PROTOCOL §20 layout,
/// parent directories implied) extracted under `remote`, which is created
/// when missing. Resolves with `{files, archiveBytes}`.
pub(crate) async fn upload(
    state: Rc<State>,
    hostname: String,
    remote: String,
    files: JsValue,
    on_progress: Option<Function>,
) -> Result<JsValue, JsValue> {
    let items: Array = if Array::is_array(&files) {
        files.unchecked_into()
    } else if method(&files, "arrayBuffer").is_ok() {
        std::iter::once(files).collect()
    } else if js_sys::try_iter(&files).ok().flatten().is_some()
        || Reflect::get(&files, &"length".into()).is_ok_and(|l| l.as_f64().is_some())
    {
        // A FileList (or any iterable or array-like).
        Array::from(&files)
    } else {
        return Err(type_error(
            "files must be a FileList, an array of Files or {path, data} records, or one File",
        ));
    };
    let mut entries = Vec::with_capacity(items.length() as usize);
    for (i, item) in items.iter().enumerate() {
        entries.push(entry_of(&item, i as u32).await?);
    }
    if entries.is_empty() {
        return Err(plain("uploadFolder needs at least one file"));
    }
    let unpacked: u64 = entries.iter().map(|e| e.data.len() as u64).sum();
    let archive = build_archive(&entries).map_err(|e| to_js(Error::Tar(e), None))?;
    let archive_len = archive.len();

    let client = match progress_fn(on_progress) {
        Some(p) => state.with_progress(p)?,
        None => state.client.clone(),
    };
    let mut upload = Upload::directory(remote, "");
    upload.copy_contents = true;
    upload.unpacked_size = Some(unpacked);
    client
        .cp_upload(&hostname, &upload, &UploadSource::from_bytes(archive))
        .await
        .map_err(|e| to_js(e, None))?;
    Ok(Obj::new()
        .set("files", entries.len() as u32)
        .set("archiveBytes", archive_len as f64)
        .build())
}

/// `vm.fs.downloadFolder`: a tar of `remote`'s contents, read in memory
/// into `[{path, type, data, mode, mtime}]` (directories have empty data).
pub(crate) async fn download(
    state: Rc<State>,
    hostname: String,
    remote: String,
    on_progress: Option<Function>,
) -> Result<JsValue, JsValue> {
    let client = match progress_fn(on_progress) {
        Some(p) => state.with_progress(p)?,
        None => state.client.clone(),
    };
    let request = DownloadRequest::new(remote, DownloadMode::Tar);
    let download = client
        .cp_download(&hostname, &request)
        .await
        .map_err(|e| to_js(e, None))?;
    let archive = download
        .body
        .collect()
        .await
        .map_err(|e| to_js(e.into(), None))?;
    let entries = read_archive(&archive).map_err(|e| to_js(Error::Tar(e), None))?;
    let out = Array::new();
    for e in &entries {
        let kind = match e.kind {
            EntryKind::File => "file",
            EntryKind::Directory => "directory",
        };
        out.push(
            &Obj::new()
                .set("path", e.path.as_str())
                .set("type", kind)
                .set("data", js_bytes(&e.data))
                .set("mode", e.mode)
                .set("mtime", e.mtime as f64)
                .build(),
        );
    }
    Ok(out.into())
}
