//! Filesystem calls inside a VM: listing, stat, mkdir, remove, and whole-file
//! reads and writes.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{check_mode, encode_json, vm_path, SlicerClient};
use crate::error::{ApiError, Error, Result};
use crate::transport::{Body, HttpTransport};
use crate::url::Query;
use crate::wire;

/// Response header carrying a downloaded file's octal mode.
pub const FILE_MODE_HEADER: &str = "x-slicer-file-mode";

/// [`FILE_MODE_HEADER`] as a value built at compile time, so a lookup does
/// not parse the name at run time.
const FILE_MODE: HeaderName = HeaderName::from_static(FILE_MODE_HEADER);

/// Mode assumed when a download carries no [`FILE_MODE_HEADER`].
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// The kind of a directory entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    #[default]
    File,
    /// A directory.
    Directory,
    /// A symbolic link (reported, not followed).
    Symlink,
    /// Any other value, kept verbatim.
    Other(String),
}

impl FileType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Other(s) => s,
        }
    }
}

impl Serialize for FileType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FileType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "file" => FileType::File,
            "directory" | "dir" => FileType::Directory,
            "symlink" => FileType::Symlink,
            other => FileType::Other(other.to_owned()),
        })
    }
}

/// A directory entry or stat result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsEntry {
    /// Base name.
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (RFC 3339 or Unix seconds on the wire).
    #[serde(with = "wire::timestamp")]
    pub mtime: Option<OffsetDateTime>,
    /// Octal permission string, such as `0644`.
    pub mode: String,
}

impl FsEntry {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    /// The permission bits, parsed from [`mode`](Self::mode).
    pub fn mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(&self.mode, 8).ok()
    }
}

/// Body of `POST /vm/{h}/fs/mkdir`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MkdirRequest {
    /// Directory to create.
    pub path: String,
    /// Create missing parents too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recursive: bool,
    /// Octal mode such as `0755`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Ownership and mode of a written file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteFileOptions {
    /// Owner uid; `None` lets the agent choose its default user.
    pub uid: Option<u32>,
    /// Owner gid; `None` lets the agent choose.
    pub gid: Option<u32>,
    /// Octal mode such as `0644`.
    pub permissions: Option<String>,
}

/// A whole file read from a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContents {
    /// Its bytes.
    pub data: Bytes,
    /// Its permission bits ([`DEFAULT_FILE_MODE`] when the agent did not say).
    pub mode: u32,
}

/// Parses an `X-Slicer-File-Mode` value, defaulting when absent or invalid.
pub(crate) fn mode_from_headers(headers: &HeaderMap) -> u32 {
    headers
        .get(&FILE_MODE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| u32::from_str_radix(s.trim(), 8).ok())
        .unwrap_or(DEFAULT_FILE_MODE)
}

fn path_query(path: &str) -> Result<Query> {
    if path.is_empty() {
        return Err(Error::invalid("the VM path must not be empty"));
    }
    let mut q = Query::new();
    q.push("path", path);
    Ok(q)
}

impl<T: HttpTransport> SlicerClient<T> {
    /// `GET /vm/{hostname}/fs/readdir`: the entries of a directory.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when the path does not exist.
    pub async fn read_dir(&self, hostname: &str, path: &str) -> Result<Vec<FsEntry>> {
        let query = path_query(path)?;
        self.get_json::<Option<Vec<FsEntry>>>(&vm_path(hostname, &["fs", "readdir"])?, &query)
            .await
            .map(Option::unwrap_or_default)
    }

    /// `GET /vm/{hostname}/fs/stat`: one entry, or `None` when the path does
    /// not exist. Symlinks are reported, not followed.
    ///
    /// # Errors
    /// [`Error::Api`] for anything but success and 404.
    pub async fn stat(&self, hostname: &str, path: &str) -> Result<Option<FsEntry>> {
        let query = path_query(path)?;
        match self
            .get_json(&vm_path(hostname, &["fs", "stat"])?, &query)
            .await
        {
            Ok(entry) => Ok(Some(entry)),
            // An unknown VM is also a 404, but one whose body names the VM;
            // check the VM separately when that distinction matters.
            Err(Error::Api(e)) if e.status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `path` exists in the VM.
    ///
    /// # Errors
    /// As [`stat`](Self::stat).
    pub async fn exists(&self, hostname: &str, path: &str) -> Result<bool> {
        Ok(self.stat(hostname, path).await?.is_some())
    }

    /// `POST /vm/{hostname}/fs/mkdir`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty path or a bad mode; [`Error::Api`]
    /// when the parent is missing and `recursive` is off.
    pub async fn mkdir(&self, hostname: &str, request: &MkdirRequest) -> Result<()> {
        if request.path.is_empty() {
            return Err(Error::invalid("the directory path must not be empty"));
        }
        check_mode(request.mode.as_deref())?;
        let path = vm_path(hostname, &["fs", "mkdir"])?;
        self.call(
            Method::POST,
            &path,
            &Query::new(),
            Some(encode_json(request)?),
            &[StatusCode::OK],
        )
        .await?;
        Ok(())
    }

    /// `DELETE /vm/{hostname}/fs/remove`; a non-empty directory needs
    /// `recursive`.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when the path does not exist.
    pub async fn remove(&self, hostname: &str, path: &str, recursive: bool) -> Result<()> {
        let mut query = path_query(path)?;
        query.push("recursive", recursive.to_string());
        let route = vm_path(hostname, &["fs", "remove"])?;
        self.call(Method::DELETE, &route, &query, None, &[StatusCode::OK])
            .await?;
        Ok(())
    }

    /// Reads a whole file through `GET /vm/{hostname}/cp`, as the Go SDK
    /// does, with its mode.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when the file does not exist, 400 for a directory.
    pub async fn read_file(&self, hostname: &str, path: &str) -> Result<FileContents> {
        let query = path_query(path)?;
        let route = vm_path(hostname, &["cp"])?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/octet-stream"));
        let res = self
            .dispatch(Method::GET, &route, &query, Body::Empty, headers, false)
            .await?;
        let status = res.status();
        let mode = mode_from_headers(res.headers());
        let data = res.into_body().collect().await?;
        if status != StatusCode::OK {
            return Err(ApiError::from_response(Method::GET, route, status, &data).into());
        }
        Ok(FileContents { data, mode })
    }

    /// Writes a whole file through `POST /vm/{hostname}/cp`, replacing any
    /// existing one and creating missing parents.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty path or a bad mode; [`Error::Api`].
    pub async fn write_file(
        &self,
        hostname: &str,
        path: &str,
        data: impl Into<Bytes>,
        options: &WriteFileOptions,
    ) -> Result<()> {
        check_mode(options.permissions.as_deref())?;
        let mut query = path_query(path)?;
        query
            .push_opt("uid", options.uid.map(|v| v.to_string()))
            .push_opt("gid", options.gid.map(|v| v.to_string()))
            .push_opt("permissions", options.permissions.as_deref());
        let route = vm_path(hostname, &["cp"])?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let res = self
            .dispatch(
                Method::POST,
                &route,
                &query,
                Body::Bytes(data.into()),
                headers,
                false,
            )
            .await?;
        let status = res.status();
        let body = res.into_body().collect().await?;
        if status != StatusCode::OK {
            return Err(ApiError::from_response(Method::POST, route, status, &body).into());
        }
        Ok(())
    }
}
