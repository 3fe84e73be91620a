//! An in-memory transport that records requests and replays scripted
//! responses, for testing request building without a server.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode};

use crate::error::{TransportError, TransportErrorKind};
use crate::transport::{Body, HttpTransport, ResponseBody};

/// A request as the transport saw it, body read whole.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: Method,
    /// Full URI, query included.
    pub uri: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The URI's path.
    pub fn path(&self) -> String {
        let uri: http::Uri = self.uri.parse().expect("recorded URI parses");
        uri.path().to_owned()
    }

    /// The URI's raw query, empty when there is none.
    pub fn query(&self) -> String {
        let uri: http::Uri = self.uri.parse().expect("recorded URI parses");
        uri.query().unwrap_or_default().to_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer.
#[derive(Debug)]
pub enum Scripted {
    /// A response with this status, headers and body chunks.
    Response {
        /// Status.
        status: StatusCode,
        /// Headers.
        headers: HeaderMap,
        /// Body, in the chunks it is delivered in.
        chunks: Vec<Bytes>,
        /// Fail with an I/O error after the chunks instead of ending cleanly.
        break_after: bool,
    },
    /// No response: a transport failure of this kind.
    Fail(TransportErrorKind),
}

impl Scripted {
    /// A response with `status` and a whole body.
    pub fn status(status: u16, body: impl Into<Bytes>) -> Self {
        Scripted::chunks(status, vec![body.into()])
    }

    /// A 200 response with a JSON body.
    pub fn json(body: serde_json::Value) -> Self {
        Scripted::status(200, body.to_string())
    }

    /// A response whose body arrives in the given chunks.
    pub fn chunks(status: u16, chunks: Vec<Bytes>) -> Self {
        Scripted::Response {
            status: StatusCode::from_u16(status).expect("valid status"),
            headers: HeaderMap::new(),
            chunks,
            break_after: false,
        }
    }
}

/// Records every request and answers from a script, in order.
#[derive(Debug, Default)]
pub struct TestTransport {
    script: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl TestTransport {
    /// A transport that will answer with `script`, one entry per request.
    pub fn new(script: impl IntoIterator<Item = Scripted>) -> Self {
        TestTransport {
            script: Mutex::new(script.into_iter().collect()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Every request sent so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// The only request sent; panics when there were none or several.
    pub fn only_request(&self) -> RecordedRequest {
        let reqs = self.requests();
        assert_eq!(reqs.len(), 1, "expected exactly one request, got {reqs:#?}");
        reqs.into_iter().next().expect("one request")
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl HttpTransport for TestTransport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let (parts, body) = request.into_parts();
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::Bytes(b) => b,
            Body::Stream { mut stream, .. } => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| TransportError::new(TransportErrorKind::Request, e))?;
                    buf.extend_from_slice(&chunk);
                }
                buf.freeze()
            }
        };
        self.requests.lock().expect("lock").push(RecordedRequest {
            method: parts.method,
            uri: parts.uri.to_string(),
            headers: parts.headers,
            body,
        });
        let next = self.script.lock().expect("lock").pop_front();
        match next.expect("the test script ran out of responses") {
            Scripted::Fail(kind) => Err(TransportError::new(kind, "scripted failure")),
            Scripted::Response {
                status,
                headers,
                chunks,
                break_after,
            } => {
                let mut items: Vec<Result<Bytes, TransportError>> =
                    chunks.into_iter().map(Ok).collect();
                if break_after {
                    items.push(Err(TransportError::new(
                        TransportErrorKind::Io,
                        "connection reset",
                    )));
                }
                let mut res =
                    http::Response::new(ResponseBody::new(futures_util::stream::iter(items)));
                *res.status_mut() = status;
                *res.headers_mut() = headers;
                Ok(res)
            }
        }
    }
}
