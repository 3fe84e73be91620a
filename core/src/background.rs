//! Background exec: detached processes whose output the agent keeps in a
//! per-process ring buffer.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{decode, encode_json, vm_path, SlicerClient};
use crate::error::{ApiError, Error, Result};
use crate::exec::{ExecFrame, ExecRequest, ExecStream};
use crate::transport::{Body, HttpTransport};
use crate::url::Query;
use crate::wire;

/// Longest wait-exit long-poll the agent accepts.
pub const MAX_WAIT_EXIT: Duration = Duration::from_secs(600);

/// Answer to a background launch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackgroundExec {
    /// Opaque id (`ex_...`) for the other background calls.
    pub exec_id: String,
    /// Process id in the guest.
    pub pid: u32,
    /// Start time.
    #[serde(with = "wire::timestamp")]
    pub started_at: Option<OffsetDateTime>,
    /// Ring buffer size in bytes.
    pub ring_bytes: u64,
}

/// State of a background exec, from list and info.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackgroundExecInfo {
    /// The exec id.
    pub exec_id: String,
    /// Process id.
    pub pid: u32,
    /// Program.
    pub command: String,
    /// Arguments.
    #[serde(
        deserialize_with = "wire::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    /// User id it runs as.
    pub uid: u32,
    /// Start time.
    #[serde(with = "wire::timestamp")]
    pub started_at: Option<OffsetDateTime>,
    /// Whether it is still running.
    pub running: bool,
    /// Exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that ended it, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signal: String,
    /// End time, once exited.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<OffsetDateTime>,
    /// Output bytes produced so far.
    pub bytes_written: u64,
    /// Output bytes evicted from the ring.
    pub bytes_dropped: u64,
    /// Frames evicted from the ring. Sent by the emulator; agents may omit
    /// it (then 0).
    pub frames_dropped: u64,
    /// Id the next log frame will get.
    pub next_id: u64,
    /// Ring buffer size.
    pub ring_bytes: u64,
}

/// Signal for [`SlicerClient::exec_kill`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGTERM, escalated to SIGKILL after the grace period.
    #[default]
    Term,
    /// SIGKILL.
    Kill,
    /// SIGINT.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

impl Signal {
    /// The wire spelling (`TERM`, `KILL`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
            Signal::Int => "INT",
            Signal::Hup => "HUP",
            Signal::Quit => "QUIT",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
        }
    }

    /// Parses a wire spelling, with or without `SIG`.
    pub fn parse(s: &str) -> Option<Signal> {
        let s = s.strip_prefix("SIG").unwrap_or(s);
        Some(match s {
            "TERM" => Signal::Term,
            "KILL" => Signal::Kill,
            "INT" => Signal::Int,
            "HUP" => Signal::Hup,
            "QUIT" => Signal::Quit,
            "USR1" => Signal::Usr1,
            "USR2" => Signal::Usr2,
            _ => return None,
        })
    }
}

/// Options of [`SlicerClient::exec_kill`]. The default sends nothing and
/// lets the agent use TERM with a 5 s grace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KillOptions {
    /// Signal to send.
    pub signal: Option<Signal>,
    /// For TERM: escalate to KILL after this long.
    pub grace: Option<Duration>,
}

/// Wire body of a kill request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillBody {
    /// Signal name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signal: String,
    /// Grace in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
}

/// Answer to a kill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillResponse {
    /// The exec id.
    pub exec_id: String,
    /// Process id.
    pub pid: u32,
    /// Whether it still runs (grace pending).
    pub running: bool,
    /// The signal delivered.
    pub signal_sent: String,
}

/// Answer to a wait-exit long-poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaitExitResponse {
    /// The exec id.
    pub exec_id: String,
    /// Whether it still runs.
    pub running: bool,
    /// Exit code, once exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that ended it, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signal: String,
    /// End time, once exited.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<OffsetDateTime>,
    /// Whether the wait ended by timeout (call again to keep waiting).
    pub timed_out: bool,
}

/// Answer to a reap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReapResponse {
    /// The exec id.
    pub exec_id: String,
    /// Whether the entry was freed.
    pub reaped: bool,
}

/// Options of [`SlicerClient::exec_logs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// After the replay, keep streaming until the process exits.
    pub follow: bool,
    /// Start at this frame id (inclusive); resume with `last_id + 1`.
    pub from_id: Option<u64>,
}

/// One background log frame with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    /// Frame id, growing by one per frame; `0` if the agent sent none.
    pub id: u64,
    /// The frame.
    pub frame: ExecFrame,
}

/// A background exec's log, frame by frame. A replay ends when the ring is
/// drained; a follow ends after the exit frame.
pub struct LogStream {
    inner: ExecStream,
}

impl Stream for LogStream {
    type Item = Result<LogFrame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_frame(cx).map(|o| {
            o.map(|r| {
                r.map(|(id, frame)| LogFrame {
                    id: id.unwrap_or(0),
                    frame,
                })
            })
        })
    }
}

impl fmt::Debug for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogStream")
    }
}

impl<T: HttpTransport> SlicerClient<T> {
    /// `POST /vm/{hostname}/exec?background=true`: launches a detached
    /// process. `ring_bytes` of `None` takes the agent's 1 MiB default.
    ///
    /// # Errors
    /// [`Error::Api`]: 400 bad input or ring too large, 503 ring budget
    /// exhausted, 404/409 for the VM.
    pub async fn exec_background(
        &self,
        hostname: &str,
        request: &ExecRequest,
        ring_bytes: Option<u64>,
    ) -> Result<BackgroundExec> {
        let mut query = request.to_query()?;
        query.push("background", "true");
        query.push_opt(
            "ring_bytes",
            ring_bytes.filter(|&n| n > 0).map(|n| n.to_string()),
        );
        let path = vm_path(hostname, &["exec"])?;
        self.send_json(
            Method::POST,
            &path,
            &query,
            None::<&()>,
            &[StatusCode::CREATED, StatusCode::OK],
        )
        .await
    }

    /// `GET /vm/{hostname}/exec`: every running or unreaped background exec.
    ///
    /// # Errors
    /// [`Error::Api`] for the VM.
    pub async fn exec_list(&self, hostname: &str) -> Result<Vec<BackgroundExecInfo>> {
        self.get_json::<Option<Vec<BackgroundExecInfo>>>(
            &vm_path(hostname, &["exec"])?,
            &Query::new(),
        )
        .await
        .map(Option::unwrap_or_default)
    }

    /// `GET /vm/{hostname}/exec/{id}`.
    ///
    /// # Errors
    /// [`Error::ExecReaped`] after a reap; [`Error::Api`] 404 for an unknown id.
    pub async fn exec_info(&self, hostname: &str, exec_id: &str) -> Result<BackgroundExecInfo> {
        let path = exec_path(hostname, exec_id, None)?;
        reaped(exec_id, self.get_json(&path, &Query::new()).await)
    }

    /// `GET /vm/{hostname}/exec/{id}/logs`: replays the ring and, with
    /// `follow`, streams until the process exits. Evicted history shows up as
    /// an [`ExecFrame::Gap`].
    ///
    /// # Errors
    /// [`Error::ExecReaped`] after a reap; the stream yields
    /// [`Error::StreamTruncated`] when a follow loses its connection.
    pub async fn exec_logs(
        &self,
        hostname: &str,
        exec_id: &str,
        options: LogOptions,
    ) -> Result<LogStream> {
        let path = exec_path(hostname, exec_id, Some("logs"))?;
        let mut query = Query::new();
        if options.follow {
            query.push("follow", "true");
        }
        query.push_opt(
            "from_id",
            options.from_id.filter(|&n| n > 0).map(|n| n.to_string()),
        );
        let res = self
            .dispatch(
                Method::GET,
                &path,
                &query,
                Body::Empty,
                HeaderMap::new(),
                options.follow,
            )
            .await?;
        let status = res.status();
        if status != StatusCode::OK {
            let body = res.into_body().collect().await?;
            let err: Error = ApiError::from_response(Method::GET, path, status, &body).into();
            return reaped(exec_id, Err(err));
        }
        let what = if options.follow {
            "background logs"
        } else {
            // A replay of a still-running process ends without an exit
            // frame; that is its normal end, so it decodes like a legacy
            // stream: only `follow` promises an exit frame.
            "background log replay"
        };
        let mut inner = ExecStream::new(res.into_body(), what);
        if !options.follow {
            inner.allow_missing_exit();
        }
        Ok(LogStream { inner })
    }

    /// `POST /vm/{hostname}/exec/{id}/kill`. Killing an exited process is a
    /// no-op that answers `running: false`.
    ///
    /// # Errors
    /// [`Error::ExecReaped`] after a reap.
    pub async fn exec_kill(
        &self,
        hostname: &str,
        exec_id: &str,
        options: KillOptions,
    ) -> Result<KillResponse> {
        let path = exec_path(hostname, exec_id, Some("kill"))?;
        let body = KillBody {
            signal: options
                .signal
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            grace_ms: options.grace.map(|g| g.as_millis() as u64),
        };
        // Go sends no body at all when both fields are unset.
        let json = (body != KillBody::default())
            .then(|| encode_json(&body))
            .transpose()?;
        let result = self
            .call(Method::POST, &path, &Query::new(), json, &[StatusCode::OK])
            .await;
        let (_, bytes) = reaped(exec_id, result)?;
        decode(&Method::POST, &path, &bytes)
    }

    /// `GET /vm/{hostname}/exec/{id}/wait-exit`: waits up to `timeout`
    /// (whole seconds, at most 600) for the process to exit. A timed-out wait
    /// answers `timed_out: true`; call again to keep waiting.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a timeout under one second or over 600;
    /// [`Error::ExecReaped`] after a reap.
    pub async fn exec_wait_exit(
        &self,
        hostname: &str,
        exec_id: &str,
        timeout: Duration,
    ) -> Result<WaitExitResponse> {
        if timeout < Duration::from_secs(1) || timeout > MAX_WAIT_EXIT {
            return Err(Error::invalid(format!(
                "wait-exit timeout {timeout:?} must be between 1 s and 600 s (whole seconds)"
            )));
        }
        let path = exec_path(hostname, exec_id, Some("wait-exit"))?;
        let mut query = Query::new();
        query.push("timeout", timeout.as_secs().to_string());
        reaped(exec_id, self.get_json(&path, &query).await)
    }

    /// `DELETE /vm/{hostname}/exec/{id}`: frees the ring and the entry. Does
    /// not kill the process.
    ///
    /// # Errors
    /// [`Error::ExecReaped`] when already reaped; [`Error::Api`] 409 when the
    /// agent refuses to reap a running process.
    pub async fn exec_delete(&self, hostname: &str, exec_id: &str) -> Result<ReapResponse> {
        let path = exec_path(hostname, exec_id, None)?;
        let result = self
            .send_json(
                Method::DELETE,
                &path,
                &Query::new(),
                None::<&()>,
                &[StatusCode::OK],
            )
            .await;
        reaped(exec_id, result)
    }
}

fn exec_path(hostname: &str, exec_id: &str, tail: Option<&str>) -> Result<String> {
    let mut segments = vec![
        ("", "vm"),
        ("hostname", hostname),
        ("", "exec"),
        ("exec id", exec_id),
    ];
    segments.extend(tail.map(|t| ("", t)));
    crate::url::path(&segments)
}

/// Maps a 410 to [`Error::ExecReaped`].
fn reaped<R>(exec_id: &str, result: Result<R>) -> Result<R> {
    match result {
        Err(e) if e.status() == Some(StatusCode::GONE) => Err(Error::ExecReaped {
            exec_id: exec_id.to_owned(),
        }),
        other => other,
    }
}
