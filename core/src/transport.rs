//! The seam between the client and an HTTP stack.
//!
//! A backend implements [`HttpTransport`]: one async `send` from an
//! [`http::Request`] to an [`http::Response`] whose body is a stream of
//! [`Bytes`]. Everything above it (URLs, auth, JSON, error mapping, stream
//! decoding) lives in this crate and is shared by every backend.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;

use crate::error::TransportError;

/// `Send` on native targets, nothing on wasm32, where futures hold JS values
/// and are never `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on native targets, nothing on wasm32, where futures hold JS values
/// and are never `Send`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets, nothing on wasm32.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// `Sync` on native targets, nothing on wasm32.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed stream that is `Send` exactly where [`MaybeSend`] requires it.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;
/// A boxed stream that is `Send` exactly where [`MaybeSend`] requires it.
#[cfg(target_arch = "wasm32")]
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + 'static>>;

/// A request body: nothing, a buffer, or a stream that is never held whole.
#[derive(Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A complete buffer.
    Bytes(Bytes),
    /// Chunks produced as the transport sends them, with the total length
    /// when known (sent as `Content-Length`, otherwise chunked).
    Stream {
        /// The chunks.
        stream: BoxStream<Result<Bytes, std::io::Error>>,
        /// Total length, if known in advance.
        length: Option<u64>,
    },
}

impl Body {
    /// A streamed body of unknown length.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + MaybeSend + 'static,
    {
        Body::Stream {
            stream: Box::pin(stream),
            length: None,
        }
    }

    /// The body's length when it is known without reading it.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Stream { length, .. } => *length,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Stream { length, .. } => write!(f, "Body::Stream(length: {length:?})"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Bytes(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Bytes(b.into())
    }
}

/// A response body: the chunks as the transport receives them.
pub struct ResponseBody {
    inner: BoxStream<Result<Bytes, TransportError>>,
}

impl ResponseBody {
    /// Wraps a stream of chunks.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, TransportError>> + MaybeSend + 'static,
    {
        ResponseBody {
            inner: Box::pin(stream),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        ResponseBody::new(futures_util::stream::empty())
    }

    /// A body of one complete buffer.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody::new(futures_util::stream::once(async move { Ok(bytes) }))
    }

    /// Reads the whole body into one buffer.
    ///
    /// # Errors
    /// Fails when the transport fails mid-body.
    pub async fn collect(mut self) -> Result<Bytes, TransportError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.inner.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseBody")
    }
}

/// Sends one HTTP request and returns the response head with a streaming body.
///
/// Implementations return non-2xx statuses as ordinary responses: the client
/// decides what a 404 or 409 means. They return [`TransportError`] only when no
/// response arrived. Dropping the returned future cancels the request.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait HttpTransport: MaybeSend + MaybeSync + 'static {
    /// Sends `request` and resolves once the response head has arrived.
    ///
    /// # Errors
    /// A [`TransportError`] when the request could not be sent or no response
    /// head was received.
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError>;
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl<T: HttpTransport + ?Sized> HttpTransport for std::sync::Arc<T> {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        (**self).send(request).await
    }
}

/// Request extension marking a call whose response head may legitimately
/// take long: long-polls (`wait-exit`), buffered exec, create or restore with
/// a wait. Transports must not apply their default request timeout to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LongRunning;
