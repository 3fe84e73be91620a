//! [`UnixSocketTransport`]: HTTP/1.1 over a UNIX socket.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use slicer_core::{Body, HttpTransport, ResponseBody, TransportError};
use tokio::net::UnixStream;

use crate::body::{self, HyperBody};
use crate::errors::{self, SocketConnectError};
use crate::timeouts::{head_limit, wait_for_head, Timeouts};

/// An [`HttpTransport`] that speaks HTTP/1.1 to a daemon's UNIX socket.
///
/// Requests must use absolute URIs with the host `unix`
/// ([`UNIX_BASE_URL`](crate::UNIX_BASE_URL)); the socket path decides where they go. Idle
/// connections are kept and reused, and clones share them.
///
/// The path is used as given: a relative path is resolved against the
/// process's working directory when connecting, and `~/` is not expanded
/// here ([`ClientBuilder`](crate::ClientBuilder) does that).
///
/// ```no_run
/// use slicer::{ClientConfig, SlicerClient, Timeouts, UnixSocketTransport, UNIX_BASE_URL};
///
/// # fn main() -> slicer::Result<()> {
/// let transport = UnixSocketTransport::new("/var/run/slicer/api.sock", Timeouts::default());
/// let client = SlicerClient::new(transport, ClientConfig::new(UNIX_BASE_URL))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UnixSocketTransport {
    path: Arc<PathBuf>,
    // Boxed behind an Arc: the pooled client is large and `Transport` holds
    // this by value.
    client: Arc<PooledClient<SocketConnector, HyperBody>>,
    request_timeout: Option<Duration>,
}

impl UnixSocketTransport {
    /// A transport for the socket at `path`, using `timeouts`.
    ///
    /// Nothing is opened until the first request, so a missing socket is
    /// reported then, as a [`Connect`](slicer_core::TransportErrorKind::Connect)
    /// error naming the path.
    pub fn new(path: impl Into<PathBuf>, timeouts: Timeouts) -> Self {
        let path = Arc::new(path.into());
        let connector = SocketConnector {
            path: Arc::clone(&path),
            connect_timeout: timeouts.connect,
        };
        let client = PooledClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let client = Arc::new(client);
        UnixSocketTransport {
            path,
            client,
            request_timeout: timeouts.request,
        }
    }

    /// Replaces the default response-head limit (see [`Timeouts::request`]).
    pub fn with_request_timeout(mut self, limit: Option<Duration>) -> Self {
        self.request_timeout = limit;
        self
    }

    /// The default response-head limit.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for UnixSocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixSocketTransport")
            .field("path", &self.path)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpTransport for UnixSocketTransport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let limit = head_limit(&request, self.request_timeout);
        let (mut parts, body) = request.into_parts();
        let (body, upload_done) = body::to_hyper(body, &mut parts.headers);
        let request = http::Request::from_parts(parts, body);

        let head = async {
            self.client
                .request(request)
                .await
                .map_err(|e| errors::from_error(&e))
        };
        let response = wait_for_head(head, limit, upload_done).await?;

        let (parts, incoming) = response.into_parts();
        let chunks = incoming
            .into_data_stream()
            .map(|chunk| chunk.map_err(|e| errors::from_error(&e)));
        Ok(http::Response::from_parts(parts, ResponseBody::new(chunks)))
    }
}

/// Opens a connection to the one socket, whatever the request URI says.
#[derive(Clone)]
struct SocketConnector {
    path: Arc<PathBuf>,
    connect_timeout: Duration,
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<UnixStream>, SocketConnectError>> + Send>>;

impl tower_service::Service<http::Uri> for SocketConnector {
    type Response = TokioIo<UnixStream>;
    type Error = SocketConnectError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let path = Arc::clone(&self.path);
        let limit = self.connect_timeout;
        Box::pin(async move {
            let source = match tokio::time::timeout(limit, UnixStream::connect(&*path)).await {
                Ok(Ok(stream)) => return Ok(TokioIo::new(stream)),
                Ok(Err(e)) => e,
                Err(_) => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {limit:?}"),
                ),
            };
            tracing::debug!(path = %path.display(), error = %source, "socket connect failed");
            Err(SocketConnectError {
                path: path.to_path_buf(),
                source,
            })
        })
    }
}
