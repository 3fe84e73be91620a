//! Foreground exec (PROTOCOL §8): request parsing shared with background
//! exec, NDJSON frames, the streamed answer and the buffered one.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use futures_util::StreamExt;
use slicer_core::exec::{BufferedExecResult, WireFrame};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

use super::paths::GuestRoot;
use super::sandbox::{
    argv, find_program, identity, resolve_cwd, supervise, Exit, Launch, LaunchFailure, Sandbox,
};
use super::stream::{body_channel, channel_body, discard, Utf8Text};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::vm::Vm;

/// Bytes read from a process pipe at a time: one output frame at most.
pub(crate) const READ_CHUNK: usize = 32 * 1024;

/// The Go SDK's stand-in for "no uid given"; it never sends it, but treating
/// it as absent keeps captured traffic meaningful.
const UID_SENTINEL: u32 = u32::MAX;

/// The query parameters of `POST /vm/{h}/exec` (PROTOCOL §8.1, §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecParams {
    /// Program, or the script when `shell` is set.
    pub cmd: String,
    /// Arguments in order.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Requested user id.
    pub uid: Option<u32>,
    /// Requested group id.
    pub gid: Option<u32>,
    /// Working directory as given.
    pub cwd: Option<String>,
    /// Interpreter for `-lc`.
    pub shell: Option<String>,
    /// Stream the request body to stdin.
    pub stdin: bool,
    /// Capture stdout.
    pub stdout: bool,
    /// Capture stderr.
    pub stderr: bool,
    /// Output as base64.
    pub base64: bool,
    /// One JSON answer after exit.
    pub buffered: bool,
    /// Detached launch.
    pub background: bool,
    /// Background ring size as given.
    pub ring_bytes: Option<i64>,
}

fn id_param(query: &QueryParams, key: &str) -> Result<Option<u32>, ApiError> {
    match query.get(key) {
        None => Ok(None),
        Some(text) => match text.parse::<u32>() {
            Ok(UID_SENTINEL) => Ok(None),
            Ok(id) => Ok(Some(id)),
            Err(_) => Err(ApiError::bad_request(format!(
                "invalid {key} {text:?}: expected a number from 0 to 4294967294"
            ))),
        },
    }
}

impl ExecParams {
    /// Parses and checks the query. In legacy-agent mode `stdio` is ignored,
    /// as seed-era agents did.
    ///
    /// # Errors
    /// 400 naming the parameter: missing `cmd`, bad `stdio`, `uid`, `gid`,
    /// `env`, `ring_bytes` or `permissions`, `cwd` with `..`, `background`
    /// with `stdin` or `buffered`.
    pub fn parse(query: &QueryParams, legacy: bool) -> Result<ExecParams, ApiError> {
        let cmd = query
            .get("cmd")
            .ok_or_else(|| ApiError::bad_request("missing cmd: name the program to run"))?
            .to_owned();
        let mut env = Vec::new();
        for entry in query.all("env") {
            match entry.split_once('=') {
                Some((k, v)) if !k.is_empty() => env.push((k.to_owned(), v.to_owned())),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid env entry {entry:?}: expected KEY=VALUE"
                    )))
                }
            }
        }
        let cwd = query.get("cwd").map(str::to_owned);
        if let Some(cwd) = &cwd {
            if cwd.split('/').any(|seg| seg == "..") {
                return Err(ApiError::bad_request(format!(
                    "invalid cwd {cwd:?}: `..` is not allowed"
                )));
            }
        }
        let base64 = match (legacy, query.get("stdio")) {
            (true, _) | (false, None | Some("text")) => false,
            (false, Some("base64")) => true,
            (false, Some(other)) => {
                return Err(ApiError::bad_request(format!(
                    "invalid stdio {other:?}: expected text or base64"
                )))
            }
        };
        if let Some(mode) = query.get("permissions") {
            if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777) {
                return Err(ApiError::bad_request(format!(
                    "invalid permissions {mode:?}: expected an octal mode such as 0755"
                )));
            }
        }
        let ring_bytes = query
            .get("ring_bytes")
            .map(|text| {
                text.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid ring_bytes {text:?}: expected a whole number of bytes"
                    ))
                })
            })
            .transpose()?;
        let params = ExecParams {
            cmd,
            args: query.all("args").map(str::to_owned).collect(),
            env,
            uid: id_param(query, "uid")?,
            gid: id_param(query, "gid")?,
            cwd,
            shell: query.get("shell").map(str::to_owned),
            stdin: query.bool("stdin")?.unwrap_or(false),
            stdout: query.bool("stdout")?.unwrap_or(true),
            stderr: query.bool("stderr")?.unwrap_or(true),
            base64,
            buffered: query.bool("buffered")?.unwrap_or(false),
            background: query.bool("background")?.unwrap_or(false),
            ring_bytes,
        };
        if params.background && params.stdin {
            return Err(ApiError::bad_request(
                "stdin cannot be streamed to a background exec (background=true with stdin=true)",
            ));
        }
        if params.background && params.buffered {
            return Err(ApiError::bad_request(
                "a background exec cannot be buffered (background=true with buffered=true)",
            ));
        }
        Ok(params)
    }
}

/// Works out how to start the process: the user, the working directory,
/// the program. Blocking (it reads the VM's files).
///
/// # Errors
/// `Err` for request errors (400); `Ok(Err)` for launch failures that are
/// reported inside a 200 stream.
pub(crate) fn prepare(
    vm: &Vm,
    params: &ExecParams,
) -> Result<Result<Launch, LaunchFailure>, ApiError> {
    let root = GuestRoot::open(&vm.root())
        .map_err(|e| ApiError::internal("cannot open the VM's root directory", e))?;
    let user = identity(&root, params.uid, params.gid);
    let cwd_text = params.cwd.clone().unwrap_or_else(|| user.home.clone());
    let cwd = match resolve_cwd(&root, &cwd_text, &user.home) {
        Ok(cwd) => cwd,
        Err(Ok(api)) => return Err(api),
        Err(Err(failure)) => return Ok(Err(failure)),
    };
    let argv = argv(&params.cmd, &params.args, params.shell.as_deref());
    if let Err(failure) = find_program(&root, &argv[0], &cwd) {
        return Ok(Err(failure));
    }
    let mut launch = Launch::new(argv, user, cwd, &params.env);
    launch.stdin = params.stdin;
    launch.stdout = params.stdout;
    launch.stderr = params.stderr;
    Ok(Ok(launch))
}

/// [`prepare`] on a blocking thread.
pub(crate) async fn prepare_blocking(
    vm: Arc<Vm>,
    params: ExecParams,
) -> Result<Result<Launch, LaunchFailure>, ApiError> {
    tokio::task::spawn_blocking(move || prepare(&vm, &params))
        .await
        .map_err(|e| ApiError::internal("preparing the exec failed", e))?
}

/// An RFC 3339 timestamp with nanoseconds.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Output {
    fn as_str(self) -> &'static str {
        match self {
            Output::Stdout => "stdout",
            Output::Stderr => "stderr",
        }
    }
}

/// How frames look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameStyle {
    /// Typed frames (`started`, `stdout`, `stderr`, `exit`), output in
    /// `data`, base64 with `encoding` when asked for.
    Typed {
        /// Output as base64.
        base64: bool,
    },
    /// Seed-era frames: `timestamp`, `stdout`, `stderr`, `exit_code`,
    /// `error`; the last line carries the exit code.
    Legacy,
}

impl FrameStyle {
    /// The style for a request.
    pub fn new(legacy: bool, base64: bool) -> Self {
        if legacy {
            FrameStyle::Legacy
        } else {
            FrameStyle::Typed { base64 }
        }
    }

    /// The first frame (typed only).
    pub fn started(self, pid: u32, at: OffsetDateTime) -> Option<WireFrame> {
        match self {
            FrameStyle::Legacy => None,
            FrameStyle::Typed { .. } => Some(WireFrame {
                kind: Some("started".to_owned()),
                pid: Some(pid),
                started_at: Some(rfc3339(at)),
                timestamp: Some(rfc3339(at)),
                ..Default::default()
            }),
        }
    }

    /// An output frame, or `None` when a text chunk held only part of a
    /// character.
    pub fn output(self, which: Output, data: &[u8], text: &mut Utf8Text) -> Option<WireFrame> {
        let encoded = match self {
            FrameStyle::Typed { base64: true } => {
                base64::engine::general_purpose::STANDARD.encode(data)
            }
            _ => text.push(data),
        };
        self.output_frame(which, encoded)
    }

    /// The text-mode remainder at the end of a stream.
    pub fn output_end(self, which: Output, text: &mut Utf8Text) -> Option<WireFrame> {
        self.output_frame(which, text.finish())
    }

    fn output_frame(self, which: Output, encoded: String) -> Option<WireFrame> {
        if encoded.is_empty() {
            return None;
        }
        let now = Some(rfc3339(OffsetDateTime::now_utc()));
        Some(match self {
            FrameStyle::Typed { base64 } => WireFrame {
                kind: Some(which.as_str().to_owned()),
                data: Some(encoded),
                encoding: base64.then(|| "base64".to_owned()),
                timestamp: now,
                ..Default::default()
            },
            FrameStyle::Legacy => {
                let (stdout, stderr) = match which {
                    Output::Stdout => (encoded, String::new()),
                    Output::Stderr => (String::new(), encoded),
                };
                WireFrame {
                    timestamp: now,
                    stdout: Some(stdout),
                    stderr: Some(stderr),
                    ..Default::default()
                }
            }
        })
    }

    /// The last frame of a process that ran.
    pub fn exit(self, pid: u32, exit: Exit, ended: OffsetDateTime) -> WireFrame {
        match self {
            FrameStyle::Typed { .. } => WireFrame {
                kind: Some("exit".to_owned()),
                pid: Some(pid),
                exit_code: exit.code,
                signal: exit.signal.map(str::to_owned),
                ended_at: Some(rfc3339(ended)),
                timestamp: Some(rfc3339(ended)),
                ..Default::default()
            },
            FrameStyle::Legacy => WireFrame {
                timestamp: Some(rfc3339(ended)),
                stdout: Some(String::new()),
                stderr: Some(String::new()),
                exit_code: exit.code,
                ..Default::default()
            },
        }
    }

    /// The only frame of a process that could not start.
    pub fn failure(self, failure: &LaunchFailure) -> WireFrame {
        let now = rfc3339(OffsetDateTime::now_utc());
        let typed = matches!(self, FrameStyle::Typed { .. });
        WireFrame {
            kind: typed.then(|| "exit".to_owned()),
            error: Some(failure.message.clone()),
            exit_code: failure.exit_code,
            ended_at: typed.then(|| now.clone()),
            timestamp: Some(now),
            ..Default::default()
        }
    }
}

/// One NDJSON line.
pub(crate) fn encode(frame: &WireFrame) -> Bytes {
    let mut line = serde_json::to_vec(frame).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The streamed answer: 200 and headers at once, then frames as produced.
/// The process is killed if the client goes away.
pub(crate) fn stream_response(
    vm: Arc<Vm>,
    sandbox: Arc<Sandbox>,
    prepared: Result<Launch, LaunchFailure>,
    style: FrameStyle,
    stdin: Option<Body>,
) -> Response {
    let (tx, rx) = body_channel();
    tokio::spawn(run_streaming(vm, sandbox, prepared, style, stdin, tx));
    ndjson(channel_body(rx))
}

/// A 200 NDJSON response around `body`.
pub(crate) fn ndjson(body: Body) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

type FrameSender = mpsc::Sender<std::io::Result<Bytes>>;

async fn run_streaming(
    vm: Arc<Vm>,
    sandbox: Arc<Sandbox>,
    prepared: Result<Launch, LaunchFailure>,
    style: FrameStyle,
    stdin: Option<Body>,
    tx: FrameSender,
) {
    let started = prepared.and_then(|launch| sandbox.spawn(&vm, &launch));
    let mut process = match started {
        Ok(process) => process,
        Err(failure) => {
            if let Some(body) = stdin {
                discard(body);
            }
            let _ = tx.send(Ok(encode(&style.failure(&failure)))).await;
            return;
        }
    };
    let pid = process.pid();
    tracing::debug!(hostname = vm.hostname(), pid, "exec started");
    if let Some(frame) = style.started(pid, OffsetDateTime::now_utc()) {
        if tx.send(Ok(encode(&frame))).await.is_err() {
            return;
        }
    }
    let group = process.group();
    if let Some(body) = stdin {
        tokio::spawn(feed_stdin(body, process.stdin.take()));
    }
    let (out, err) = (process.stdout.take(), process.stderr.take());
    let outcome = {
        let work = async {
            tokio::join!(
                forward(out, Output::Stdout, style, &tx),
                forward(err, Output::Stderr, style, &tx)
            );
            process.wait().await
        };
        tokio::select! {
            result = work => Some(result),
            // The client disconnected: dropping the process kills it.
            () = tx.closed() => None,
            never = supervise(&vm, &group) => match never {},
        }
    };
    let frame = match outcome {
        None => {
            tracing::debug!(
                hostname = vm.hostname(),
                pid,
                "exec abandoned by the client; killed"
            );
            return;
        }
        Some(Ok(exit)) => style.exit(pid, exit, OffsetDateTime::now_utc()),
        Some(Err(e)) => style.failure(&LaunchFailure {
            message: format!("waiting for the process failed: {e}"),
            exit_code: 1,
        }),
    };
    let _ = tx.send(Ok(encode(&frame))).await;
}

/// Copies the request body to the process's stdin; its end is EOF. Once
/// the process stops reading, the rest of the body is read and dropped, so
/// the client can finish sending and read the answer.
async fn feed_stdin(body: Body, pipe: Option<ChildStdin>) {
    let mut stream = body.into_data_stream();
    let mut pipe = pipe;
    while let Some(Ok(chunk)) = stream.next().await {
        if let Some(p) = pipe.as_mut() {
            if p.write_all(&chunk).await.is_err() {
                pipe = None;
            }
        }
    }
    if let Some(mut p) = pipe {
        let _ = p.shutdown().await;
    }
}

/// Sends one pipe's output as frames until it ends or the client leaves.
async fn forward(
    pipe: Option<impl AsyncRead + Unpin>,
    which: Output,
    style: FrameStyle,
    tx: &FrameSender,
) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut text = Utf8Text::default();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(frame) = style.output(which, &buf[..n], &mut text) {
            if tx.send(Ok(encode(&frame))).await.is_err() {
                return;
            }
        }
    }
    if let Some(frame) = style.output_end(which, &mut text) {
        let _ = tx.send(Ok(encode(&frame))).await;
    }
}

/// Reads a whole pipe.
async fn collect(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut out).await;
    }
    out
}

/// The buffered answer (PROTOCOL §8.7): runs the process to the end in the
/// request's own task, so a client that disconnects cancels it (and the
/// process is killed).
pub(crate) async fn buffered(
    vm: Arc<Vm>,
    sandbox: Arc<Sandbox>,
    prepared: Result<Launch, LaunchFailure>,
    base64: bool,
    stdin: Option<Body>,
) -> Json<BufferedExecResult> {
    let encoding = base64.then(|| "base64".to_owned());
    let failed = |failure: LaunchFailure| {
        Json(BufferedExecResult {
            error: Some(failure.message),
            exit_code: failure.exit_code,
            encoding: encoding.clone(),
            ..Default::default()
        })
    };
    let mut process = match prepared.and_then(|launch| sandbox.spawn(&vm, &launch)) {
        Ok(process) => process,
        Err(failure) => {
            if let Some(body) = stdin {
                discard(body);
            }
            return failed(failure);
        }
    };
    let started = OffsetDateTime::now_utc();
    let pid = process.pid();
    let group = process.group();
    if let Some(body) = stdin {
        tokio::spawn(feed_stdin(body, process.stdin.take()));
    }
    let (out, err) = (process.stdout.take(), process.stderr.take());
    let work = async {
        let (stdout, stderr) = tokio::join!(collect(out), collect(err));
        (stdout, stderr, process.wait().await)
    };
    let (stdout, stderr, exit) = tokio::select! {
        done = work => done,
        never = supervise(&vm, &group) => match never {},
    };
    let exit = match exit {
        Ok(exit) => exit,
        Err(e) => {
            return failed(LaunchFailure {
                message: format!("waiting for the process failed: {e}"),
                exit_code: 1,
            })
        }
    };
    let text = |bytes: Vec<u8>| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    Json(BufferedExecResult {
        stdout: text(stdout),
        stderr: text(stderr),
        encoding,
        exit_code: exit.code,
        error: None,
        pid: Some(pid),
        started_at: Some(rfc3339(started)),
        ended_at: Some(rfc3339(OffsetDateTime::now_utc())),
        signal: exit.signal.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<ExecParams, ApiError> {
        ExecParams::parse(&QueryParams::parse(q), false)
    }

    #[test]
    fn parameters_and_their_errors() {
        let p = parse(
            "cmd=%2Fbin%2Fsh&args=-c&args=&args=x&env=A%3D1%3D2&uid=0&stdio=base64&cwd=~%2Fw",
        )
        .unwrap();
        assert_eq!(p.args, ["-c", "", "x"]);
        assert_eq!(p.env, [("A".to_owned(), "1=2".to_owned())]);
        assert_eq!((p.uid, p.gid, p.base64), (Some(0), None, true));
        assert_eq!(p.cwd.as_deref(), Some("~/w"));
        assert!(p.stdout && p.stderr && !p.stdin);
        assert_eq!(parse("cmd=x&uid=4294967295").unwrap().uid, None);
        for (q, word) in [
            ("args=x", "missing cmd"),
            ("cmd=x&stdio=hex", "stdio"),
            ("cmd=x&uid=-1", "uid"),
            ("cmd=x&gid=abc", "gid"),
            ("cmd=x&cwd=%2Ftmp%2F..%2Fetc", "cwd"),
            ("cmd=x&env=NOVALUE", "env"),
            ("cmd=x&env=%3Dv", "env"),
            ("cmd=x&background=true&stdin=true", "stdin"),
            ("cmd=x&background=1&buffered=t", "buffered"),
            ("cmd=x&ring_bytes=lots", "ring_bytes"),
            ("cmd=x&permissions=999", "permissions"),
            ("cmd=x&stdin=maybe", "stdin"),
        ] {
            let err = parse(q).unwrap_err();
            assert_eq!(err.status, 400, "{q}");
            assert!(err.message.contains(word), "{q}: {err}");
        }
        // Legacy agents ignore stdio entirely.
        let p = ExecParams::parse(&QueryParams::parse("cmd=x&stdio=hex"), true).unwrap();
        assert!(!p.base64);
    }

    fn json(frame: &WireFrame) -> serde_json::Value {
        serde_json::from_slice(&encode(frame)).unwrap()
    }

    #[test]
    fn frame_shapes() {
        let typed = FrameStyle::new(false, true);
        let mut t = Utf8Text::default();
        let out = json(&typed.output(Output::Stdout, b"hi\n", &mut t).unwrap());
        assert_eq!(out["type"], "stdout");
        assert_eq!(out["data"], "aGkK");
        assert_eq!(out["encoding"], "base64");
        assert_eq!(out["exit_code"], 0);
        let exit = json(&typed.exit(
            7,
            Exit {
                code: 143,
                signal: Some("SIGTERM"),
            },
            OffsetDateTime::UNIX_EPOCH,
        ));
        assert_eq!(
            (exit["type"].as_str(), exit["exit_code"].as_i64()),
            (Some("exit"), Some(143))
        );
        assert_eq!(exit["signal"], "SIGTERM");
        assert_eq!(exit["ended_at"], "1970-01-01T00:00:00Z");

        let text = FrameStyle::new(false, false);
        let out = json(&text.output(Output::Stderr, b"\xff", &mut t).unwrap());
        assert_eq!(out["data"], "\u{FFFD}");
        assert!(out.get("encoding").is_none());

        let legacy = FrameStyle::new(true, true);
        let out = json(&legacy.output(Output::Stderr, b"warn", &mut t).unwrap());
        assert!(out.get("type").is_none());
        assert_eq!(
            (out["stdout"].as_str(), out["stderr"].as_str()),
            (Some(""), Some("warn"))
        );
        assert!(legacy.started(1, OffsetDateTime::UNIX_EPOCH).is_none());
        let fail = json(&legacy.failure(&LaunchFailure {
            message: "exec: \"nope\": executable file not found in $PATH".into(),
            exit_code: 127,
        }));
        assert_eq!(fail["exit_code"], 127);
        assert!(fail.get("type").is_none());
    }
}
