//! `/healthz`, `/metrics`, `/info` and the routing-miss answers.

use axum::http::StatusCode;
use axum::Json;
use slicer_core::ServerInfo;

use crate::validate::go_arch;

/// `GET|HEAD /healthz`: open, always `OK`.
pub(super) async fn healthz() -> &'static str {
    "OK"
}

/// `GET /metrics`: open; the emulator exports no metrics.
pub(super) async fn metrics() -> &'static str {
    ""
}

/// `GET /info`.
pub(super) async fn info() -> Json<ServerInfo> {
    Json(ServerInfo {
        version: concat!(env!("CARGO_PKG_VERSION"), "-emulator").to_owned(),
        git_commit: option_env!("SLICER_EMULATOR_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_owned(),
        platform: std::env::consts::OS.to_owned(),
        arch: go_arch(std::env::consts::ARCH),
    })
}

/// Unknown paths, including trailing and doubled slashes: Go's text.
pub(super) async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "404 page not found\n")
}

/// Known path, wrong method.
pub(super) async fn method_not_allowed() -> (StatusCode, &'static str) {
    (StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n")
}
