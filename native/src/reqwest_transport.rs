//! [`ReqwestTransport`]: HTTP and HTTPS over a shared `reqwest::Client`.

use std::time::Duration;

use futures_util::StreamExt as _;
use slicer_core::{Body, HttpTransport, ResponseBody, TransportError, TransportErrorKind};

use crate::timeouts::{head_limit, wait_for_head, Timeouts};
use crate::{body, errors};

/// An [`HttpTransport`] for `http://` and `https://` base URLs, built on
/// `reqwest` with rustls.
///
/// Cheap to clone: clones share one `reqwest::Client` and so one connection
/// pool. Non-2xx statuses are returned as ordinary responses, response bodies
/// stream as they arrive, and streamed request bodies are sent as they are
/// produced, never buffered whole.
///
/// ```no_run
/// use slicer::{ClientConfig, ReqwestTransport, SlicerClient};
///
/// # fn main() -> slicer::Result<()> {
/// let http = reqwest::Client::builder().https_only(true).build().expect("TLS setup");
/// let transport = ReqwestTransport::from(http);
/// let client = SlicerClient::new(transport, ClientConfig::new("https://slicer.example.com"))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    request_timeout: Option<Duration>,
}

impl ReqwestTransport {
    /// A transport with its own `reqwest::Client`, using `timeouts`.
    ///
    /// The client uses rustls with the bundled web PKI roots and honours the
    /// usual proxy variables (`HTTPS_PROXY`, `NO_PROXY`, ...).
    ///
    /// # Errors
    /// A [`TransportError`] of kind [`Other`](TransportErrorKind::Other) when
    /// the TLS backend cannot be initialised.
    pub fn new(timeouts: Timeouts) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(timeouts.connect)
            .build()
            .map_err(|e| {
                let cause = errors::describe_reqwest(e);
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("cannot set up the HTTP client: {cause}"),
                )
            })?;
        Ok(ReqwestTransport {
            client,
            request_timeout: timeouts.request,
        })
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

    /// The underlying `reqwest::Client`.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Wraps a caller-configured client. Its own settings (connect timeout, TLS,
/// proxies) apply; the response-head limit is [`Timeouts::DEFAULT_REQUEST`]
/// until [`with_request_timeout`](ReqwestTransport::with_request_timeout)
/// changes it.
impl From<reqwest::Client> for ReqwestTransport {
    fn from(client: reqwest::Client) -> Self {
        ReqwestTransport {
            client,
            request_timeout: Timeouts::default().request,
        }
    }
}

#[async_trait::async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let limit = head_limit(&request, self.request_timeout);
        let (mut parts, body) = request.into_parts();
        let (body, upload_done) = body::to_reqwest(body, &mut parts.headers);
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(errors::from_reqwest)?;

        let head = async {
            self.client
                .execute(request)
                .await
                .map_err(errors::from_reqwest)
        };
        let mut response = wait_for_head(head, limit, upload_done).await?;

        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        let chunks = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(errors::from_reqwest));

        let mut out = http::Response::new(ResponseBody::new(chunks));
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
