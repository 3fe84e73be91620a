//! File and directory copy through `/vm/{h}/cp`, in the current "cp-v1"
//! form with the exact fallback to legacy agents.

use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};

use crate::client::{check_mode, vm_path, SlicerClient};
use crate::error::{ApiError, Error, Result};
use crate::fs::mode_from_headers;
use crate::transport::{Body, HttpTransport, MaybeSend, MaybeSync, ResponseBody};
use crate::url::Query;

/// Request header with the total size of the regular files in a tar upload.
pub const UNPACKED_SIZE_HEADER: &str = "x-slicer-unpacked-size";
/// Response header naming the kind of a cp-v1 download (`file`, `directory`).
pub const SOURCE_TYPE_HEADER: &str = "x-slicer-source-type";
/// Response header with the base64url (unpadded) base name of a download.
pub const SOURCE_NAME_HEADER: &str = "x-slicer-source-name-base64";
/// The unreleased raw-name header; an answer carrying only it is incomplete.
const RAW_SOURCE_NAME_HEADER: &str = "x-slicer-source-name";

// The header names as values, built at compile time: looking a header up by
// `&str` parses the name at run time, which links the `http` crate's table of
// standard names into every build (it is large in WebAssembly).
const UNPACKED_SIZE: HeaderName = HeaderName::from_static(UNPACKED_SIZE_HEADER);
const SOURCE_TYPE: HeaderName = HeaderName::from_static(SOURCE_TYPE_HEADER);
const SOURCE_NAME: HeaderName = HeaderName::from_static(SOURCE_NAME_HEADER);
const RAW_SOURCE_NAME: HeaderName = HeaderName::from_static(RAW_SOURCE_NAME_HEADER);

/// Payload kind of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadKind {
    /// One file's raw bytes.
    Binary,
    /// An uncompressed tar of a directory's contents.
    Tar,
}

impl UploadKind {
    fn modes(self) -> (&'static str, &'static str) {
        match self {
            UploadKind::Binary => ("cp-v1-binary", "binary"),
            UploadKind::Tar => ("cp-v1-tar", "tar"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            UploadKind::Binary => "application/octet-stream",
            UploadKind::Tar => "application/x-tar",
        }
    }
}

/// What a download asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownloadMode {
    /// A regular file's bytes; a directory is an error.
    Binary,
    /// A tar of a directory's contents; a file is an error.
    Tar,
    /// Whichever the path is: raw bytes for a file, a tar for a directory.
    Recursive,
}

impl DownloadMode {
    fn cp_v1(self) -> &'static str {
        match self {
            DownloadMode::Binary => "cp-v1-binary",
            DownloadMode::Tar => "cp-v1-tar",
            DownloadMode::Recursive => "cp-v1-recursive",
        }
    }

    fn accept(self) -> &'static str {
        match self {
            DownloadMode::Binary => "application/octet-stream",
            DownloadMode::Tar => "application/x-tar",
            DownloadMode::Recursive => "application/octet-stream, application/x-tar",
        }
    }
}

/// Whether a copy's source is a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// A regular file: the payload is its bytes.
    File,
    /// A directory: the payload is a tar of its contents.
    Directory,
}

impl SourceType {
    /// The wire spelling (`file`, `directory`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::File => "file",
            SourceType::Directory => "directory",
        }
    }
}

/// Which protocol generation a copy ended up using.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyGeneration {
    /// `cp-v1`: the guest applied the destination rules.
    CpV1,
    /// The explicit `mode=binary|tar` form, after a legacy agent refused cp-v1.
    Legacy,
}

#[cfg(not(target_arch = "wasm32"))]
type MakeBody = Box<dyn Fn() -> std::io::Result<Body> + Send + Sync>;
#[cfg(target_arch = "wasm32")]
type MakeBody = Box<dyn Fn() -> std::io::Result<Body>>;

/// An upload body that can be produced again: the legacy fallback resends
/// the same bytes, so a stream must be re-openable (re-read the file,
/// rebuild the tar).
pub struct UploadSource {
    make: MakeBody,
    length: Option<u64>,
}

impl UploadSource {
    /// A source over bytes already in memory (cloning them is free).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let length = Some(bytes.len() as u64);
        UploadSource {
            make: Box::new(move || Ok(Body::Bytes(bytes.clone()))),
            length,
        }
    }

    /// A source that calls `open` each time the body is needed.
    pub fn from_fn<F>(length: Option<u64>, open: F) -> Self
    where
        F: Fn() -> std::io::Result<Body> + MaybeSend + MaybeSync + 'static,
    {
        UploadSource {
            make: Box::new(open),
            length,
        }
    }

    /// The body length, when known.
    pub fn len(&self) -> Option<u64> {
        self.length
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.length == Some(0)
    }

    fn open(&self) -> Result<Body> {
        let body = (self.make)().map_err(|e| {
            Error::Transport(crate::error::TransportError::new(
                crate::error::TransportErrorKind::Request,
                e,
            ))
        })?;
        Ok(match body {
            Body::Stream {
                stream,
                length: None,
            } => Body::Stream {
                stream,
                length: self.length,
            },
            other => other,
        })
    }
}

impl fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadSource")
            .field("length", &self.length)
            .finish()
    }
}

/// An upload into a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Guest destination (`~` resolves to the user's home).
    pub path: String,
    /// Payload kind.
    pub kind: UploadKind,
    /// Base name of the local source; may be empty only with
    /// `copy_contents`.
    pub source_name: String,
    /// Tar only: put the directory's contents into `path` instead of a
    /// `path/<source_name>` directory.
    pub copy_contents: bool,
    /// Owner uid of written files; `None` is the agent's default user.
    pub uid: Option<u32>,
    /// Owner gid of written files.
    pub gid: Option<u32>,
    /// Octal mode for written files.
    pub permissions: Option<String>,
    /// Tar only: patterns the guest skips while extracting.
    pub exclude: Vec<String>,
    /// Tar only: total bytes of regular files, so the guest can refuse early.
    pub unpacked_size: Option<u64>,
}

impl Upload {
    /// A file upload to `path`, named `source_name` locally.
    pub fn file(path: impl Into<String>, source_name: impl Into<String>) -> Self {
        Upload {
            path: path.into(),
            kind: UploadKind::Binary,
            source_name: source_name.into(),
            copy_contents: false,
            uid: None,
            gid: None,
            permissions: None,
            exclude: Vec::new(),
            unpacked_size: None,
        }
    }

    /// A directory (tar) upload to `path`, named `source_name` locally.
    pub fn directory(path: impl Into<String>, source_name: impl Into<String>) -> Self {
        Upload {
            kind: UploadKind::Tar,
            ..Upload::file(path, source_name)
        }
    }

    fn validate(&self) -> Result<()> {
        if self.path.is_empty() {
            return Err(Error::invalid("the VM destination path must not be empty"));
        }
        check_mode(self.permissions.as_deref())?;
        if self.kind == UploadKind::Binary {
            if self.copy_contents {
                return Err(Error::invalid(
                    "copy_contents applies to directory uploads only",
                ));
            }
            if !self.exclude.is_empty() {
                return Err(Error::invalid(
                    "exclude patterns apply to directory uploads only",
                ));
            }
        }
        if !(self.copy_contents && self.source_name.is_empty()) {
            check_source_name(&self.source_name)?;
        }
        Ok(())
    }

    fn shared_query(&self, mode: &str) -> Query {
        let mut q = Query::new();
        q.push("path", self.path.as_str())
            .push("mode", mode)
            .push_opt("uid", self.uid.map(|v| v.to_string()))
            .push_opt("gid", self.gid.map(|v| v.to_string()))
            .push_opt("permissions", self.permissions.as_deref());
        for pattern in &self.exclude {
            q.push("exclude", pattern.as_str());
        }
        q
    }
}

/// Checks a base name sent as `source_name`.
pub fn check_source_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\\') {
        return Err(Error::invalid(format!(
            "source name {name:?} must be a plain file name (not empty, '.', '..', and without '/' or '\\')"
        )));
    }
    Ok(())
}

/// A download from a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    /// Guest path.
    pub path: String,
    /// What to ask for.
    pub mode: DownloadMode,
    /// Tar only: patterns the guest skips while archiving.
    pub exclude: Vec<String>,
}

impl DownloadRequest {
    /// A download of `path` in `mode`.
    pub fn new(path: impl Into<String>, mode: DownloadMode) -> Self {
        DownloadRequest {
            path: path.into(),
            mode,
            exclude: Vec::new(),
        }
    }

    /// Whether the remote path names a directory's contents (`/` or `…/.`),
    /// in which case the answer may carry no name.
    pub fn copies_contents(&self) -> bool {
        let p = self.path.trim_end_matches('/');
        (self.path.starts_with('/') && p.is_empty()) || p.ends_with("/.") || p == "."
    }
}

/// A download's answer: its kind, name and mode, and the body still to read.
pub struct Download {
    /// File bytes or a tar of the directory's contents.
    pub source_type: SourceType,
    /// The source's base name (empty when contents were copied).
    pub name: String,
    /// The file's mode from `X-Slicer-File-Mode` (0600 when absent); for
    /// directories, meaningless.
    pub mode: u32,
    /// The protocol generation that answered.
    pub generation: CopyGeneration,
    /// The payload, streamed.
    pub body: ResponseBody,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("source_type", &self.source_type)
            .field("name", &self.name)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// The last element of a cleaned guest path, as Go's `path.Base(path.Clean(p))`.
fn base_name(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    parts
        .last()
        .filter(|s| **s != ".." && !s.is_empty())
        .map(|s| (*s).to_owned())
}

/// Whether an error answer is a legacy agent refusing the cp-v1 `mode`.
fn refuses_mode(status: StatusCode, body: &[u8], mode: &str) -> bool {
    status == StatusCode::BAD_REQUEST
        && String::from_utf8_lossy(body).contains(&format!("invalid mode: {mode}"))
}

impl<T: HttpTransport> SlicerClient<T> {
    /// `POST /vm/{hostname}/cp`: uploads a file or a tar in cp-v1 form, and
    /// once more in the legacy form when (and only when) the agent answers
    /// 400 `invalid mode: cp-v1-…`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad destination, name or mode;
    /// [`Error::Api`] for every other refusal, without retry.
    pub async fn cp_upload(
        &self,
        hostname: &str,
        upload: &Upload,
        source: &UploadSource,
    ) -> Result<CopyGeneration> {
        upload.validate()?;
        let route = vm_path(hostname, &["cp"])?;
        let (v1_mode, legacy_mode) = upload.kind.modes();

        let mut query = upload.shared_query(v1_mode);
        query.push("copy_semantics", "cp-v1");
        query.push("source_name", upload.source_name.as_str());
        let source_type = match upload.kind {
            UploadKind::Binary => SourceType::File,
            UploadKind::Tar => SourceType::Directory,
        };
        query.push("source_type", source_type.as_str());
        if upload.copy_contents {
            query.push("copy_contents", "true");
        }

        let (status, body) = self.send_upload(&route, &query, upload, source).await?;
        if status == StatusCode::OK {
            return Ok(CopyGeneration::CpV1);
        }
        if !refuses_mode(status, &body, v1_mode) {
            return Err(ApiError::from_response(Method::POST, route, status, &body).into());
        }
        #[cfg(feature = "tracing")]
        tracing::warn!(
            mode = v1_mode,
            "agent refused cp-v1; retrying in the legacy form"
        );

        let legacy = upload.shared_query(legacy_mode);
        let (status, body) = self.send_upload(&route, &legacy, upload, source).await?;
        if status != StatusCode::OK {
            return Err(ApiError::from_response(Method::POST, route, status, &body).into());
        }
        Ok(CopyGeneration::Legacy)
    }

    async fn send_upload(
        &self,
        route: &str,
        query: &Query,
        upload: &Upload,
        source: &UploadSource,
    ) -> Result<(StatusCode, Bytes)> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(upload.kind.content_type()),
        );
        if let (UploadKind::Tar, Some(size)) = (upload.kind, upload.unpacked_size) {
            headers.insert(UNPACKED_SIZE, HeaderValue::from(size));
        }
        // The answer comes only after the guest has written everything.
        let res = self
            .dispatch(Method::POST, route, query, source.open()?, headers, true)
            .await?;
        let status = res.status();
        Ok((status, res.into_body().collect().await?))
    }

    /// `GET /vm/{hostname}/cp`: starts a download in cp-v1 form, falling back
    /// to the legacy form exactly as the protocol prescribes. The body is
    /// left to the caller to stream.
    ///
    /// # Errors
    /// [`Error::Api`] for refusals; [`Error::Decode`] when a cp-v1 answer lacks
    /// its metadata headers or contradicts the requested mode, or a legacy
    /// answer leaves no name to derive.
    pub async fn cp_download(&self, hostname: &str, request: &DownloadRequest) -> Result<Download> {
        if request.path.is_empty() {
            return Err(Error::invalid("the VM source path must not be empty"));
        }
        if request.mode == DownloadMode::Binary && !request.exclude.is_empty() {
            return Err(Error::invalid(
                "exclude patterns apply to directory downloads only",
            ));
        }
        let route = vm_path(hostname, &["cp"])?;
        let v1_mode = request.mode.cp_v1();
        let mut query = self.download_query(request, v1_mode);
        query.push("copy_semantics", "cp-v1");

        let res = self
            .download_request(&route, &query, request.mode.accept())
            .await?;
        let status = res.status();
        if status == StatusCode::OK {
            return cp_v1_download(request, res);
        }
        let body = res.into_body().collect().await?;
        if !refuses_mode(status, &body, v1_mode) {
            return Err(ApiError::from_response(Method::GET, route, status, &body).into());
        }
        #[cfg(feature = "tracing")]
        tracing::warn!(
            mode = v1_mode,
            "agent refused cp-v1; retrying in the legacy form"
        );

        let name = match base_name(&request.path) {
            Some(n) => n,
            None if request.copies_contents() => String::new(),
            None => {
                return Err(Error::invalid(format!(
                    "cannot derive a name from the VM path {:?} for a legacy agent",
                    request.path
                )))
            }
        };
        let attempts: &[(&str, SourceType)] = match request.mode {
            DownloadMode::Binary => &[("binary", SourceType::File)],
            DownloadMode::Tar => &[("tar", SourceType::Directory)],
            DownloadMode::Recursive => {
                &[("binary", SourceType::File), ("tar", SourceType::Directory)]
            }
        };
        for (i, (mode, source_type)) in attempts.iter().enumerate() {
            let query = self.download_query(request, mode);
            let accept = match source_type {
                SourceType::File => "application/octet-stream",
                SourceType::Directory => "application/x-tar",
            };
            let res = self.download_request(&route, &query, accept).await?;
            let status = res.status();
            if status == StatusCode::OK {
                return Ok(Download {
                    source_type: *source_type,
                    name,
                    mode: mode_from_headers(res.headers()),
                    generation: CopyGeneration::Legacy,
                    body: res.into_body(),
                });
            }
            let body = res.into_body().collect().await?;
            let is_dir =
                String::from_utf8_lossy(&body).contains("must specify a file not a directory");
            let more = i + 1 < attempts.len();
            if !(more && status == StatusCode::BAD_REQUEST && is_dir) {
                return Err(ApiError::from_response(Method::GET, route, status, &body).into());
            }
        }
        unreachable!("the last attempt always returns")
    }

    fn download_query(&self, request: &DownloadRequest, mode: &str) -> Query {
        let mut q = Query::new();
        q.push("path", request.path.as_str()).push("mode", mode);
        if request.mode != DownloadMode::Binary {
            for pattern in &request.exclude {
                q.push("exclude", pattern.as_str());
            }
        }
        q
    }

    async fn download_request(
        &self,
        route: &str,
        query: &Query,
        accept: &'static str,
    ) -> Result<http::Response<ResponseBody>> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        self.dispatch(Method::GET, route, query, Body::Empty, headers, false)
            .await
    }
}

/// Reads and checks the metadata of a cp-v1 answer.
fn cp_v1_download(
    request: &DownloadRequest,
    res: http::Response<ResponseBody>,
) -> Result<Download> {
    let context = "GET /vm/{hostname}/cp (cp-v1)";
    let headers = res.headers();
    let text = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let source_type = match text(&SOURCE_TYPE) {
        Some("file") => SourceType::File,
        Some("directory") => SourceType::Directory,
        Some(other) => {
            return Err(Error::decode(
                context,
                format!("unknown source type {other:?}"),
            ))
        }
        None => {
            return Err(Error::decode(
                context,
                "the answer has no X-Slicer-Source-Type header",
            ))
        }
    };
    let name = match text(&SOURCE_NAME) {
        Some(encoded) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|e| {
                    Error::decode(context, format!("bad X-Slicer-Source-Name-Base64: {e}"))
                })?;
            String::from_utf8(raw)
                .map_err(|_| Error::decode(context, "the source name is not UTF-8"))?
        }
        None if text(&RAW_SOURCE_NAME).is_some() => {
            return Err(Error::decode(
                context,
                "the answer carries only X-Slicer-Source-Name, not X-Slicer-Source-Name-Base64",
            ))
        }
        None => {
            return Err(Error::decode(
                context,
                "the answer has no X-Slicer-Source-Name-Base64 header",
            ))
        }
    };
    if name.is_empty() && !request.copies_contents() {
        return Err(Error::decode(context, "the answer names no source"));
    }
    if !name.is_empty() {
        check_source_name(&name).map_err(|e| Error::decode(context, e))?;
    }
    let expected = match request.mode {
        DownloadMode::Binary => Some(SourceType::File),
        DownloadMode::Tar => Some(SourceType::Directory),
        DownloadMode::Recursive => None,
    };
    if expected.is_some_and(|t| t != source_type) {
        return Err(Error::decode(
            context,
            format!(
                "asked for a {} but the agent sent a {}",
                expected.map(SourceType::as_str).unwrap_or_default(),
                source_type.as_str()
            ),
        ));
    }
    Ok(Download {
        source_type,
        name,
        mode: mode_from_headers(headers),
        generation: CopyGeneration::CpV1,
        body: res.into_body(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_follow_go_clean() {
        assert_eq!(base_name("/home/ubuntu/site/").as_deref(), Some("site"));
        assert_eq!(base_name("a/b/../c").as_deref(), Some("c"));
        assert_eq!(base_name("~/x").as_deref(), Some("x"));
        assert_eq!(base_name("/"), None);
        assert_eq!(base_name(".."), None);
        assert_eq!(base_name("/.."), None);
    }

    #[test]
    fn contents_paths() {
        for p in ["/", "/srv/.", "/srv/./", "."] {
            assert!(
                DownloadRequest::new(p, DownloadMode::Tar).copies_contents(),
                "{p}"
            );
        }
        for p in ["/srv", "srv", "/srv/.x"] {
            assert!(
                !DownloadRequest::new(p, DownloadMode::Tar).copies_contents(),
                "{p}"
            );
        }
    }

    #[test]
    fn uploads_validate_names_and_kinds() {
        assert!(Upload::file("/tmp/x", "").validate().is_err());
        assert!(Upload::file("/tmp/x", "a/b").validate().is_err());
        assert!(Upload::file("", "a").validate().is_err());
        let mut u = Upload::directory("/srv", "");
        assert!(u.validate().is_err());
        u.copy_contents = true;
        assert!(u.validate().is_ok());
        let mut f = Upload::file("/srv", "a");
        f.exclude.push("*.tmp".into());
        assert!(f.validate().is_err());
    }
}
