//! The HTTP surface: one router with exact paths, bearer auth on everything
//! but `/healthz` and `/metrics`, plain-text 404 and 405 for routing misses.

mod guest;
mod hostgroups;
mod lifecycle;
mod secrets;
mod server;
mod vms;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;

use crate::auth;
use crate::state::AppState;

/// Builds the application.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let open = Router::new()
        .route("/healthz", get(server::healthz))
        .route("/metrics", get(server::metrics))
        .method_not_allowed_fallback(server::method_not_allowed);

    let protected = control_plane()
        .method_not_allowed_fallback(server::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));

    let app = open
        .merge(protected)
        .fallback(server::not_found)
        .with_state(state);
    // An outer router whose only route is the app: its layers run before
    // the app routes, where an empty segment would still match `{param}`.
    Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(reject_empty_segments))
        .layer(middleware::from_fn(log_request))
}

/// Paths with an empty segment (`//nodes`, `/vm//tags`) are routing misses,
/// even though the router would bind the empty text to a parameter.
async fn reject_empty_segments(req: Request, next: Next) -> Response {
    if req.uri().path().contains("//") {
        return server::not_found().await.into_response();
    }
    next.run(req).await
}

/// The authenticated routes: the control plane, and the guest routes
/// (exec, background exec, cp, fs) built on [`AppState::guest_vm`].
fn control_plane() -> Router<Arc<AppState>> {
    Router::new()
        .route("/info", get(server::info))
        .route("/hostgroup", get(hostgroups::list_groups))
        .route(
            "/hostgroup/{group}/nodes",
            get(hostgroups::list_group_nodes).post(hostgroups::create),
        )
        .route(
            "/hostgroup/{group}/nodes/{hostname}",
            delete(hostgroups::delete),
        )
        .route("/nodes", get(hostgroups::list_nodes))
        .route("/nodes/stats", get(vms::all_stats))
        .route("/node/{hostname}/stats", get(vms::node_stats))
        .route("/vm/{hostname}", get(vms::describe))
        .route(
            "/vm/{hostname}/tags",
            get(vms::tags).patch(vms::update_tags),
        )
        .route("/vm/{hostname}/logs", get(vms::logs))
        .route("/vm/{hostname}/health", get(vms::health))
        .route("/vm/{hostname}/pause", post(lifecycle::pause))
        .route("/vm/{hostname}/resume", post(lifecycle::resume))
        .route("/vm/{hostname}/suspend", post(lifecycle::suspend))
        .route("/vm/{hostname}/restore", post(lifecycle::restore))
        .route("/vm/{hostname}/relaunch", post(lifecycle::relaunch))
        .route("/vm/{hostname}/shutdown", post(lifecycle::shutdown))
        .route(
            "/vm/{hostname}/exec",
            post(guest::exec).get(guest::exec_list),
        )
        .route(
            "/vm/{hostname}/exec/{id}",
            get(guest::exec_info).delete(guest::exec_reap),
        )
        .route("/vm/{hostname}/exec/{id}/logs", get(guest::exec_logs))
        .route("/vm/{hostname}/exec/{id}/kill", post(guest::exec_kill))
        .route("/vm/{hostname}/exec/{id}/wait-exit", get(guest::exec_wait))
        .route(
            "/vm/{hostname}/cp",
            get(guest::cp_download).post(guest::cp_upload),
        )
        .route("/vm/{hostname}/fs/readdir", get(guest::fs_readdir))
        .route("/vm/{hostname}/fs/stat", get(guest::fs_stat))
        .route("/vm/{hostname}/fs/mkdir", post(guest::fs_mkdir))
        .route("/vm/{hostname}/fs/remove", delete(guest::fs_remove))
        .route("/secrets", get(secrets::list).post(secrets::create))
        .route(
            "/secrets/{name}",
            patch(secrets::update).delete(secrets::delete),
        )
}

/// Logs each request's method, path (never the query, which may carry
/// values a user would not want in logs), status and duration.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
