//! Running commands in a VM: streamed exec, buffered exec, and the NDJSON
//! frame decoder shared with background-exec logs.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{decode, vm_path, SlicerClient};
use crate::error::{ApiError, Error, Result};
use crate::transport::{Body, HttpTransport, ResponseBody};
use crate::url::Query;
use crate::wire;

/// How the agent encodes output bytes in frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Stdio {
    /// Base64 in every output frame: any bytes survive. The default, as in
    /// the Go SDK.
    #[default]
    Base64,
    /// Output as JSON text: bytes that are not UTF-8 are corrupted.
    Text,
}

impl Stdio {
    /// The wire spelling (`base64`, `text`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stdio::Base64 => "base64",
            Stdio::Text => "text",
        }
    }
}

/// A command to run in a VM.
///
/// Without `shell` the agent runs `command` with `args` directly; with a
/// shell it runs `<shell> -lc "<command>"` and `args` should be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program to run, or the script when `shell` is set.
    pub command: String,
    /// Arguments, in order.
    pub args: Vec<String>,
    /// Extra environment variables as `KEY=VALUE`.
    pub env: Vec<String>,
    /// User id; `None` lets the agent pick its default (non-root) user and is
    /// different from `Some(0)`, which is root.
    pub uid: Option<u32>,
    /// Group id; `None` is the agent's default, as for `uid`.
    pub gid: Option<u32>,
    /// Working directory; the user's home when unset.
    pub cwd: Option<String>,
    /// Interpreter, such as `/bin/bash`.
    pub shell: Option<String>,
    /// The documented `permissions` parameter (octal).
    pub permissions: Option<String>,
    /// Output encoding to ask for.
    pub stdio: Stdio,
    /// The documented `stdout` capture switch; unset means capture.
    pub capture_stdout: Option<bool>,
    /// The documented `stderr` capture switch; unset means capture.
    pub capture_stderr: Option<bool>,
}

impl ExecRequest {
    /// Runs `command` directly with `args`.
    pub fn new<I, S>(command: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecRequest {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Runs `script` with `/bin/sh -lc`.
    pub fn shell(script: impl Into<String>) -> Self {
        ExecRequest {
            command: script.into(),
            shell: Some("/bin/sh".into()),
            ..Default::default()
        }
    }

    /// Sets the user and group ids.
    pub fn with_user(mut self, uid: u32, gid: u32) -> Self {
        self.uid = Some(uid);
        self.gid = Some(gid);
        self
    }

    /// Sets the working directory.
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// The query parameters every exec variant shares.
    pub(crate) fn to_query(&self) -> Result<Query> {
        if self.command.is_empty() {
            return Err(Error::invalid("the command to run must not be empty"));
        }
        if let Some(bad) = self
            .env
            .iter()
            .find(|e| e.split_once('=').is_none_or(|(k, _)| k.is_empty()))
        {
            return Err(Error::invalid(format!(
                "environment entry {bad:?} must look like KEY=VALUE"
            )));
        }
        crate::client::check_mode(self.permissions.as_deref())?;
        let mut q = Query::new();
        q.push("cmd", self.command.as_str());
        for a in &self.args {
            q.push("args", a.as_str());
        }
        for e in &self.env {
            q.push("env", e.as_str());
        }
        q.push_opt("uid", self.uid.map(|v| v.to_string()))
            .push_opt("gid", self.gid.map(|v| v.to_string()))
            .push_opt("cwd", self.cwd.as_deref().filter(|c| !c.is_empty()))
            .push_opt("shell", self.shell.as_deref().filter(|s| !s.is_empty()))
            .push_opt("permissions", self.permissions.as_deref())
            .push_opt("stdout", self.capture_stdout.map(|b| b.to_string()))
            .push_opt("stderr", self.capture_stderr.map(|b| b.to_string()))
            .push("stdio", self.stdio.as_str());
        Ok(q)
    }
}

/// One NDJSON line of exec output or background logs, exactly as on the
/// wire: the union of the typed and legacy formats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WireFrame {
    /// `started`, `stdout`, `stderr`, `exit`, `gap`; absent in legacy frames.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Background-log frame id, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// When the frame was produced (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// `base64` when output strings are base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Output bytes of a typed frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Standard output (legacy frames; also some typed producers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Standard error (legacy frames; also some typed producers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Process start (started frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Process end (exit frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Signal that ended the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Exit code; present, as 0, on non-final frames too.
    #[serde(deserialize_with = "wire::null_as_default")]
    pub exit_code: i32,
    /// A failure to start or run the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes evicted before a gap frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_bytes: Option<u64>,
    /// Frames evicted before a gap frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_frames: Option<u64>,
    /// Human-readable note of a gap frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code (non-zero is a normal result, not an error).
    pub code: i32,
    /// The signal that ended it, when one did.
    pub signal: Option<String>,
    /// When it ended, if the agent said.
    pub ended_at: Option<OffsetDateTime>,
}

impl ExitStatus {
    /// Whether the process exited with code 0 and no signal.
    pub fn success(&self) -> bool {
        self.code == 0 && self.signal.is_none()
    }
}

/// A decoded frame of a command's output.
#[derive(Clone, PartialEq, Eq)]
pub enum ExecFrame {
    /// The process started.
    Started {
        /// Its pid in the guest.
        pid: Option<u32>,
        /// When it started.
        started_at: Option<OffsetDateTime>,
    },
    /// A chunk of standard output.
    Stdout(Bytes),
    /// A chunk of standard error.
    Stderr(Bytes),
    /// The process ended; always the last frame.
    Exit(ExitStatus),
    /// Background logs only: the ring buffer evicted history before the
    /// next frame.
    Gap {
        /// Bytes lost.
        dropped_bytes: u64,
        /// Frames lost.
        dropped_frames: u64,
        /// The agent's note.
        message: String,
    },
}

impl fmt::Debug for ExecFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecFrame::Started { pid, .. } => write!(f, "Started(pid {pid:?})"),
            ExecFrame::Stdout(b) => write!(f, "Stdout({:?})", String::from_utf8_lossy(b)),
            ExecFrame::Stderr(b) => write!(f, "Stderr({:?})", String::from_utf8_lossy(b)),
            ExecFrame::Exit(s) => write!(f, "Exit({s:?})"),
            ExecFrame::Gap {
                dropped_bytes,
                dropped_frames,
                ..
            } => write!(f, "Gap({dropped_frames} frames, {dropped_bytes} bytes)"),
        }
    }
}

fn parse_time(s: &Option<String>) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    s.as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .filter(|t| t.year() > 1)
}

/// A decoded frame with its background-log id, when the agent sent one.
pub type IdFrame = (Option<u64>, ExecFrame);

/// Turns NDJSON bytes into frames, chunk by chunk.
///
/// Lines may be split anywhere across chunks, including inside a multi-byte
/// character, since lines are only parsed once complete. Blank lines are
/// skipped; a final line without a newline is accepted.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    typed: bool,
    last_exit_code: i32,
    finished: bool,
    exit_optional: bool,
    what: &'static str,
}

impl FrameDecoder {
    /// A decoder for a stream described as `what` in errors (`exec`,
    /// `background logs`).
    pub fn new(what: &'static str) -> Self {
        FrameDecoder {
            what,
            ..Default::default()
        }
    }

    /// Whether the final frame has been decoded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds a chunk, appending decoded frames (with their wire ids) to `out`.
    ///
    /// # Errors
    /// [`Error::Decode`] for a line that is not a JSON frame or output that is
    /// not valid base64; [`Error::ExecFailed`] for a frame carrying `error`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<IdFrame>) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        while !self.finished {
            // Only the bytes after what earlier chunks already searched can
            // hold the newline: a long line is not rescanned per chunk.
            let Some(found) = memchr::memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                break;
            };
            let nl = self.scanned + found;
            self.scanned = 0;
            let line = self.buf.split_to(nl + 1);
            self.line(&line[..nl], out)?;
        }
        if self.finished {
            // Anything after the final frame is not output of this process.
            self.buf.clear();
            self.scanned = 0;
        }
        Ok(())
    }

    /// Ends the stream: decodes a last unterminated line, then closes a
    /// legacy stream with the last exit code seen.
    ///
    /// # Errors
    /// [`Error::StreamTruncated`] when a typed stream ended without its exit
    /// frame; the errors of [`feed`](Self::feed) for the last line.
    pub fn finish(&mut self, out: &mut VecDeque<IdFrame>) -> Result<()> {
        if !self.finished && !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.line(&rest, out)?;
        }
        if self.finished {
            return Ok(());
        }
        if self.exit_optional {
            self.finished = true;
            return Ok(());
        }
        if self.typed {
            return Err(Error::StreamTruncated(self.what.to_owned()));
        }
        self.finished = true;
        out.push_back((
            None,
            ExecFrame::Exit(ExitStatus {
                code: self.last_exit_code,
                ..Default::default()
            }),
        ));
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<IdFrame>) -> Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let frame: WireFrame = serde_json::from_slice(line)
            .map_err(|e| Error::decode(format!("{} frame {:?}", self.what, preview(line)), e))?;
        let id = frame.id;
        if let Some(message) = frame.error.filter(|m| !m.is_empty()) {
            self.finished = true;
            let exit_code = if frame.exit_code != 0 {
                frame.exit_code
            } else {
                1
            };
            return Err(Error::ExecFailed { message, exit_code });
        }
        let base64 = frame.encoding.as_deref() == Some("base64");
        let bytes = |field: Option<String>| -> Result<Bytes> {
            let text = field.unwrap_or_default();
            if !base64 {
                return Ok(Bytes::from(text));
            }
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Bytes::from)
                .map_err(|e| Error::decode(format!("{} output", self.what), e))
        };
        let Some(kind) = frame.kind.as_deref().filter(|k| !k.is_empty()) else {
            // Legacy frame: both streams may be present; the last exit code
            // seen before EOF is the status.
            self.last_exit_code = frame.exit_code;
            let (stdout, stderr) = (bytes(frame.stdout)?, bytes(frame.stderr)?);
            if !stdout.is_empty() {
                out.push_back((id, ExecFrame::Stdout(stdout)));
            }
            if !stderr.is_empty() {
                out.push_back((id, ExecFrame::Stderr(stderr)));
            }
            return Ok(());
        };
        self.typed = true;
        let decoded = match kind {
            "started" => ExecFrame::Started {
                pid: frame.pid,
                started_at: parse_time(&frame.started_at).or_else(|| parse_time(&frame.timestamp)),
            },
            "stdout" | "stderr" => {
                // `data` wins; the per-stream field is the fallback, never both.
                let field = match frame.data.filter(|d| !d.is_empty()) {
                    Some(d) => Some(d),
                    None if kind == "stdout" => frame.stdout,
                    None => frame.stderr,
                };
                let data = bytes(field)?;
                if kind == "stdout" {
                    ExecFrame::Stdout(data)
                } else {
                    ExecFrame::Stderr(data)
                }
            }
            "exit" => {
                self.finished = true;
                ExecFrame::Exit(ExitStatus {
                    code: frame.exit_code,
                    signal: frame.signal.filter(|s| !s.is_empty()),
                    ended_at: parse_time(&frame.ended_at),
                })
            }
            "gap" => ExecFrame::Gap {
                dropped_bytes: frame.dropped_bytes.unwrap_or(0),
                dropped_frames: frame.dropped_frames.unwrap_or(0),
                message: frame.message.unwrap_or_default(),
            },
            // Unknown frame types come from newer agents; skip them.
            _ => return Ok(()),
        };
        out.push_back((id, decoded));
        Ok(())
    }
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    text.chars().take(80).collect()
}

/// A running command's output, frame by frame.
///
/// Ends after the [`ExecFrame::Exit`] frame. A connection lost before it is
/// an [`Error::StreamTruncated`], never a silent end. Dropping the stream
/// closes the connection.
pub struct ExecStream {
    body: ResponseBody,
    decoder: FrameDecoder,
    pending: VecDeque<IdFrame>,
    done: bool,
}

impl ExecStream {
    pub(crate) fn new(body: ResponseBody, what: &'static str) -> Self {
        ExecStream {
            body,
            decoder: FrameDecoder::new(what),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Lets the stream end without an exit frame (a log replay of a process
    /// that is still running), instead of reporting truncation.
    pub(crate) fn allow_missing_exit(&mut self) {
        self.decoder.exit_optional = true;
    }

    /// Reads the whole run: all of stdout, all of stderr and the exit status.
    ///
    /// # Errors
    /// As for the stream's items.
    pub async fn collect(mut self) -> Result<ExecOutput> {
        use futures_util::StreamExt;
        let mut out = ExecOutput::default();
        while let Some(frame) = self.next().await {
            match frame? {
                ExecFrame::Started { pid, .. } => out.pid = pid,
                ExecFrame::Stdout(b) => out.stdout.extend_from_slice(&b),
                ExecFrame::Stderr(b) => out.stderr.extend_from_slice(&b),
                ExecFrame::Exit(status) => out.status = status,
                ExecFrame::Gap { .. } => {}
            }
        }
        Ok(out)
    }

    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<IdFrame>>> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            if self.decoder.is_finished() {
                self.done = true;
                continue;
            }
            let step = match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.decoder.feed(chunk.chunk(), &mut self.pending),
                Poll::Ready(Some(Err(e))) => Err(e.into()),
                Poll::Ready(None) => self.decoder.finish(&mut self.pending),
            };
            if let Err(e) = step {
                self.done = true;
                self.pending.clear();
                return Poll::Ready(Some(Err(e)));
            }
            if self.pending.is_empty() && self.decoder.is_finished() {
                self.done = true;
            }
        }
    }
}

impl Stream for ExecStream {
    type Item = Result<ExecFrame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_frame(cx)
            .map(|o| o.map(|r| r.map(|(_, frame)| frame)))
    }
}

impl fmt::Debug for ExecStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecStream")
            .field("done", &self.done)
            .finish()
    }
}

/// A whole run, collected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Process id, when the agent reported it.
    pub pid: Option<u32>,
    /// Everything written to standard output.
    pub stdout: Vec<u8>,
    /// Everything written to standard error.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub status: ExitStatus,
}

impl ExecOutput {
    /// The exit code.
    pub fn exit_code(&self) -> i32 {
        self.status.code
    }

    /// Whether it exited 0 without a signal.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Standard output as text, invalid UTF-8 replaced.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text, invalid UTF-8 replaced.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The single JSON document of a buffered exec, as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BufferedExecResult {
    /// Standard output (base64 when `encoding` says so).
    pub stdout: String,
    /// Standard error (base64 when `encoding` says so).
    pub stderr: String,
    /// `base64` when the strings are base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Exit code.
    #[serde(deserialize_with = "wire::null_as_default")]
    pub exit_code: i32,
    /// A failure to start or run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Start time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// End time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Signal that ended the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl<T: HttpTransport> SlicerClient<T> {
    /// `POST /vm/{hostname}/exec`: starts a command and streams its output.
    ///
    /// Output arrives as bytes ([`Stdio::Base64`] by default), never lossy
    /// text. A non-zero exit is an [`ExecFrame::Exit`], not an error.
    ///
    /// # Errors
    /// [`Error::Api`] when the command did not start (404 unknown VM, 409
    /// paused, 400 bad input); [`Error::InvalidInput`] for an empty command.
    /// The stream itself yields [`Error::ExecFailed`],
    /// [`Error::StreamTruncated`] or [`Error::Transport`].
    pub async fn exec(&self, hostname: &str, request: &ExecRequest) -> Result<ExecStream> {
        self.exec_with_stdin(hostname, request, Body::Empty).await
    }

    /// Like [`exec`](Self::exec), with `stdin` as the process's standard
    /// input (streamed when it is a [`Body::Stream`]); its end is EOF.
    ///
    /// # Errors
    /// As [`exec`](Self::exec).
    pub async fn exec_with_stdin(
        &self,
        hostname: &str,
        request: &ExecRequest,
        stdin: Body,
    ) -> Result<ExecStream> {
        let mut query = request.to_query()?;
        let has_stdin = !matches!(stdin, Body::Empty);
        if has_stdin {
            query.push("stdin", "true");
        }
        let path = vm_path(hostname, &["exec"])?;
        let res = self
            .dispatch(Method::POST, &path, &query, stdin, HeaderMap::new(), false)
            .await?;
        let status = res.status();
        if status != StatusCode::OK {
            let body = res.into_body().collect().await?;
            return Err(ApiError::from_response(Method::POST, path, status, &body).into());
        }
        Ok(ExecStream::new(res.into_body(), "exec"))
    }

    /// Runs a command to completion and returns its whole output, through the
    /// streaming endpoint.
    ///
    /// # Errors
    /// As [`exec`](Self::exec).
    pub async fn exec_collect(&self, hostname: &str, request: &ExecRequest) -> Result<ExecOutput> {
        self.exec(hostname, request).await?.collect().await
    }

    /// `POST /vm/{hostname}/exec?buffered=true`: one JSON answer once the
    /// command exits. Output is decoded only when the answer says it is
    /// base64, so agents that ignore `stdio` still read correctly.
    ///
    /// # Errors
    /// As [`exec`](Self::exec), plus [`Error::ExecFailed`] when the result
    /// carries an `error`.
    pub async fn exec_buffered(&self, hostname: &str, request: &ExecRequest) -> Result<ExecOutput> {
        let mut query = request.to_query()?;
        query.push("buffered", "true");
        let path = vm_path(hostname, &["exec"])?;
        let res = self
            .dispatch(
                Method::POST,
                &path,
                &query,
                Body::Empty,
                HeaderMap::new(),
                true,
            )
            .await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?;
        if status != StatusCode::OK {
            return Err(ApiError::from_response(Method::POST, path, status, &bytes).into());
        }
        let raw: BufferedExecResult = decode(&Method::POST, &path, &bytes)?;
        if let Some(message) = raw.error.filter(|m| !m.is_empty()) {
            let exit_code = if raw.exit_code != 0 { raw.exit_code } else { 1 };
            return Err(Error::ExecFailed { message, exit_code });
        }
        let decode_out = |s: String| -> Result<Vec<u8>> {
            if raw.encoding.as_deref() == Some("base64") {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|e| Error::decode("buffered exec output", e))
            } else {
                Ok(s.into_bytes())
            }
        };
        Ok(ExecOutput {
            pid: raw.pid,
            stdout: decode_out(raw.stdout)?,
            stderr: decode_out(raw.stderr)?,
            status: ExitStatus {
                code: raw.exit_code,
                signal: raw.signal.filter(|s| !s.is_empty()),
                ended_at: parse_time(&raw.ended_at),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<ExecFrame>> {
        let mut d = FrameDecoder::new("exec");
        let mut out = VecDeque::new();
        for c in chunks {
            d.feed(c, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out.into_iter().map(|(_, f)| f).collect())
    }

    #[test]
    fn typed_frames_split_anywhere_decode_the_same() {
        let text = "{\"type\":\"started\",\"pid\":7,\"exit_code\":0}\n\
                    {\"type\":\"stdout\",\"data\":\"aMOpCg==\",\"encoding\":\"base64\",\"exit_code\":0}\n\
                    \n\
                    {\"type\":\"stderr\",\"stderr\":\"h\u{e9}\\n\",\"exit_code\":0}\n\
                    {\"type\":\"future\",\"exit_code\":0}\n\
                    {\"type\":\"exit\",\"exit_code\":3,\"signal\":\"\"}\n";
        let whole = decode_all(&[text.as_bytes()]).unwrap();
        assert_eq!(
            whole,
            vec![
                ExecFrame::Started {
                    pid: Some(7),
                    started_at: None
                },
                ExecFrame::Stdout(Bytes::from("h\u{e9}\n")),
                ExecFrame::Stderr(Bytes::from("h\u{e9}\n")),
                ExecFrame::Exit(ExitStatus {
                    code: 3,
                    ..Default::default()
                }),
            ]
        );
        // Every split point, including inside the two-byte é.
        let bytes = text.as_bytes();
        for cut in 1..bytes.len() {
            let parts = decode_all(&[&bytes[..cut], &bytes[cut..]]).unwrap();
            assert_eq!(parts, whole, "split at {cut}");
        }
    }

    #[test]
    fn data_wins_over_the_stream_field_and_they_are_never_concatenated() {
        let frames = decode_all(&[
            b"{\"type\":\"stdout\",\"data\":\"a\",\"stdout\":\"b\"}\n{\"type\":\"exit\",\"exit_code\":0}\n",
        ])
        .unwrap();
        assert_eq!(frames[0], ExecFrame::Stdout(Bytes::from("a")));
    }

    #[test]
    fn legacy_stream_ends_at_eof_with_the_last_exit_code() {
        let frames = decode_all(&[
            b"{\"timestamp\":\"t\",\"stdout\":\"building\\n\",\"stderr\":\"\",\"exit_code\":0}\n",
            b"{\"stdout\":\"\",\"stderr\":\"warning\\n\",\"exit_code\":0}\n{\"stdout\":\"\",\"stderr\":\"\",\"exit_code\":2}",
        ])
        .unwrap();
        assert_eq!(
            frames,
            vec![
                ExecFrame::Stdout(Bytes::from("building\n")),
                ExecFrame::Stderr(Bytes::from("warning\n")),
                ExecFrame::Exit(ExitStatus {
                    code: 2,
                    ..Default::default()
                }),
            ]
        );
    }

    #[test]
    fn typed_stream_without_exit_is_truncated() {
        let err = decode_all(&[
            b"{\"type\":\"started\",\"pid\":1}\n{\"type\":\"stdout\",\"data\":\"x\"}\n",
        ])
        .unwrap_err();
        assert!(matches!(err, Error::StreamTruncated(_)), "{err:?}");
    }

    #[test]
    fn error_frames_fail_with_their_exit_code_or_1() {
        let err =
            decode_all(&[b"{\"error\":\"exec: \\\"nope\\\": not found\",\"exit_code\":127}\n"])
                .unwrap_err();
        assert!(
            matches!(err, Error::ExecFailed { exit_code: 127, .. }),
            "{err:?}"
        );
        let err = decode_all(&[b"{\"type\":\"exit\",\"error\":\"killed\"}\n"]).unwrap_err();
        assert!(
            matches!(err, Error::ExecFailed { exit_code: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bad_json_and_bad_base64_are_protocol_errors() {
        let err = decode_all(&[b"not json\n"]).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        let err =
            decode_all(&[b"{\"type\":\"stdout\",\"data\":\"***\",\"encoding\":\"base64\"}\n"])
                .unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    }

    #[test]
    fn gap_frames_keep_their_counts_and_ids() {
        let mut d = FrameDecoder::new("background logs");
        let mut out = VecDeque::new();
        d.feed(
            b"{\"type\":\"gap\",\"id\":57,\"dropped_bytes\":65536,\"dropped_frames\":412,\"message\":\"evicted\"}\n",
            &mut out,
        )
        .unwrap();
        let (id, frame) = out.pop_front().unwrap();
        assert_eq!(id, Some(57));
        assert!(matches!(
            frame,
            ExecFrame::Gap {
                dropped_frames: 412,
                dropped_bytes: 65536,
                ..
            }
        ));
    }

    #[test]
    fn request_query_matches_go() {
        let req = ExecRequest {
            env: vec!["A=1".into()],
            uid: Some(0),
            cwd: Some("~/x".into()),
            ..ExecRequest::new("/bin/sh", ["-c", "echo hi && exit 3"])
        };
        assert_eq!(
            req.to_query().unwrap().encode(),
            "args=-c&args=echo+hi+%26%26+exit+3&cmd=%2Fbin%2Fsh&cwd=~%2Fx&env=A%3D1&stdio=base64&uid=0"
        );
        assert!(ExecRequest::default().to_query().is_err());
        assert!(ExecRequest::new("x", [""; 0])
            .with_env("", "v")
            .to_query()
            .is_err());
    }
}
