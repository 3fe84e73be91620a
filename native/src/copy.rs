//! Copying files and directories between this machine and a VM by path,
//! streamed end to end (PROTOCOL §10 and §20).
//!
//! [`CopyExt`] adds [`cp_to_vm`](CopyExt::cp_to_vm) and
//! [`cp_from_vm`](CopyExt::cp_from_vm) to every client. They speak the
//! current "cp-v1" protocol and fall back to the legacy form exactly as the
//! core's [`cp_upload`](slicer_core::SlicerClient::cp_upload) and
//! [`cp_download`](slicer_core::SlicerClient::cp_download) do, and they
//! apply the `cp -r`-style destination rules on this side of the copy.
//!
//! Nothing is read whole into memory: a file upload streams from the file
//! (and re-opens it if the fallback resends it), a directory upload is
//! archived on the fly by a blocking thread feeding a bounded channel, and
//! a download is written or extracted as it arrives. At most about half a
//! megabyte of a copy is in flight at a time, whatever its size.
//!
//! The building blocks are public too: [`write_tar`] archives a local
//! directory into any writer, [`measure_tree`] computes the same archive's
//! sizes without reading a file, and [`extract_tar`] extracts any tar
//! stream under the safety rules of PROTOCOL §20.2.
//!
//! The rest of this module re-exports the core's copy types
//! ([`Upload`], [`DownloadRequest`], …) for callers who drive the wire
//! protocol themselves.
//!
//! This module is available on Unix only.

mod channel;
mod download;
mod extract;
mod upload;
mod walk;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use slicer_core::copy::*;
use slicer_core::{Error, HttpTransport, Result, SlicerClient};

pub use extract::{extract_tar, ExtractOptions, ExtractSummary, EXTRACT_TEMP_PREFIX};
pub use walk::{measure_tree, write_tar, TarSummary};

/// Prefix of the temporary file a file download is written to, and of the
/// staging directory a directory download is extracted into, before either
/// is renamed into place.
pub const DOWNLOAD_TEMP_PREFIX: &str = ".slicer-download-";

/// A progress callback: `(bytes_done, total)`.
///
/// Uploads count bytes handed to the connection, with the file's size or
/// the archive's expected size as the total. Downloads count bytes
/// received, with no total (the size is not known in advance). When the
/// legacy fallback resends an upload, the count starts again from 0.
///
/// It is called on the async runtime's threads after every chunk (64 KiB
/// or less), so it must be quick: update a counter or a progress bar, and
/// never block.
pub type Progress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// How a copy's payload travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CopyMode {
    /// Decide from the source: on upload, a regular file goes as binary and
    /// a directory as tar; on download, the VM answers with whichever the
    /// path is (`cp-v1-recursive`).
    #[default]
    Auto,
    /// One regular file's raw bytes; a directory is an error.
    Binary,
    /// A tar of a directory's contents; a regular file is an error.
    Tar,
}

/// Options of [`CopyExt::cp_to_vm`] and [`CopyExt::cp_from_vm`], built
/// with the `with_*` methods.
///
/// ```
/// use slicer::CopyOptions;
///
/// let options = CopyOptions::new()
///     .with_uid(1000)
///     .with_gid(1000)
///     .with_exclude(["target", "*.tmp"])
///     .with_progress(|done, total| eprintln!("{done} of {total:?} bytes"));
/// assert_eq!(options.exclude.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct CopyOptions {
    /// Upload only: owner uid of the files written in the VM; `None` lets
    /// the agent pick its default user (PROTOCOL §3.10). A download with an
    /// owner set is refused: local files belong to the calling user.
    pub uid: Option<u32>,
    /// Upload only: owner gid of the files written in the VM.
    pub gid: Option<u32>,
    /// Octal mode such as `"0755"`. Upload: sent to the VM, which applies
    /// it to what it writes. Download: the local file's mode (instead of the
    /// VM's `X-Slicer-File-Mode`, or 0600); a downloaded directory keeps the
    /// modes its archive carries.
    pub permissions: Option<String>,
    /// Tar only: patterns to leave out (PROTOCOL §10.8). Applied on both
    /// sides, as the protocol asks: while archiving and by the receiver.
    pub exclude: Vec<String>,
    /// Binary, tar, or decided from the source.
    pub mode: CopyMode,
    /// Called as bytes move; see [`Progress`].
    pub progress: Option<Progress>,
}

impl CopyOptions {
    /// Default options: automatic mode, the agent's default owner, no
    /// permissions, exclusions or progress.
    pub fn new() -> Self {
        CopyOptions::default()
    }

    /// Sets the owner uid of uploaded files.
    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Sets the owner gid of uploaded files.
    pub fn with_gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Sets the octal mode (such as `"0644"`).
    pub fn with_permissions(mut self, permissions: impl Into<String>) -> Self {
        self.permissions = Some(permissions.into());
        self
    }

    /// Adds exclude patterns.
    pub fn with_exclude<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Sets the payload mode.
    pub fn with_mode(mut self, mode: CopyMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the progress callback.
    pub fn with_progress(
        mut self,
        progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
}

impl fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyOptions")
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("permissions", &self.permissions)
            .field("exclude", &self.exclude)
            .field("mode", &self.mode)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// What a finished copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Whether a file or a directory was copied.
    pub source_type: SourceType,
    /// Payload bytes moved: the file's bytes, or the tar stream's (headers
    /// included). For an upload the legacy fallback resent, the last
    /// attempt's count.
    pub bytes: u64,
    /// The protocol generation that carried the copy.
    pub generation: CopyGeneration,
    /// Download: the local file written, or the directory extracted into.
    /// `None` for uploads.
    pub local_path: Option<PathBuf>,
    /// Upload: where the VM put the copy, when the destination rules leave
    /// no doubt (a legacy agent writes exactly `vm_path`; a cp-v1 file sent
    /// to a path ending in `/` lands in that directory; a contents copy
    /// fills `vm_path`). `None` when only the guest's state decides, and
    /// for downloads.
    pub remote_path: Option<String>,
}

/// Path-based, streaming copy between this machine and a VM, for any
/// [`SlicerClient`] (so for [`Client`](crate::Client)). Bring it into scope
/// with `use slicer::CopyExt;`.
///
/// These mirror the Go SDK's `CpToVM` and `CpFromVM`, with the options in
/// [`CopyOptions`].
pub trait CopyExt {
    /// Copies the local file or directory `local_path` to `vm_path` in the
    /// VM `hostname`.
    ///
    /// - A regular file (or a symbolic link to one) is sent as binary,
    ///   streamed from the file. A directory is sent as a tar of its
    ///   contents, built while it is sent ([`write_tar`]), with its
    ///   `X-Slicer-Unpacked-Size` from a pre-walk ([`measure_tree`]).
    /// - The VM applies the destination rules (PROTOCOL §10.3, §10.4): an
    ///   existing directory receives `vm_path/<name>`, a missing path is
    ///   created. A local path ending in `/.` (or the root `/`) copies the
    ///   directory's contents into `vm_path` instead.
    /// - A legacy agent gets the same body again in the legacy form; the
    ///   file is re-opened or the tree walked again, never buffered.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent: an empty path, a
    /// source that has no usable name, a symbolic link to a directory (a
    /// directory upload must name the directory itself), a FIFO, socket or
    /// device, a mode that contradicts the source, exclusions on a file,
    /// bad permissions. [`Error::Tar`] for a malformed exclude pattern.
    /// [`Error::Io`] naming the local path that could not be read, before
    /// or during the upload. [`Error::Api`] when the VM refuses the copy,
    /// and [`Error::Transport`] when the connection fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use slicer::{CopyExt, CopyOptions};
    ///
    /// # async fn demo(client: slicer::Client) -> slicer::Result<()> {
    /// // ./site becomes /srv/site in the VM (or /srv when that is missing).
    /// let options = CopyOptions::new().with_uid(1000).with_gid(1000).with_exclude(["*.tmp"]);
    /// let report = client.cp_to_vm("sbox-1", "./site", "/srv", &options).await?;
    /// println!("sent {} bytes", report.bytes);
    /// # Ok(()) }
    /// ```
    fn cp_to_vm(
        &self,
        hostname: &str,
        local_path: impl AsRef<Path> + Send,
        vm_path: &str,
        options: &CopyOptions,
    ) -> impl Future<Output = Result<CopyReport>> + Send;

    /// Copies `vm_path` from the VM `hostname` to the local `local_path`.
    ///
    /// The local destination follows PROTOCOL §10.5:
    ///
    /// | copied | `local_path` | result |
    /// | --- | --- | --- |
    /// | file | existing directory | `local_path/<name>` |
    /// | file | existing file | replaced |
    /// | file | missing, ending in `/` | error |
    /// | file | missing | `local_path` (its directory must exist) |
    /// | directory | existing non-directory | error |
    /// | directory | existing directory, `vm_path` is `/` or ends in `/.` | extracted into `local_path` |
    /// | directory | existing directory | extracted into `local_path/<name>` |
    /// | directory | missing | `local_path` created (with parents), extracted into |
    ///
    /// A file is streamed into a `.slicer-download-<hex>` file next to its
    /// destination, synced, given its mode (the caller's `permissions`, else
    /// the VM's `X-Slicer-File-Mode`, else 0600), and renamed into place; a
    /// symbolic link at the destination is replaced, not written through.
    /// A directory is extracted by [`extract_tar`] as it arrives; when its
    /// destination does not exist yet it is extracted into a staging
    /// directory next to it and renamed at the end. So a failed or
    /// cancelled download leaves nothing at a destination that was missing
    /// (parent directories created for it stay) and never a partial file;
    /// extracting into an existing directory leaves the entries already
    /// written.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty path, bad permissions, a
    /// `uid`/`gid` (downloads do not change ownership), or a destination
    /// the table refuses. [`Error::Tar`] for a malformed exclude pattern or
    /// a corrupt, truncated or hostile archive. [`Error::Io`] naming the
    /// local path that could not be written. [`Error::Api`] and
    /// [`Error::Decode`] from the VM's answer, [`Error::Transport`] when the
    /// connection fails or the body breaks off.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use slicer::{CopyExt, CopyOptions};
    ///
    /// # async fn demo(client: slicer::Client) -> slicer::Result<()> {
    /// let report = client
    ///     .cp_from_vm("sbox-1", "/var/log/app", "./logs", &CopyOptions::new())
    ///     .await?;
    /// println!("wrote {:?}", report.local_path);
    /// # Ok(()) }
    /// ```
    fn cp_from_vm(
        &self,
        hostname: &str,
        vm_path: &str,
        local_path: impl AsRef<Path> + Send,
        options: &CopyOptions,
    ) -> impl Future<Output = Result<CopyReport>> + Send;
}

impl<T: HttpTransport> CopyExt for SlicerClient<T> {
    fn cp_to_vm(
        &self,
        hostname: &str,
        local_path: impl AsRef<Path> + Send,
        vm_path: &str,
        options: &CopyOptions,
    ) -> impl Future<Output = Result<CopyReport>> + Send {
        let local_path = local_path.as_ref().to_path_buf();
        async move { upload::upload(self, hostname, &local_path, vm_path, options).await }
    }

    fn cp_from_vm(
        &self,
        hostname: &str,
        vm_path: &str,
        local_path: impl AsRef<Path> + Send,
        options: &CopyOptions,
    ) -> impl Future<Output = Result<CopyReport>> + Send {
        let local_path = local_path.as_ref().to_path_buf();
        async move { download::download(self, hostname, vm_path, &local_path, options).await }
    }
}

/// Maps an I/O error on a local path to [`Error::Io`] naming it.
pub(crate) fn local_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `<prefix><32 hex digits>`: a name no other writer will pick.
pub(crate) fn random_name(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Parses `permissions` as the octal mode it must be.
pub(crate) fn parse_permissions(text: &str) -> Result<u32> {
    let valid =
        !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(text, 8) {
        Ok(mode) if valid && mode <= 0o7777 => Ok(mode),
        _ => Err(Error::InvalidInput(format!(
            "permissions {text:?} must be an octal file mode such as 0644"
        ))),
    }
}

/// Runs blocking file-system work off the async threads.
pub(crate) async fn blocking<R, F>(path: &Path, work: F) -> Result<R>
where
    F: FnOnce() -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::other("the runtime shut down during the copy"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_must_be_octal() {
        assert_eq!(parse_permissions("0644").unwrap(), 0o644);
        assert_eq!(parse_permissions("755").unwrap(), 0o755);
        assert_eq!(parse_permissions("04755").unwrap(), 0o4755);
        for bad in ["", "0x644", "888", "rw-r--r--", "017777", "+644", "-1"] {
            let err = parse_permissions(bad).unwrap_err();
            assert!(err.to_string().contains("octal"), "{bad}: {err}");
        }
    }
}
