//! Converting the core's request [`Body`] into each HTTP stack's body type.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};
use slicer_core::Body;
use tokio::sync::oneshot;

use crate::timeouts::WatchedUpload;

/// A stack-specific body plus, for streamed uploads, the signal that the
/// upload has ended.
pub(crate) type Converted<B> = (B, Option<oneshot::Receiver<()>>);

/// Sets `Content-Length` for a streamed body of known length; without it the
/// stack sends the stream chunked.
fn declare_length(headers: &mut HeaderMap, length: Option<u64>) {
    if let Some(len) = length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// A reqwest body that streams `Body::Stream` chunk by chunk.
pub(crate) fn to_reqwest(body: Body, headers: &mut HeaderMap) -> Converted<reqwest::Body> {
    match body {
        Body::Empty => (reqwest::Body::from(Bytes::new()), None),
        Body::Bytes(bytes) => (reqwest::Body::from(bytes), None),
        Body::Stream { stream, length } => {
            declare_length(headers, length);
            let (upload, done) = WatchedUpload::new(stream);
            (reqwest::Body::wrap_stream(upload), Some(done))
        }
    }
}

/// The body type the UNIX-socket transport hands to hyper.
#[cfg(unix)]
pub(crate) type HyperBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, slicer_core::BoxError>;

/// A hyper body that streams `Body::Stream` chunk by chunk.
#[cfg(unix)]
pub(crate) fn to_hyper(body: Body, headers: &mut HeaderMap) -> Converted<HyperBody> {
    use futures_util::TryStreamExt as _;
    use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
    use hyper::body::Frame;

    match body {
        Body::Empty => (Empty::new().map_err(|e| match e {}).boxed_unsync(), None),
        Body::Bytes(bytes) => (
            Full::new(bytes).map_err(|e| match e {}).boxed_unsync(),
            None,
        ),
        Body::Stream { stream, length } => {
            declare_length(headers, length);
            let (upload, done) = WatchedUpload::new(stream);
            let frames = upload
                .map_ok(Frame::data)
                .map_err(slicer_core::BoxError::from);
            (StreamBody::new(frames).boxed_unsync(), Some(done))
        }
    }
}
