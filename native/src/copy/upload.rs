//! `cp_to_vm`: classifying the local source and streaming it as the body of
//! the core's `cp_upload`.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use slicer_core::tar::Excludes;
use slicer_core::{Body, Error, HttpTransport, Result, SlicerClient};
use tokio::sync::mpsc;

use super::channel::{ChunkWriter, CHUNK, DEPTH};
use super::{
    blocking, check_source_name, local_error, measure_tree, parse_permissions, write_tar,
    CopyGeneration, CopyMode, CopyOptions, CopyReport, Progress, SourceType, Upload, UploadKind,
    UploadSource,
};

pub(crate) async fn upload<T: HttpTransport>(
    client: &SlicerClient<T>,
    hostname: &str,
    local: &Path,
    vm_path: &str,
    options: &CopyOptions,
) -> Result<CopyReport> {
    // Checked here too, so a bad mode fails before a large tree is walked.
    if let Some(permissions) = &options.permissions {
        parse_permissions(permissions)?;
    }
    let excludes = Excludes::new(&options.exclude)?;
    let (owned, mode) = (local.to_path_buf(), options.mode);
    let source = blocking(local, move || LocalSource::inspect(&owned, mode)).await?;
    let kind = match source.source_type {
        SourceType::File => UploadKind::Binary,
        SourceType::Directory => UploadKind::Tar,
    };
    let mut upload = Upload {
        path: vm_path.to_owned(),
        kind,
        source_name: source.name.clone(),
        copy_contents: source.contents,
        uid: options.uid,
        gid: options.gid,
        permissions: options.permissions.clone(),
        exclude: options.exclude.clone(),
        unpacked_size: None,
    };

    let feed = Feed::new(options.progress.clone());
    let body = match source.source_type {
        SourceType::File => {
            let (path, size) = (source.path.clone(), source.size);
            feed.source(Some(size), Some(size), move |out| {
                send_file(&path, size, out)
            })
        }
        SourceType::Directory => {
            let (path, ex) = (source.path.clone(), excludes.clone());
            let summary = blocking(&source.path, move || measure_tree(&path, &ex)).await?;
            upload.unpacked_size = Some(summary.unpacked_size);
            let path = source.path.clone();
            // Sent chunked: the tree may change between the pre-walk and
            // the walk, so its length is only an estimate for progress.
            feed.source(None, Some(summary.archive_size), move |out| {
                write_tar(&path, out, &excludes).map(|_| ())
            })
        }
    };

    let generation = match client.cp_upload(hostname, &upload, &body).await {
        Ok(generation) => generation,
        // A local read failure cut the body; it, not the broken request it
        // caused, is what the caller needs to see.
        Err(e) => return Err(feed.take_failure().unwrap_or(e)),
    };
    Ok(CopyReport {
        source_type: source.source_type,
        bytes: feed.sent(),
        generation,
        local_path: None,
        remote_path: remote_path(&upload, generation),
    })
}

/// Where the VM put an upload, when the rules leave no doubt.
fn remote_path(upload: &Upload, generation: CopyGeneration) -> Option<String> {
    match (generation, upload.kind) {
        (CopyGeneration::Legacy, _) => Some(upload.path.clone()),
        (CopyGeneration::CpV1, UploadKind::Binary) if upload.path.ends_with('/') => {
            Some(format!("{}{}", upload.path, upload.source_name))
        }
        (CopyGeneration::CpV1, UploadKind::Tar) if upload.copy_contents => {
            Some(upload.path.clone())
        }
        _ => None,
    }
}

/// The local side of an upload, checked before anything is sent.
#[derive(Debug)]
struct LocalSource {
    /// Absolute and lexically cleaned, as the Go SDK resolves it.
    path: PathBuf,
    source_type: SourceType,
    /// `source_name`: the base name, or empty for the root's contents.
    name: String,
    contents: bool,
    /// A file's size in bytes.
    size: u64,
}

impl LocalSource {
    fn inspect(local: &Path, mode: CopyMode) -> Result<Self> {
        if local.as_os_str().is_empty() {
            return Err(Error::InvalidInput(
                "the local source path must not be empty".into(),
            ));
        }
        let shown = local.display();
        let path = absolute_clean(local)?;
        let contents = names_contents(local) || path == Path::new("/");
        let name = match path.file_name() {
            None => String::new(),
            Some(n) => n.to_str().map(str::to_owned).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the name of {shown} is not valid UTF-8, which the VM cannot be sent"
                ))
            })?,
        };
        let named = check_source_name(&name).is_ok();
        let name = match (named, contents) {
            (true, _) => name,
            (false, true) => String::new(),
            (false, false) => {
                return Err(Error::InvalidInput(format!(
                    "the local source {shown} has no usable name"
                )))
            }
        };

        let link = fs::symlink_metadata(&path).map_err(local_error(&path))?;
        let meta = if link.file_type().is_symlink() {
            if mode == CopyMode::Tar {
                return Err(Error::InvalidInput(format!(
                    "{shown} is a symbolic link; a directory upload must name the directory itself"
                )));
            }
            let target = fs::metadata(&path).map_err(local_error(&path))?;
            if target.is_dir() {
                return Err(Error::InvalidInput(format!(
                    "{shown} is a symbolic link to a directory; a directory upload must name the directory itself"
                )));
            }
            target
        } else {
            link
        };

        let source_type = if meta.is_file() {
            if mode == CopyMode::Tar {
                return Err(Error::InvalidInput(format!(
                    "{shown} is a regular file, but tar mode needs a directory"
                )));
            }
            if contents {
                return Err(Error::InvalidInput(format!(
                    "{shown} names a directory's contents, but the path is a regular file"
                )));
            }
            SourceType::File
        } else if meta.is_dir() {
            if mode == CopyMode::Binary {
                return Err(Error::InvalidInput(format!(
                    "{shown} is a directory, but binary mode needs a regular file"
                )));
            }
            SourceType::Directory
        } else {
            return Err(Error::InvalidInput(format!(
                "{shown} is not a regular file or a directory; FIFOs, sockets and devices cannot be copied"
            )));
        };
        Ok(LocalSource {
            path,
            source_type,
            name,
            contents: contents && source_type == SourceType::Directory,
            size: meta.len(),
        })
    }
}

/// Whether a path names a directory's contents: after trailing `/` are
/// removed, it ends in `/.` (PROTOCOL §10.4).
fn names_contents(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    bytes[..end].ends_with(b"/.")
}

/// The path made absolute against the working directory and cleaned
/// lexically (`.` dropped, `..` removing the component before it), as Go's
/// `filepath.Abs` does.
fn absolute_clean(path: &Path) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(local_error(Path::new(".")))?;
        cwd.join(path)
    };
    let mut clean = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(clean)
}

/// Streams exactly `size` bytes of the file; one that shrank since it was
/// checked fails rather than sending a short body.
fn send_file(path: &Path, size: u64, out: &mut ChunkWriter) -> Result<()> {
    // Non-blocking open: a FIFO swapped in since the check must not hang.
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(local_error(path))?;
    if !file.metadata().map_err(local_error(path))?.is_file() {
        return Err(local_error(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the file changed while it was sent: it is no longer a regular file",
        )));
    }
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < size {
        let want = (size - sent).min(CHUNK as u64) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(local_error(path)(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file shrank while it was sent: {size} bytes expected, {sent} read"
                    ),
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(local_error(path)(e)),
        };
        // Only a consumer that went away fails here; see `Feed::source`.
        out.write_all(&buf[..n]).map_err(|e| Error::Tar(e.into()))?;
        sent += n as u64;
    }
    Ok(())
}

/// Produces an upload's body, once per attempt: a blocking thread writes
/// it into a bounded channel that the transport drains. Keeps what the
/// caller is told: bytes sent, progress, and the local error that cut a
/// body short.
#[derive(Clone)]
struct Feed {
    shared: Arc<FeedState>,
}

struct FeedState {
    progress: Option<Progress>,
    sent: AtomicU64,
    failure: Mutex<Option<Error>>,
}

impl Feed {
    fn new(progress: Option<Progress>) -> Self {
        Feed {
            shared: Arc::new(FeedState {
                progress,
                sent: AtomicU64::new(0),
                failure: Mutex::new(None),
            }),
        }
    }

    fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    fn take_failure(&self) -> Option<Error> {
        self.shared.failure.lock().expect("not poisoned").take()
    }

    /// An [`UploadSource`] whose every opening runs `produce` afresh on a
    /// blocking thread. `length` is declared to the transport; `total` is
    /// what progress reports.
    fn source<F>(&self, length: Option<u64>, total: Option<u64>, produce: F) -> UploadSource
    where
        F: Fn(&mut ChunkWriter) -> Result<()> + Send + Sync + 'static,
    {
        let feed = self.clone();
        let produce = Arc::new(produce);
        UploadSource::from_fn(length, move || {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| io::Error::other("copying needs a Tokio runtime"))?;
            feed.restart(total);
            let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
            let (state, produce) = (feed.clone(), Arc::clone(&produce));
            runtime.spawn_blocking(move || {
                let mut out = ChunkWriter::new(tx);
                match produce(&mut out)
                    .and_then(|()| out.finish().map_err(|e| Error::Tar(e.into())))
                {
                    Ok(()) => {}
                    // The transport dropped the body (an early answer or a
                    // cancelled call): nobody is waiting for this error.
                    Err(_) if out.is_closed() => {}
                    Err(err) => {
                        let message = err.to_string();
                        *state.shared.failure.lock().expect("not poisoned") = Some(err);
                        out.fail(io::Error::other(message));
                    }
                }
            });
            Ok(feed.stream(rx, length, total))
        })
    }

    fn restart(&self, total: Option<u64>) {
        self.shared.sent.store(0, Ordering::Relaxed);
        *self.shared.failure.lock().expect("not poisoned") = None;
        if let Some(progress) = &self.shared.progress {
            progress(0, total);
        }
    }

    /// The channel as a body stream, counting and reporting each chunk.
    fn stream(
        &self,
        rx: mpsc::Receiver<io::Result<Bytes>>,
        length: Option<u64>,
        total: Option<u64>,
    ) -> Body {
        let state = Arc::clone(&self.shared);
        let chunks = futures_util::stream::unfold((rx, state), move |(mut rx, state)| async move {
            let item = rx.recv().await?;
            if let Ok(chunk) = &item {
                let done = state.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed)
                    + chunk.len() as u64;
                if let Some(progress) = &state.progress {
                    progress(done, total);
                }
            }
            Some((item, (rx, state)))
        });
        Body::Stream {
            stream: Box::pin(chunks),
            length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_paths() {
        for p in ["dir/.", "dir/./", "dir/.//", "/.", "./."] {
            assert!(names_contents(Path::new(p)), "{p}");
        }
        for p in ["dir", "dir/", ".", "dir/..", "dir/.x", "/"] {
            assert!(!names_contents(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn the_root_is_a_contents_copy_without_a_name() {
        let root = LocalSource::inspect(Path::new("/"), CopyMode::Auto).unwrap();
        assert_eq!(root.source_type, SourceType::Directory);
        assert!(root.contents);
        assert_eq!(root.name, "");
        let err = LocalSource::inspect(Path::new("/"), CopyMode::Binary).unwrap_err();
        assert!(err.to_string().contains("binary mode"), "{err}");
    }

    #[test]
    fn cleaning_is_lexical() {
        let clean = |p: &str| absolute_clean(Path::new(p)).unwrap();
        assert_eq!(clean("/a/b/../c/./d/"), Path::new("/a/c/d"));
        assert_eq!(clean("/.."), Path::new("/"));
        assert_eq!(clean("/a/."), Path::new("/a"));
        assert!(clean("x").is_absolute());
    }

    #[test]
    fn remote_paths_only_when_certain() {
        let mut up = Upload::file("/srv/", "tool");
        assert_eq!(
            remote_path(&up, CopyGeneration::CpV1).as_deref(),
            Some("/srv/tool")
        );
        assert_eq!(
            remote_path(&up, CopyGeneration::Legacy).as_deref(),
            Some("/srv/")
        );
        up.path = "/srv".into();
        assert_eq!(remote_path(&up, CopyGeneration::CpV1), None);
        let mut dir = Upload::directory("/srv", "site");
        assert_eq!(remote_path(&dir, CopyGeneration::CpV1), None);
        dir.copy_contents = true;
        assert_eq!(
            remote_path(&dir, CopyGeneration::CpV1).as_deref(),
            Some("/srv")
        );
    }
}
