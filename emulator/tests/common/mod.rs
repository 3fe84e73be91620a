//! Shared helpers: start an emulator in-process and talk HTTP/1.1 to it over
//! TCP or a UNIX socket, one connection per request.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use slicer_emulator::{Emulator, EmulatorConfig, Listen, RunningEmulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Upper bound for polling loops.
pub const POLL_ATTEMPTS: usize = 400;
/// Pause between polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Where requests go.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts the status and the API's JSON error shape; returns the message.
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.content_type(),
            "application/json",
            "body: {}",
            self.text()
        );
        let body = self.json();
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {body}"));
        assert!(!message.is_empty());
        message.to_owned()
    }

    /// Asserts the status and returns the JSON body.
    pub fn expect_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.content_type(), "application/json");
        self.json()
    }
}

/// A client for one emulator.
#[derive(Debug, Clone)]
pub struct Api {
    pub target: Target,
    /// The Authorization header value sent, if any.
    pub authorization: Option<String>,
}

impl Api {
    pub fn new(emulator: &RunningEmulator) -> Self {
        let target = match emulator.local_addr() {
            Listen::Tcp(addr) => Target::Tcp(*addr),
            Listen::Unix(path) => Target::Unix(path.clone()),
        };
        Api {
            target,
            authorization: emulator.token().map(|t| format!("Bearer {t}")),
        }
    }

    pub fn with_authorization(&self, value: Option<&str>) -> Self {
        Api {
            authorization: value.map(str::to_owned),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(auth) = &self.authorization {
            builder = builder.header("authorization", auth);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        match &self.target {
            Target::Tcp(addr) => exchange(TcpStream::connect(addr).await.unwrap(), request).await,
            Target::Unix(path) => exchange(UnixStream::connect(path).await.unwrap(), request).await,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.send("HEAD", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body.to_string().into_bytes()))
            .await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send("POST", path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body.to_string().into_bytes()))
            .await
    }

    /// Creates a VM, waiting for its agent; returns the hostname.
    pub async fn create_vm(&self, group: &str, body: Value) -> String {
        let reply = self
            .post(&format!("/hostgroup/{group}/nodes?wait=agent"), body)
            .await;
        reply.expect_json(201)["hostname"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Polls `/vm/{h}/health` until it answers `status`.
    pub async fn wait_health(&self, hostname: &str, status: u16) -> Reply {
        for _ in 0..POLL_ATTEMPTS {
            let reply = self.get(&format!("/vm/{hostname}/health")).await;
            if reply.status == status {
                return reply;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("health of {hostname} never answered {status}");
    }
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Reply
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// Writes `request` verbatim and reads until the server closes; the
/// request should carry `Connection: close`.
pub async fn raw_request<S>(mut stream: S, request: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts an emulator and a client for it.
pub async fn start(config: EmulatorConfig) -> (RunningEmulator, Api) {
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let api = Api::new(&emulator);
    (emulator, api)
}

/// An emulator with the default configuration (token auth, one `sbox`
/// group) and a short boot delay.
pub async fn start_default() -> (RunningEmulator, Api) {
    start(EmulatorConfig {
        agent_boot_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await
}
