//! The native client's side of the measured runs, each in a fresh process
//! (`slicer-bench child …`) so its CPU time and peak RSS are its own and
//! are read the same way as curl's. Each prints one JSON [`ChildReport`].

use std::path::Path;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use slicer::{CopyExt as _, CopyOptions, ExecFrame, ExecRequest};

use crate::record::{recording_client, RecordedRequest};
use crate::{BenchError, BenchResult, Context};

/// What a child did, for the parent to check and replay with curl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildReport {
    /// The request that carried the work.
    pub request: RecordedRequest,
    /// Payload bytes moved: stdout bytes, or the copy's bytes.
    pub bytes: u64,
}

/// The command an exec child runs: `head -c BYTES /dev/zero`.
pub fn exec_request(bytes: u64) -> ExecRequest {
    ExecRequest::new(
        "head",
        ["-c".to_owned(), bytes.to_string(), "/dev/zero".to_owned()],
    )
}

/// Streams the output of [`exec_request`] and checks that exactly `bytes`
/// bytes of stdout and a zero exit arrived.
///
/// # Errors
///
/// The call fails, or the output is not what the command writes.
pub async fn exec(url: &str, host: &str, bytes: u64) -> BenchResult<ChildReport> {
    let client = recording_client(url)?;
    let mut stream = client
        .exec(host, &exec_request(bytes))
        .await
        .context(|| "start the exec".to_owned())?;
    let request = client.transport().last()?;
    let (mut seen, mut exit) = (0u64, None);
    while let Some(frame) = stream.next().await {
        match frame.context(|| "read the exec stream".to_owned())? {
            ExecFrame::Stdout(chunk) => seen += chunk.len() as u64,
            ExecFrame::Exit(status) => exit = Some(status),
            _ => {}
        }
    }
    match exit {
        Some(status) if status.success() && seen == bytes => Ok(ChildReport { request, bytes }),
        other => Err(BenchError::new(format!(
            "exec wrote {seen} of {bytes} bytes and ended with {other:?}"
        ))),
    }
}

/// `cp_to_vm(local, remote)` with default options.
///
/// # Errors
///
/// The copy fails.
pub async fn upload(url: &str, host: &str, local: &Path, remote: &str) -> BenchResult<ChildReport> {
    let client = recording_client(url)?;
    let report = client
        .cp_to_vm(host, local, remote, &CopyOptions::default())
        .await
        .context(|| format!("upload {} to {remote}", local.display()))?;
    Ok(ChildReport {
        request: client.transport().last()?,
        bytes: report.bytes,
    })
}

/// `cp_from_vm(remote, local)` with default options.
///
/// # Errors
///
/// The copy fails.
pub async fn download(
    url: &str,
    host: &str,
    remote: &str,
    local: &Path,
) -> BenchResult<ChildReport> {
    let client = recording_client(url)?;
    let report = client
        .cp_from_vm(host, remote, local, &CopyOptions::default())
        .await
        .context(|| format!("download {remote} to {}", local.display()))?;
    Ok(ChildReport {
        request: client.transport().last()?,
        bytes: report.bytes,
    })
}
