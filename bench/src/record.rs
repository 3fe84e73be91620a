//! A transport that remembers the last request it sent, so curl can replay
//! exactly what the client asked (method, path, query and headers) and the
//! emulator's endpoints are exercised the same way by both.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use slicer::{Body, ClientConfig, HttpTransport, ResponseBody, SlicerClient, TransportError};

use crate::{BenchError, BenchResult, Context};

/// The head of a request as the client built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The full URL, query included.
    pub uri: String,
    /// Headers the client set (the HTTP stack adds framing headers itself).
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// curl arguments sending the same request: method, headers, URL.
    /// `Expect:` is cleared so a large upload does not wait for
    /// `100 Continue`, which the client never asks for either.
    pub fn curl_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-X".into(), self.method.clone().into()];
        for (name, value) in &self.headers {
            args.push("-H".into());
            args.push(format!("{name}: {value}").into());
        }
        args.push("-H".into());
        args.push("Expect:".into());
        args.push(self.uri.clone().into());
        args
    }

    /// The curl arguments as one line for notes, with the address (which
    /// changes every run) shown as `ADDR`.
    pub fn shown(&self) -> String {
        self.curl_args()
            .iter()
            .map(|arg| {
                let text = arg.to_string_lossy();
                let text = match text.strip_prefix("http://") {
                    Some(rest) => {
                        let path = rest.find('/').map_or("", |i| &rest[i..]);
                        format!("http://ADDR{path}")
                    }
                    None => text.into_owned(),
                };
                if text.contains([' ', '&', '?']) {
                    format!("'{text}'")
                } else {
                    text
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Wraps a transport and keeps the head of the last request sent.
#[derive(Debug, Clone)]
pub struct Recording<T> {
    inner: T,
    last: Arc<Mutex<Option<RecordedRequest>>>,
}

impl<T> Recording<T> {
    /// Records what goes through `inner`.
    pub fn new(inner: T) -> Self {
        Recording {
            inner,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// The last request sent.
    ///
    /// # Errors
    ///
    /// Nothing was sent yet.
    pub fn last(&self) -> BenchResult<RecordedRequest> {
        self.last
            .lock()
            .expect("not poisoned")
            .clone()
            .ok_or_else(|| BenchError::new("the client sent no request"))
    }
}

#[async_trait::async_trait]
impl<T: HttpTransport> HttpTransport for Recording<T> {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let recorded = RecordedRequest {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        *self.last.lock().expect("not poisoned") = Some(recorded);
        self.inner.send(request).await
    }
}

/// A native client for `url` whose requests are recorded: the same
/// transport and defaults as `slicer::connect`, wrapped.
///
/// # Errors
///
/// The URL is not an `http://` URL.
pub fn recording_client(url: &str) -> BenchResult<SlicerClient<Recording<slicer::Transport>>> {
    let plain = slicer::connect(url, None).context(|| format!("client for {url}"))?;
    let transport = Recording::new(plain.transport().clone());
    SlicerClient::new(transport, ClientConfig::new(url)).context(|| format!("client for {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_replays_method_headers_and_url() {
        let request = RecordedRequest {
            method: "POST".into(),
            uri: "http://127.0.0.1:1/vm/a/cp?path=%2Fx&mode=cp-v1-binary".into(),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
        };
        let args: Vec<String> = request
            .curl_args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "-X",
                "POST",
                "-H",
                "content-type: application/octet-stream",
                "-H",
                "Expect:",
                "http://127.0.0.1:1/vm/a/cp?path=%2Fx&mode=cp-v1-binary"
            ]
        );
        assert_eq!(
            request.shown(),
            "-X POST -H 'content-type: application/octet-stream' -H Expect: \
             'http://ADDR/vm/a/cp?path=%2Fx&mode=cp-v1-binary'"
        );
    }
}
