//! Helpers for the guest suites: an emulator with one running VM, requests
//! whose bodies and answers stream (read frame by frame, written chunk by
//! chunk), and decoding of exec frames.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use slicer_emulator::{EmulatorConfig, RunningEmulator};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

use crate::common::{start, Api, Target, POLL_ATTEMPTS, POLL_INTERVAL};

/// A bound on anything that could hang; never a performance expectation.
pub const HANG_BOUND: Duration = Duration::from_secs(60);

/// An emulator with one VM whose agent is up.
pub struct Guest {
    pub emulator: RunningEmulator,
    pub api: Api,
    pub host: String,
    /// The VM's root directory on the host.
    pub root: PathBuf,
}

impl Guest {
    /// Starts `config` (with a short boot delay unless set) and creates a VM.
    pub async fn start(config: EmulatorConfig) -> Guest {
        let (emulator, api) = start(config).await;
        let host = api.create_vm("sbox", serde_json::json!({})).await;
        let root = emulator.data_dir().join("vms").join(&host).join("root");
        Guest {
            emulator,
            api,
            host,
            root,
        }
    }

    /// The default configuration with a 20 ms boot delay.
    pub async fn default() -> Guest {
        Guest::start(EmulatorConfig {
            agent_boot_delay: Duration::from_millis(20),
            ..Default::default()
        })
        .await
    }

    /// `/vm/<host><tail>`.
    pub fn path(&self, tail: &str) -> String {
        format!("/vm/{}{tail}", self.host)
    }

    /// Runs an exec (streamed) and collects its frames.
    pub async fn exec(&self, query: &str) -> Vec<Value> {
        let reply = send(
            &self.api,
            "POST",
            &self.path(&format!("/exec?{query}")),
            &[],
            Body::Empty,
        )
        .await;
        if reply.status != 200 {
            let status = reply.status;
            panic!("{query}: {status} {}", reply.text().await);
        }
        reply.frames().await
    }

    /// Runs `sh -c <script>` and returns stdout, stderr and the exit code.
    pub async fn sh(&self, script: &str) -> (String, String, i64) {
        let query = format!("cmd=%2Fbin%2Fsh&args=-c&args={}&stdio=base64", enc(script));
        let out = Output::of(&self.exec(&query).await);
        (out.stdout_text(), out.stderr_text(), out.exit_code)
    }

    /// Pauses or resumes the VM.
    pub async fn power(&self, action: &str) {
        let reply = self.api.post_empty(&self.path(&format!("/{action}"))).await;
        assert_eq!(reply.status, 200, "{action}: {}", reply.text());
    }
}

/// Percent-encodes a query value.
pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A request body.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// Chunks sent as they arrive on the channel; its end is the body's end.
    Stream(mpsc::Receiver<Vec<u8>>),
}

impl Body {
    fn boxed(self) -> BoxBody<Bytes, Infallible> {
        match self {
            Body::Empty => Empty::new().boxed(),
            Body::Bytes(b) => Full::new(Bytes::from(b)).boxed(),
            Body::Stream(rx) => StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async {
                rx.recv()
                    .await
                    .map(|chunk| (Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))), rx))
            }))
            .boxed(),
        }
    }
}

/// An answer whose body is read on demand.
pub struct Streaming {
    pub status: u16,
    pub headers: HeaderMap,
    body: Incoming,
    buf: Vec<u8>,
    ended: bool,
}

/// Sends a request over a new connection; the connection lives as long as
/// the answer is read, and closes when it is dropped.
pub async fn send(
    api: &Api,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Streaming {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(auth) = &api.authorization {
        builder = builder.header("authorization", auth);
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder.body(body.boxed()).unwrap();
    let response = match &api.target {
        Target::Tcp(addr) => exchange(TcpStream::connect(addr).await.unwrap(), request).await,
        Target::Unix(p) => exchange(UnixStream::connect(p).await.unwrap(), request).await,
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Streaming {
        status,
        headers,
        body: response.into_body(),
        buf: Vec::new(),
        ended: false,
    }
}

async fn exchange<S>(
    stream: S,
    request: Request<BoxBody<Bytes, Infallible>>,
) -> hyper::Response<Incoming>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

impl Streaming {
    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        loop {
            let frame = tokio::time::timeout(HANG_BOUND, self.body.frame())
                .await
                .expect("the body stalled")?;
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(data);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The next NDJSON line, `None` at the end of the body.
    pub async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                return Some(String::from_utf8(line[..nl].to_vec()).unwrap());
            }
            if self.ended {
                if self.buf.is_empty() {
                    return None;
                }
                return Some(String::from_utf8(std::mem::take(&mut self.buf)).unwrap());
            }
            match self.chunk().await {
                Some(data) => self.buf.extend_from_slice(&data),
                None => self.ended = true,
            }
        }
    }

    /// The next frame (blank lines skipped).
    pub async fn frame(&mut self) -> Option<Value> {
        loop {
            let line = self.line().await?;
            if !line.trim().is_empty() {
                return Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
            }
        }
    }

    /// Every remaining frame.
    pub async fn frames(mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.frame().await {
            out.push(frame);
        }
        out
    }

    /// Reads frames until one satisfies `stop`; returns them all.
    pub async fn frames_until(&mut self, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.frame().await {
            let done = stop(&frame);
            out.push(frame);
            if done {
                return out;
            }
        }
        panic!("the stream ended before the expected frame: {out:?}");
    }

    /// The whole remaining body.
    pub async fn bytes(mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        while let Some(chunk) = self.chunk().await {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// The remaining body as text.
    pub async fn text(self) -> String {
        String::from_utf8_lossy(&self.bytes().await).into_owned()
    }

    /// The body as JSON.
    pub async fn json(self) -> Value {
        let text = self.text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Asserts an API error with `status`; returns its message.
    pub async fn error(self, status: u16) -> String {
        assert_eq!(self.status, status);
        assert_eq!(
            self.headers.get("content-type").unwrap().to_str().unwrap(),
            "application/json"
        );
        let body = self.json().await;
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// The output of a run, decoded from its frames (base64 only when a frame
/// says so).
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i64,
    pub signal: Option<String>,
    pub error: Option<String>,
}

/// Decodes a frame's output bytes.
pub fn data(frame: &Value) -> Vec<u8> {
    let text = frame["data"].as_str().unwrap_or_default();
    if frame["encoding"] == "base64" {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    } else {
        text.as_bytes().to_vec()
    }
}

impl Output {
    pub fn of(frames: &[Value]) -> Output {
        let mut out = Output::default();
        for f in frames {
            match f["type"].as_str() {
                Some("stdout") => out.stdout.extend(data(f)),
                Some("stderr") => out.stderr.extend(data(f)),
                Some("exit") => {
                    out.exit_code = f["exit_code"].as_i64().unwrap();
                    out.signal = f["signal"].as_str().map(str::to_owned);
                    out.error = f["error"].as_str().map(str::to_owned);
                }
                _ => {}
            }
        }
        out
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Whether any process of process group `pgid` is still alive (zombies
/// waiting to be reaped do not count).
pub fn group_alive(pgid: i64) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.first() != Some(&"Z")
            && fields.get(2).and_then(|g| g.parse::<i64>().ok()) == Some(pgid)
    })
}

/// Polls until the process group `pgid` has no live process.
pub async fn wait_group_gone(pgid: i64) {
    for _ in 0..POLL_ATTEMPTS {
        if !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    panic!("process group {pgid} is still alive");
}

/// Polls `check` until it holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..POLL_ATTEMPTS {
        if check() {
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    panic!("{what} never happened");
}
