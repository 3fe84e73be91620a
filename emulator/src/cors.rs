//! Optional CORS, so browser tests and local tools can call the emulator
//! directly. A real daemon sends no CORS headers; this is off by default.

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers a browser may send besides the CORS-safelisted ones.
const REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "accept",
    "x-slicer-unpacked-size",
    "last-event-id",
];

/// Response headers a page may read.
const EXPOSED_HEADERS: [&str; 3] = [
    "x-slicer-file-mode",
    "x-slicer-source-type",
    "x-slicer-source-name-base64",
];

/// Checks that `origin` is a bare `scheme://host[:port]`, the only form a
/// browser sends in `Origin`.
pub(crate) fn check_origin(origin: &str) -> Result<&str, String> {
    let bad = || format!("CORS origin {origin:?} must look like http://host:port (no path)");
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains('/') || HeaderValue::from_str(origin).is_err() {
        return Err(bad());
    }
    Ok(origin)
}

/// Wraps `app` in a CORS layer for `origins`; returns it unchanged when there
/// are none.
pub(crate) fn apply(app: Router, origins: &[String]) -> Result<Router, String> {
    if origins.is_empty() {
        return Ok(app);
    }
    let mut allowed = Vec::with_capacity(origins.len());
    for origin in origins {
        let origin = check_origin(origin)?;
        allowed.push(HeaderValue::from_str(origin).map_err(|e| e.to_string())?);
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600))
        .vary([header::ORIGIN]);
    Ok(app.layer(layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_bare() {
        assert!(check_origin("http://127.0.0.1:5173").is_ok());
        assert!(check_origin("https://example.com").is_ok());
        for bad in ["127.0.0.1:5173", "http://", "http://h/path", "ftp://h"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
