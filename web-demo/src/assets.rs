//! The page (embedded in the binary), the npm package directory, and the
//! small description the page reads at start.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::handler::HandlerWithoutStateExt as _;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

use crate::DemoConfig;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");

/// Answers with `body` as `content_type`, revalidated on every load so an
/// upgraded binary is picked up at once.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub(crate) async fn styles() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// What the page is connected to; never the token.
pub(crate) async fn demo_info(State(config): State<Arc<DemoConfig>>) -> Response {
    let upstream = config.upstream();
    let body = serde_json::json!({
        "slicer": upstream.label(),
        "emulator": config.emulated,
        "auth": upstream.has_token(),
        "package": config.pkg_dir().join("package.json").is_file(),
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Files of the built npm package, with a 404 that says how to build it.
pub(crate) fn package_service(dir: &Path) -> Router {
    let shown = dir.display().to_string();
    let missing = move || async move {
        (
            StatusCode::NOT_FOUND,
            format!(
                "not found in the npm package directory {shown}; build the package with \
                 wasm/build.sh (web-demo/run-e2e.sh does it too)"
            ),
        )
    };
    let files = ServeDir::new(dir).not_found_service(missing.into_service());
    // Revalidated on every load, so a rebuilt package is picked up at once.
    Router::new().fallback_service(SetResponseHeader::overriding(
        files,
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    ))
}

pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}
