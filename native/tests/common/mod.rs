//! Helpers shared by the copy tests: hand-made tar entries (for names no
//! writer would produce), file-tree snapshots, and a scripted client.

#![allow(dead_code)] // Each test file uses its own subset.

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::io::Read;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use slicer::http::{HeaderMap, HeaderValue, StatusCode};
use slicer::{ClientConfig, SlicerClient};
use slicer_core::testing::{Scripted, TestTransport};

/// One tar entry with a raw ustar header: any name, any type, content
/// padded to the block size.
pub fn raw_entry(name: &[u8], typeflag: u8, mode: u32, data: &[u8], link: &[u8]) -> Vec<u8> {
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "raw names fit ustar"
    );
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    put_octal(&mut h[100..108], mode as u64);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    let size = if typeflag == b'0' {
        data.len() as u64
    } else {
        0
    };
    put_octal(&mut h[124..136], size);
    put_octal(&mut h[136..148], 1_700_000_000);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    put_octal(&mut h[148..155], sum as u64);
    h[155] = b' ';
    let mut out = h.to_vec();
    if typeflag == b'0' {
        out.extend_from_slice(data);
        out.resize(out.len() + (512 - data.len() % 512) % 512, 0);
    }
    out
}

fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// A raw regular-file entry.
pub fn raw_file(name: &str, data: &[u8]) -> Vec<u8> {
    raw_entry(name.as_bytes(), b'0', 0o644, data, b"")
}

/// Joins entries and adds the end-of-archive blocks.
pub fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// What a path in a tree is, as far as a copy preserves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
        mtime: i64,
    },
    File {
        mode: u32,
        mtime: i64,
        data: Vec<u8>,
    },
    Link(PathBuf),
    Other,
}

/// Every path below `root` (relative, raw bytes), never following links.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("inside");
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let kind = meta.file_type();
            let node = if kind.is_symlink() {
                Node::Link(fs::read_link(&path).expect("readlink"))
            } else if kind.is_dir() {
                stack.push(path.clone());
                Node::Dir {
                    mode: meta.mode() & 0o7777,
                    mtime: meta.mtime(),
                }
            } else if kind.is_file() {
                let mut data = Vec::new();
                File::open(&path)
                    .and_then(|mut f| f.read_to_end(&mut data))
                    .expect("read");
                Node::File {
                    mode: meta.mode() & 0o7777,
                    mtime: meta.mtime(),
                    data,
                }
            } else {
                Node::Other
            };
            out.insert(rel.as_os_str().as_bytes().to_vec(), node);
        }
    }
    out
}

/// Names of every path below `root` whose file name starts with `prefix`.
pub fn leftovers(root: &Path, prefix: &str) -> Vec<Vec<u8>> {
    snapshot(root)
        .into_keys()
        .filter(|rel| {
            let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
            name.starts_with(prefix.as_bytes())
        })
        .collect()
}

pub fn set_mtime(path: &Path, secs: u64) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    File::open(path)
        .expect("open for times")
        .set_times(FileTimes::new().set_modified(time))
        .expect("set mtime");
}

pub fn write_file(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A client answering from `script`, and the transport recording what it
/// sent.
pub fn scripted(
    script: impl IntoIterator<Item = Scripted>,
) -> (SlicerClient<Arc<TestTransport>>, Arc<TestTransport>) {
    let transport = Arc::new(TestTransport::new(script));
    let client = SlicerClient::new(
        Arc::clone(&transport),
        ClientConfig::new("http://127.0.0.1:9"),
    )
    .expect("client");
    (client, transport)
}

pub fn encode_name(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

/// A cp-v1 answer: `source_type`, the encoded name, an optional file mode,
/// the body in the given chunks.
pub fn cp_v1(source_type: &str, name: &str, mode: Option<&str>, chunks: Vec<Vec<u8>>) -> Scripted {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-slicer-source-type",
        HeaderValue::from_str(source_type).unwrap(),
    );
    headers.insert(
        "x-slicer-source-name-base64",
        HeaderValue::from_str(&encode_name(name)).unwrap(),
    );
    if let Some(mode) = mode {
        headers.insert("x-slicer-file-mode", HeaderValue::from_str(mode).unwrap());
    }
    Scripted::Response {
        status: StatusCode::OK,
        headers,
        chunks: chunks.into_iter().map(Into::into).collect(),
        break_after: false,
    }
}

/// The same answer, with the connection breaking after the chunks.
pub fn broken(answer: Scripted) -> Scripted {
    match answer {
        Scripted::Response {
            status,
            headers,
            chunks,
            ..
        } => Scripted::Response {
            status,
            headers,
            chunks,
            break_after: true,
        },
        other => other,
    }
}
