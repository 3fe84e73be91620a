//! `cp_from_vm`: the local destination rules of PROTOCOL §10.5, and the
//! body streamed into a file or through the extractor.

use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use slicer_core::tar::Excludes;
use slicer_core::{Error, HttpTransport, ResponseBody, Result, SlicerClient};
use tokio::sync::mpsc;

use super::channel::{ChannelReader, Piece, CHUNK, DEPTH};
use super::extract::TempFile;
use super::{
    blocking, check_source_name, extract_tar, local_error, parse_permissions, random_name,
    CopyMode, CopyOptions, CopyReport, DownloadMode, DownloadRequest, ExtractOptions, Progress,
    SourceType, DOWNLOAD_TEMP_PREFIX,
};

pub(crate) async fn download<T: HttpTransport>(
    client: &SlicerClient<T>,
    hostname: &str,
    vm_path: &str,
    local: &Path,
    options: &CopyOptions,
) -> Result<CopyReport> {
    if options.uid.is_some() || options.gid.is_some() {
        return Err(Error::InvalidInput(
            "uid and gid apply to uploads only: downloaded files belong to the calling user".into(),
        ));
    }
    if local.as_os_str().is_empty() {
        return Err(Error::InvalidInput(
            "the local destination path must not be empty".into(),
        ));
    }
    let permissions = options
        .permissions
        .as_deref()
        .map(parse_permissions)
        .transpose()?;
    let excludes = Excludes::new(&options.exclude)?;
    let mode = match options.mode {
        CopyMode::Auto => DownloadMode::Recursive,
        CopyMode::Binary => DownloadMode::Binary,
        CopyMode::Tar => DownloadMode::Tar,
    };
    let request = DownloadRequest {
        path: vm_path.to_owned(),
        mode,
        exclude: options.exclude.clone(),
    };

    let download = client.cp_download(hostname, &request).await?;
    let (source_type, generation) = (download.source_type, download.generation);
    let name = download.name;
    let (local_shown, local) = (local.to_path_buf(), local.to_path_buf());
    let progress = options.progress.clone();
    let (written, bytes) = match source_type {
        SourceType::File => {
            let mode = permissions.unwrap_or(download.mode) & 0o7777;
            let job = move |body: &mut ChannelReader| write_file(body, &local, &name, mode);
            feed_blocking(&local_shown, download.body, progress, job).await?
        }
        SourceType::Directory => {
            let contents = request.copies_contents();
            let options = ExtractOptions::default().with_excludes(excludes);
            let job = move |body: &mut ChannelReader| {
                extract_directory(body, &local, &name, contents, &options)
            };
            feed_blocking(&local_shown, download.body, progress, job).await?
        }
    };
    Ok(CopyReport {
        source_type,
        bytes,
        generation,
        local_path: Some(written),
        remote_path: None,
    })
}

/// Runs `job` on a blocking thread, reading the body that this task pumps
/// into a bounded channel. Returns the job's result and the bytes
/// received.
///
/// If this future is dropped, the channel closes without its end marker
/// and the job fails, cleaning up after itself: a cancelled download is
/// never mistaken for a complete one.
async fn feed_blocking<R, F>(
    local: &Path,
    mut body: ResponseBody,
    progress: Option<Progress>,
    job: F,
) -> Result<(R, u64)>
where
    F: FnOnce(&mut ChannelReader) -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = mpsc::channel(DEPTH);
    let work = blocking(local, move || job(&mut ChannelReader::new(rx)));
    let pump = async move {
        let mut received = 0u64;
        loop {
            let piece = match body.next().await {
                Some(Ok(chunk)) => {
                    received += chunk.len() as u64;
                    if let Some(progress) = &progress {
                        progress(received, None);
                    }
                    Piece::Data(chunk)
                }
                Some(Err(err)) => {
                    let cut = io::Error::other("the download broke off");
                    let _ = tx.send(Piece::Fail(cut)).await;
                    return (received, Some(err));
                }
                None => {
                    let _ = tx.send(Piece::End).await;
                    return (received, None);
                }
            };
            // A job that stopped reading has finished, or failed with its
            // own error; the rest of the body is not needed.
            if tx.send(piece).await.is_err() {
                return (received, None);
            }
        }
    };
    let ((received, broken), done) = tokio::join!(pump, work);
    match (done, broken) {
        // The job saw the whole payload (the file's end, or the archive's
        // end marker): done, whatever followed on the connection.
        (Ok(value), _) => Ok((value, received)),
        // The job failed because the body broke off: that is the cause.
        (Err(_), Some(transport)) => Err(Error::Transport(transport)),
        (Err(err), None) => Err(err),
    }
}

fn ends_with_separator(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(b"/")
}

/// `path` without trailing separators (so it can be renamed onto).
fn trimmed(path: &Path) -> PathBuf {
    path.components().collect()
}

/// The directory `path` lives in; `.` for a bare name.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `stat` (following links), with a missing path as `None`.
fn stat(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(local_error(path)(e)),
    }
}

fn named_child(dir: &Path, name: &str) -> Result<PathBuf> {
    check_source_name(name).map_err(|_| {
        Error::InvalidInput(format!(
            "{} is a directory, and the VM sent no usable name ({name:?}) to create in it",
            dir.display()
        ))
    })?;
    Ok(dir.join(name))
}

/// Where a downloaded file goes (PROTOCOL §10.5, file rows).
fn file_target(local: &Path, name: &str) -> Result<PathBuf> {
    let target = match stat(local)? {
        Some(meta) if meta.is_dir() => named_child(local, name)?,
        Some(_) => local.to_path_buf(),
        None if ends_with_separator(local) => {
            return Err(Error::InvalidInput(format!(
                "the destination directory {} does not exist",
                local.display()
            )))
        }
        None => local.to_path_buf(),
    };
    if let Ok(meta) = fs::symlink_metadata(&target) {
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{} is a directory; a file cannot replace it",
                target.display()
            )));
        }
        if !kind.is_file() && !kind.is_symlink() {
            return Err(Error::InvalidInput(format!(
                "{} is not a regular file (a FIFO, socket or device); refusing to replace it",
                target.display()
            )));
        }
    }
    let parent = parent_of(&target);
    match stat(&parent)? {
        Some(meta) if meta.is_dir() => Ok(target),
        Some(_) => Err(Error::InvalidInput(format!(
            "{} is not a directory, so {} cannot be written",
            parent.display(),
            target.display()
        ))),
        None => Err(local_error(&parent)(io::Error::new(
            io::ErrorKind::NotFound,
            "the destination's directory does not exist",
        ))),
    }
}

/// Streams a file into a temporary file next to its destination and
/// renames it into place once complete.
fn write_file(body: &mut ChannelReader, local: &Path, name: &str, mode: u32) -> Result<PathBuf> {
    let target = file_target(local, name)?;
    let mut temp = TempFile::create(&parent_of(&target), DOWNLOAD_TEMP_PREFIX)?;
    let file = temp.file_mut();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(local_error(&target)(e)),
        };
        file.write_all(&buf[..n]).map_err(local_error(&target))?;
    }
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(local_error(&target))?;
    file.sync_all().map_err(local_error(&target))?;
    temp.persist(&target)?;
    Ok(target)
}

/// Where a downloaded directory goes.
enum DirectoryPlan {
    /// Extract into this existing directory.
    Into(PathBuf),
    /// Extract into a staging directory in `parent`, then rename it to
    /// `target`, which does not exist yet.
    Staged { parent: PathBuf, target: PathBuf },
}

/// PROTOCOL §10.5, directory rows.
fn directory_plan(local: &Path, name: &str, contents: bool) -> Result<DirectoryPlan> {
    match stat(local)? {
        Some(meta) if !meta.is_dir() => Err(Error::InvalidInput(format!(
            "{} exists and is not a directory, but the VM path is a directory",
            local.display()
        ))),
        Some(_) if contents => Ok(DirectoryPlan::Into(local.to_path_buf())),
        Some(_) => {
            let target = named_child(local, name)?;
            match stat(&target)? {
                Some(meta) if meta.is_dir() => Ok(DirectoryPlan::Into(target)),
                Some(_) => Err(Error::InvalidInput(format!(
                    "{} exists and is not a directory, but the VM path is a directory",
                    target.display()
                ))),
                None => Ok(DirectoryPlan::Staged {
                    parent: local.to_path_buf(),
                    target,
                }),
            }
        }
        None => {
            let target = trimmed(local);
            let parent = parent_of(&target);
            fs::create_dir_all(&parent).map_err(local_error(&parent))?;
            Ok(DirectoryPlan::Staged { parent, target })
        }
    }
}

fn extract_directory(
    body: &mut ChannelReader,
    local: &Path,
    name: &str,
    contents: bool,
    options: &ExtractOptions,
) -> Result<PathBuf> {
    match directory_plan(local, name, contents)? {
        DirectoryPlan::Into(root) => {
            extract_tar(body, &root, options)?;
            Ok(root)
        }
        DirectoryPlan::Staged { parent, target } => {
            let staging = Staging::create(&parent)?;
            extract_tar(body, &staging.path, options)?;
            staging.persist(&target)?;
            Ok(target)
        }
    }
}

/// A staging directory that is removed with everything in it unless it is
/// renamed into place.
struct Staging {
    path: PathBuf,
    kept: bool,
}

impl Staging {
    fn create(parent: &Path) -> Result<Self> {
        let path = parent.join(random_name(DOWNLOAD_TEMP_PREFIX));
        // 0755 less the umask: the mode a new destination directory gets.
        DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(local_error(&path))?;
        Ok(Staging { path, kept: false })
    }

    fn persist(mut self, target: &Path) -> Result<()> {
        fs::rename(&self.path, target).map_err(local_error(target))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the download already failed with a better error.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_without_trailing_separators() {
        assert_eq!(trimmed(Path::new("out/")), Path::new("out"));
        assert_eq!(parent_of(Path::new("out")), Path::new("."));
        assert_eq!(parent_of(Path::new("a/out")), Path::new("a"));
        assert!(ends_with_separator(Path::new("a/")));
    }
}
