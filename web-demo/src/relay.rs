//! The `/api` relay: one request in, the same request to the daemon with
//! the server's token, the daemon's answer streamed back.

use std::io;
use std::sync::Arc;

use axum::body::{Body as AxumBody, HttpBody};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use slicer::{Body, HttpTransport as _, RequestTimeout};

use crate::upstream::Upstream;

/// Request headers passed to the daemon. Everything else (cookies, the
/// browser's `Authorization`, hop-by-hop headers) stays behind.
const REQUEST_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::ACCEPT,
    header::USER_AGENT,
    HeaderName::from_static("last-event-id"),
];

/// Response headers passed to the browser, besides `x-slicer-*`.
const RESPONSE_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_DISPOSITION,
    header::LAST_MODIFIED,
    header::ETAG,
];

/// Headers the Slicer protocol defines (`X-Slicer-File-Mode`,
/// `X-Slicer-Unpacked-Size`, ...), passed both ways.
fn is_slicer_header(name: &HeaderName) -> bool {
    name.as_str().starts_with("x-slicer-")
}

/// Relays one request. The request arrives with `/api` already stripped
/// from its path by the router.
pub(crate) async fn relay(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = upstream.url_for(path_and_query);
    let Ok(uri) = target.parse::<http::Uri>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "the web demo cannot relay the path {path_and_query:?}: it is not a valid URL path"
            ),
        );
    };

    let mut outgoing = http::Request::new(request_body(&parts.headers, body));
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = request_headers(&parts.headers, upstream.token());
    // Exec streams, create with `wait` and long-polls take as long as they
    // take; the browser cancels by closing its request, which drops this.
    outgoing.extensions_mut().insert(RequestTimeout::NONE);

    match upstream.transport().send(outgoing).await {
        Ok(response) => stream_back(response),
        Err(e) => {
            tracing::warn!(method = %parts.method, path = parts.uri.path(), error = %e, "relay failed");
            error(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the web demo could not reach Slicer at {}: {e}",
                    upstream.label()
                ),
            )
        }
    }
}

/// The browser's body as a stream the transport sends as it arrives, with
/// its length when the browser declared one. A body-less request stays
/// body-less, so a GET never turns into a chunked upload.
fn request_body(headers: &HeaderMap, body: AxumBody) -> Body {
    if HttpBody::is_end_stream(&body) {
        return Body::Empty;
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length == Some(0) {
        return Body::Empty;
    }
    let chunks = body.into_data_stream().map_err(io::Error::other);
    Body::Stream {
        stream: Box::pin(chunks),
        length,
    }
}

/// The allowed request headers, plus the server's token.
fn request_headers(incoming: &HeaderMap, token: Option<&str>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        if REQUEST_HEADERS.contains(name) || is_slicer_header(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(token) = token {
        if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            value.set_sensitive(true);
            out.insert(header::AUTHORIZATION, value);
        }
    }
    out
}

/// The daemon's status, allowed headers and body, the body streamed chunk
/// by chunk as it arrives.
fn stream_back(response: http::Response<slicer::ResponseBody>) -> Response {
    let (parts, body) = response.into_parts();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if RESPONSE_HEADERS.contains(name) || is_slicer_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // API answers are live data; a cached `GET /nodes` would show VMs
    // that no longer exist.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

    let chunks = body.inspect(|chunk| {
        if let Err(e) = chunk {
            tracing::warn!(error = %e, "the Slicer response broke off mid-body");
        }
    });
    let mut out = Response::new(AxumBody::from_stream(chunks));
    *out.status_mut() = parts.status;
    *out.headers_mut() = headers;
    out
}

/// A Slicer-style JSON error (`{"error": "..."}`), which the npm package
/// and the page show as a readable message.
fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_headers_go_up_and_the_token_replaces_the_browsers() {
        let mut incoming = HeaderMap::new();
        incoming.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer evil"),
        );
        incoming.insert(header::COOKIE, HeaderValue::from_static("session=1"));
        incoming.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-tar"),
        );
        incoming.insert("x-slicer-unpacked-size", HeaderValue::from_static("12"));
        incoming.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));

        let out = request_headers(&incoming, Some("tok"));
        assert_eq!(out.get(header::AUTHORIZATION).unwrap(), "Bearer tok");
        assert_eq!(out.get(header::CONTENT_TYPE).unwrap(), "application/x-tar");
        assert_eq!(out.get("x-slicer-unpacked-size").unwrap(), "12");
        assert!(out.get(header::COOKIE).is_none());
        assert!(out.get(header::CONNECTION).is_none());

        let out = request_headers(&incoming, None);
        assert!(
            out.get(header::AUTHORIZATION).is_none(),
            "no token, no header"
        );
    }

    #[test]
    fn empty_bodies_stay_empty() {
        let headers = HeaderMap::new();
        assert!(matches!(
            request_body(&headers, AxumBody::empty()),
            Body::Empty
        ));
        let mut zero = HeaderMap::new();
        zero.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let body =
            AxumBody::from_stream(futures_util::stream::empty::<Result<bytes::Bytes, io::Error>>());
        assert!(matches!(request_body(&zero, body), Body::Empty));
        let mut sized = HeaderMap::new();
        sized.insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
        match request_body(&sized, AxumBody::from("abc")) {
            Body::Stream { length, .. } => assert_eq!(length, Some(3)),
            other => panic!("expected a stream, got {other:?}"),
        }
    }
}
