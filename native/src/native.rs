//! [`Transport`]: the native transports as one type.

use slicer_core::{Body, HttpTransport, ResponseBody, TransportError};

use crate::ReqwestTransport;
#[cfg(unix)]
use crate::UnixSocketTransport;

/// The base URL a client uses over a UNIX socket. The daemon ignores the
/// `Host` header; `unix` only makes request URIs absolute.
pub const UNIX_BASE_URL: &str = "http://unix";

/// Either native transport, so [`Client`](crate::Client) is one concrete
/// type whether it talks TCP, TLS or a UNIX socket.
///
/// [`ClientBuilder`](crate::ClientBuilder) picks the variant from the base
/// URL. Cheap to clone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transport {
    /// `http://` or `https://` through reqwest.
    Http(ReqwestTransport),
    /// HTTP/1.1 over a UNIX socket.
    #[cfg(unix)]
    UnixSocket(UnixSocketTransport),
}

impl From<ReqwestTransport> for Transport {
    fn from(t: ReqwestTransport) -> Self {
        Transport::Http(t)
    }
}

impl From<reqwest::Client> for Transport {
    fn from(client: reqwest::Client) -> Self {
        Transport::Http(client.into())
    }
}

#[cfg(unix)]
impl From<UnixSocketTransport> for Transport {
    fn from(t: UnixSocketTransport) -> Self {
        Transport::UnixSocket(t)
    }
}

#[async_trait::async_trait]
impl HttpTransport for Transport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        match self {
            Transport::Http(t) => t.send(request).await,
            #[cfg(unix)]
            Transport::UnixSocket(t) => t.send(request).await,
        }
    }
}
