//! [`FetchTransport`]: `slicer_core::HttpTransport` over the Fetch API.
//!
//! gloo-net is not used: its request type binds the global `fetch`, and this
//! transport must also call a caller-supplied `fetch` (one bound to a UNIX
//! socket, a relay, a test double). Calling either function through js-sys
//! keeps one code path for both; nothing here touches `window`, so it runs in
//! pages, web workers, Node, Deno and workerd alike.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use slicer_core::http::{self, HeaderName, HeaderValue};
use slicer_core::{Body, HttpTransport, ResponseBody, TransportError, TransportErrorKind};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, ReadableStreamDefaultReader, RequestInit, Response};

use crate::js;

/// Which way a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Request body bytes handed to `fetch`.
    Upload,
    /// Response body bytes read from the stream.
    Download,
}

/// Receives `(direction, bytes done, total when known)`.
pub type ProgressFn = Rc<dyn Fn(Direction, f64, Option<f64>)>;

/// An [`HttpTransport`] over `fetch`.
///
/// - Response bodies are read from the `ReadableStream` chunk by chunk, so
///   exec output arrives as it is produced.
/// - Each request has its own `AbortController`; dropping the future or the
///   body stream aborts the fetch (and cancels the reader, for a custom
///   `fetch` that ignores the signal).
/// - A [`Body::Stream`] is collected into memory and sent with a known
///   length: browsers cannot stream request bodies universally, and never
///   while reading the response (no full duplex).
/// - There is no client-side timeout at all, so
///   [`LongRunning`](slicer_core::LongRunning) requests (long polls, waits)
///   need no special case.
#[derive(Clone, Default)]
pub struct FetchTransport {
    fetch: Option<Function>,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for FetchTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchTransport")
            .field("custom_fetch", &self.fetch.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl FetchTransport {
    /// A transport over the global `fetch`.
    pub fn new() -> Self {
        FetchTransport::default()
    }

    /// A transport calling `fetch(url, init)` instead of the global one.
    pub fn with_fetch(fetch: Function) -> Self {
        FetchTransport {
            fetch: Some(fetch),
            progress: None,
        }
    }

    /// The same transport, reporting body progress of successful requests
    /// to `progress`.
    pub fn with_progress(&self, progress: ProgressFn) -> Self {
        FetchTransport {
            fetch: self.fetch.clone(),
            progress: Some(progress),
        }
    }

    fn call_fetch(&self, url: &str, init: &RequestInit) -> Result<Promise, TransportError> {
        let url = JsValue::from_str(url);
        let result = match &self.fetch {
            Some(f) => f.call2(&JsValue::UNDEFINED, &url, init),
            None => {
                let global = js_sys::global();
                let f = Reflect::get(&global, &"fetch".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
                    .ok_or_else(|| {
                        request_error("this runtime has no global fetch; pass a fetch function")
                    })?;
                // Some runtimes require `this` to be the global object.
                f.call2(&global, &url, init)
            }
        };
        let value = result.map_err(js_failure)?;
        Ok(Promise::resolve(&value))
    }
}

/// Aborts the request when dropped: a dropped future or body stream must
/// not leave the fetch running.
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reader of a response body, cancelled when dropped before its end.
struct BodyReader {
    reader: ReadableStreamDefaultReader,
    done: bool,
    read: f64,
    total: Option<f64>,
    progress: Option<ProgressFn>,
    // Dropped after `drop` has cancelled the reader: then the fetch is aborted.
    _abort: AbortOnDrop,
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        if !self.done {
            js::cancel_quietly(&self.reader);
        }
    }
}

impl BodyReader {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, TransportError>> {
        if self.done {
            return None;
        }
        let result = match JsFuture::from(self.reader.read()).await {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Some(Err(js_failure_kind(e, TransportErrorKind::Io)));
            }
        };
        let done = Reflect::get(&result, &"done".into())
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if done {
            self.done = true;
            return None;
        }
        let value = Reflect::get(&result, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        let Some(chunk) = value.dyn_ref::<Uint8Array>() else {
            self.done = true;
            return Some(Err(TransportError::new(
                TransportErrorKind::Io,
                "the response stream yielded something other than bytes",
            )));
        };
        let bytes = Bytes::from(chunk.to_vec());
        self.read += bytes.len() as f64;
        if let Some(p) = &self.progress {
            p(Direction::Download, self.read, self.total);
        }
        Some(Ok(bytes))
    }
}

#[async_trait::async_trait(?Send)]
impl HttpTransport for FetchTransport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let (parts, body) = request.into_parts();
        let body = collect_body(body).await?;

        let controller = AbortController::new().map_err(js_failure)?;
        let abort = AbortOnDrop(controller.clone());
        let init = RequestInit::new();
        init.set_method(parts.method.as_str());
        init.set_headers(&request_headers(&parts.headers)?.into());
        init.set_signal(Some(&controller.signal()));
        let length = body.as_ref().map_or(0.0, |b| b.len() as f64);
        if let Some(bytes) = &body {
            init.set_body(&Uint8Array::from(&bytes[..]).into());
        }
        let has_body = body.is_some();
        let progress = self.progress.clone().filter(|_| has_body);
        if let Some(p) = &progress {
            p(Direction::Upload, 0.0, Some(length));
        }

        let promise = self.call_fetch(&parts.uri.to_string(), &init)?;
        let response: Response = JsFuture::from(promise)
            .await
            .map_err(|e| js_failure_kind(e, TransportErrorKind::Connect))?
            .dyn_into()
            .map_err(|_| request_error("fetch resolved to something other than a Response"))?;
        if let Some(p) = &progress {
            // fetch cannot report upload progress: the body has been handed
            // over once the response head is here.
            p(Direction::Upload, length, Some(length));
        }

        let mut builder = http::Response::builder().status(response.status());
        let headers = response_headers(&response.headers());
        let total = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            // A Content-Length is digits only; parsing an integer keeps the
            // float parser out of the module.
            .and_then(|v| v.parse::<u64>().ok())
            .map(|n| n as f64);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        // A request that carried a body reports its upload; only body-less
        // requests (downloads) report the bytes of their answer.
        let report_download = (200..300).contains(&response.status()) && !has_body;
        let body = match response.body() {
            None => ResponseBody::empty(),
            Some(stream) => {
                let reader: ReadableStreamDefaultReader = stream
                    .get_reader()
                    .dyn_into()
                    .map_err(|_| request_error("the response body has no default reader"))?;
                let state = BodyReader {
                    reader,
                    done: false,
                    read: 0.0,
                    total,
                    progress: self.progress.clone().filter(|_| report_download),
                    _abort: abort,
                };
                ResponseBody::new(futures_util::stream::unfold(state, |mut s| async move {
                    s.next_chunk().await.map(|chunk| (chunk, s))
                }))
            }
        };
        builder
            .body(body)
            .map_err(|e| TransportError::new(TransportErrorKind::Other, e))
    }
}

/// Collects a request body; a stream is read whole (see [`FetchTransport`]).
async fn collect_body(body: Body) -> Result<Option<Bytes>, TransportError> {
    match body {
        Body::Empty => Ok(None),
        Body::Bytes(b) => Ok(Some(b)),
        Body::Stream { mut stream, length } => {
            let mut buf = BytesMut::with_capacity(length.unwrap_or(0).min(1 << 26) as usize);
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| TransportError::new(TransportErrorKind::Request, e))?;
                buf.extend_from_slice(&chunk);
            }
            Ok(Some(buf.freeze()))
        }
    }
}

fn request_headers(headers: &http::HeaderMap) -> Result<Headers, TransportError> {
    let out = Headers::new().map_err(js_failure)?;
    for (name, value) in headers {
        let value = value
            .to_str()
            .map_err(|_| request_error(format!("header {name} is not valid text for fetch")))?;
        out.append(name.as_str(), value).map_err(js_failure)?;
    }
    Ok(out)
}

/// The response headers the client reads. Only these are copied: looking
/// each up by a static name keeps the `http` crate's header-name parser (and
/// its table of standard names) out of the module.
const READ_HEADERS: [HeaderName; 6] = [
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_TYPE,
    HeaderName::from_static("x-slicer-file-mode"),
    HeaderName::from_static("x-slicer-source-type"),
    HeaderName::from_static("x-slicer-source-name-base64"),
    HeaderName::from_static("x-slicer-source-name"),
];

fn response_headers(headers: &Headers) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for name in READ_HEADERS {
        if let Some(value) = headers.get(name.as_str()).ok().flatten() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                out.insert(name, v);
            }
        }
    }
    out
}

fn request_error(message: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Request, message.into())
}

fn js_failure(err: JsValue) -> TransportError {
    js_failure_kind(err, TransportErrorKind::Other)
}

/// Describes a thrown JavaScript value; an `AbortError` becomes
/// [`TransportErrorKind::Aborted`] whatever `kind` says.
fn js_failure_kind(err: JsValue, kind: TransportErrorKind) -> TransportError {
    let name = Reflect::get(&err, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    let message = Reflect::get(&err, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "unknown JavaScript error".into());
    // Node's fetch hides the socket error in `cause`.
    let cause = Reflect::get(&err, &"cause".into())
        .ok()
        .filter(|c| !c.is_undefined() && !c.is_null())
        .and_then(|c| Reflect::get(&c, &"message".into()).ok())
        .and_then(|m| m.as_string());
    let text = match cause {
        Some(c) if !c.is_empty() && c != message => format!("{message} ({c})"),
        _ => message,
    };
    let kind = if name == "AbortError" {
        TransportErrorKind::Aborted
    } else {
        kind
    };
    TransportError::new(kind, text)
}
