//! How long the native transports wait, and the per-request override.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use slicer_core::{BoxStream, LongRunning, TransportError, TransportErrorKind};
use tokio::sync::oneshot;

use crate::errors::UploadError;

/// Time limits applied by [`ReqwestTransport`](crate::ReqwestTransport) and
/// [`UnixSocketTransport`](crate::UnixSocketTransport).
///
/// `request` bounds the wait for the response *head* only. Once the status
/// and headers have arrived, reading the body is never timed out, so exec
/// output, log follows and copy downloads can run for as long as they need.
/// A streamed upload is not timed out either: the clock starts once its last
/// chunk has been handed to the connection.
///
/// ```
/// use std::time::Duration;
/// use slicer::Timeouts;
///
/// let t = Timeouts::default().with_request(Some(Duration::from_secs(10)));
/// assert_eq!(t.connect, Timeouts::DEFAULT_CONNECT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait to open a connection: TCP and TLS, or the UNIX socket.
    pub connect: Duration,
    /// Longest wait for the response head once the request has been sent;
    /// `None` waits for ever. It does not apply to requests the client marks
    /// [`LongRunning`] (long-polls, buffered exec, create with a wait), and a
    /// [`RequestTimeout`] in a request's extensions replaces it for that
    /// request.
    pub request: Option<Duration>,
}

impl Timeouts {
    /// The default connect limit: 10 seconds.
    pub const DEFAULT_CONNECT: Duration = Duration::from_secs(10);
    /// The default response-head limit: 60 seconds.
    pub const DEFAULT_REQUEST: Duration = Duration::from_secs(60);

    /// Limits with the given connect and response-head values.
    pub fn new(connect: Duration, request: Option<Duration>) -> Self {
        Timeouts { connect, request }
    }

    /// Replaces the connect limit.
    pub fn with_connect(mut self, connect: Duration) -> Self {
        self.connect = connect;
        self
    }

    /// Replaces the response-head limit; `None` turns it off.
    pub fn with_request(mut self, request: Option<Duration>) -> Self {
        self.request = request;
        self
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::new(Self::DEFAULT_CONNECT, Some(Self::DEFAULT_REQUEST))
    }
}

/// A per-request replacement for [`Timeouts::request`], read from
/// [`http::Request::extensions`]; it takes precedence over [`LongRunning`].
///
/// `RequestTimeout(None)` lets one call wait for its response head without a
/// limit; `RequestTimeout(Some(d))` sets a different limit for that call.
/// It is for requests handed to a transport directly; the client's own calls
/// carry [`LongRunning`] where they need it.
///
/// ```
/// use slicer::{http, Body, RequestTimeout};
///
/// let mut request = http::Request::new(Body::Empty);
/// request.extensions_mut().insert(RequestTimeout::NONE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestTimeout(pub Option<Duration>);

impl RequestTimeout {
    /// No limit on the wait for the response head.
    pub const NONE: RequestTimeout = RequestTimeout(None);
}

/// The head limit for `request`: its [`RequestTimeout`] if it carries one,
/// none if the core marked it [`LongRunning`], else the transport's default.
pub(crate) fn head_limit<B>(
    request: &http::Request<B>,
    default: Option<Duration>,
) -> Option<Duration> {
    let extensions = request.extensions();
    if let Some(RequestTimeout(limit)) = extensions.get::<RequestTimeout>() {
        return *limit;
    }
    if extensions.get::<LongRunning>().is_some() {
        return None;
    }
    default
}

/// Waits for `head` for at most `limit`, starting the clock only after
/// `upload_done` resolves (or its sender is dropped), so a slow streamed
/// upload is never mistaken for a silent server.
pub(crate) async fn wait_for_head<F, T>(
    head: F,
    limit: Option<Duration>,
    upload_done: Option<oneshot::Receiver<()>>,
) -> Result<T, TransportError>
where
    F: Future<Output = Result<T, TransportError>>,
{
    let Some(limit) = limit else {
        return head.await;
    };
    let deadline = async {
        if let Some(done) = upload_done {
            // An error means the connection dropped the body early: the
            // upload is over either way.
            let _ = done.await;
        }
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        biased;
        res = head => res,
        () = deadline => Err(TransportError::new(
            TransportErrorKind::Timeout,
            format!("no response head within {limit:?}"),
        )),
    }
}

/// A streamed request body that reports when it has ended and marks the
/// caller's read errors so they map to [`TransportErrorKind::Request`].
pub(crate) struct WatchedUpload {
    inner: BoxStream<Result<Bytes, io::Error>>,
    done: Option<oneshot::Sender<()>>,
}

impl WatchedUpload {
    /// Wraps `inner`; the receiver resolves when the stream ends or fails,
    /// and errors when the stream is dropped before that.
    pub(crate) fn new(inner: BoxStream<Result<Bytes, io::Error>>) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let upload = WatchedUpload {
            inner,
            done: Some(tx),
        };
        (upload, rx)
    }

    fn finish(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

impl Stream for WatchedUpload {
    type Item = Result<Bytes, UploadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(Some(Err(e))) => {
                self.finish();
                Poll::Ready(Some(Err(UploadError(e))))
            }
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn extension_overrides_default() {
        let mut req = http::Request::new(());
        let default = Some(Duration::from_secs(5));
        assert_eq!(head_limit(&req, default), default);
        req.extensions_mut().insert(RequestTimeout::NONE);
        assert_eq!(head_limit(&req, default), None);
        req.extensions_mut()
            .insert(RequestTimeout(Some(Duration::from_millis(7))));
        assert_eq!(head_limit(&req, None), Some(Duration::from_millis(7)));

        let mut long = http::Request::new(());
        long.extensions_mut().insert(LongRunning);
        assert_eq!(head_limit(&long, default), None);
        // An explicit limit is more specific than the marker.
        long.extensions_mut()
            .insert(RequestTimeout(Some(Duration::from_secs(1))));
        assert_eq!(head_limit(&long, default), Some(Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn watched_upload_signals_end_and_marks_errors() {
        let chunks = vec![
            Ok(Bytes::from_static(b"a")),
            Err(io::Error::other("disk gone")),
        ];
        let (mut upload, done) = WatchedUpload::new(Box::pin(futures_util::stream::iter(chunks)));
        assert_eq!(upload.next().await.unwrap().unwrap(), "a");
        let err = upload.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("disk gone"), "{err}");
        done.await.expect("the end was signalled");
    }

    #[tokio::test]
    async fn head_wait_times_out_only_with_a_limit() {
        let never = std::future::pending::<Result<(), TransportError>>;
        let err = wait_for_head(never(), Some(Duration::from_millis(1)), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Timeout);
        assert!(err.to_string().contains("1ms"), "{err}");

        let ready = async { Ok::<_, TransportError>(7) };
        assert_eq!(wait_for_head(ready, None, None).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn head_clock_waits_for_the_upload() {
        let (tx, rx) = oneshot::channel::<()>();
        let (head_tx, head_rx) = oneshot::channel::<u32>();
        let head = async { Ok::<_, TransportError>(head_rx.await.unwrap()) };
        let waiter = tokio::spawn(wait_for_head(
            head,
            Some(Duration::from_millis(1)),
            Some(rx),
        ));
        // Far longer than the limit, while the upload is still going.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "timed out during the upload");
        head_tx.send(3).unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), 3);
        drop(tx);
    }
}
