//! Guest routes: exec, background exec, file copy and the filesystem
//! endpoints. Each finds its VM through [`AppState::guest_vm`]: 404 for an
//! unknown VM, 409 when it is paused, stopped or suspended, and a wait for
//! the agent while it boots.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use slicer_core::background::{
    BackgroundExecInfo, KillBody, KillResponse, ReapResponse, WaitExitResponse,
};
use slicer_core::fs::{FsEntry, MkdirRequest};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::guest::exec::{buffered, prepare_blocking, stream_response, ExecParams, FrameStyle};
use crate::guest::stream::discard;
use crate::guest::{background, copy, fs};
use crate::state::AppState;

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("the file operation failed", e))?
}

/// `POST /vm/{h}/exec`: streamed, buffered or background.
pub(super) async fn exec(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
    body: Body,
) -> Result<Response, ApiError> {
    let legacy = state.agent.legacy;
    let checked = match state.guest_vm(&hostname).await {
        Ok(vm) => ExecParams::parse(&query, legacy).map(|params| (vm, params)),
        Err(err) => Err(err),
    };
    let (vm, params) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            discard(body);
            return Err(err);
        }
    };
    let sandbox = state.agent.sandbox.clone();
    if params.background {
        discard(body);
        return background::launch(vm, sandbox, params)
            .await
            .map(IntoResponse::into_response);
    }
    let stdin = if params.stdin {
        Some(body)
    } else {
        discard(body);
        None
    };
    let prepared = match prepare_blocking(vm.clone(), params.clone()).await {
        Ok(prepared) => prepared,
        Err(err) => {
            if let Some(body) = stdin {
                discard(body);
            }
            return Err(err);
        }
    };
    if params.buffered {
        let base64 = params.base64 && !legacy;
        return Ok(buffered(vm, sandbox, prepared, base64, stdin)
            .await
            .into_response());
    }
    let style = FrameStyle::new(legacy, params.base64);
    Ok(stream_response(vm, sandbox, prepared, style, stdin))
}

/// `GET /vm/{h}/exec`.
pub(super) async fn exec_list(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<Vec<BackgroundExecInfo>>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    Ok(Json(vm.background.list(&vm)))
}

/// `GET /vm/{h}/exec/{id}`.
pub(super) async fn exec_info(
    State(state): State<Arc<AppState>>,
    PathParams((hostname, id)): PathParams<(String, String)>,
) -> Result<Json<BackgroundExecInfo>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    Ok(Json(vm.background.get(&vm, &id)?.info()))
}

/// `DELETE /vm/{h}/exec/{id}`.
pub(super) async fn exec_reap(
    State(state): State<Arc<AppState>>,
    PathParams((hostname, id)): PathParams<(String, String)>,
) -> Result<Json<ReapResponse>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    vm.background.reap(&vm, &id).map(Json)
}

/// `GET /vm/{h}/exec/{id}/logs?follow=<bool>&from_id=<n>`.
pub(super) async fn exec_logs(
    State(state): State<Arc<AppState>>,
    PathParams((hostname, id)): PathParams<(String, String)>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    vm.background.get(&vm, &id)?.logs(&query)
}

/// `POST /vm/{h}/exec/{id}/kill` with an optional `{"signal","grace_ms"}`.
pub(super) async fn exec_kill(
    State(state): State<Arc<AppState>>,
    PathParams((hostname, id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<KillBody>,
) -> Result<Json<KillResponse>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let entry = vm.background.get(&vm, &id)?;
    entry.kill(body).await.map(Json)
}

/// `GET /vm/{h}/exec/{id}/wait-exit?timeout=<seconds>`.
pub(super) async fn exec_wait(
    State(state): State<Arc<AppState>>,
    PathParams((hostname, id)): PathParams<(String, String)>,
    query: QueryParams,
) -> Result<Json<WaitExitResponse>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let entry = vm.background.get(&vm, &id)?;
    entry.wait(&query).await.map(Json)
}

fn path_param(query: &QueryParams) -> Result<String, ApiError> {
    query
        .get("path")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("missing path: name the path in the VM"))
}

/// `GET /vm/{h}/fs/readdir?path=P`.
pub(super) async fn fs_readdir(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Vec<FsEntry>>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let path = path_param(&query)?;
    let root = vm.root();
    blocking(move || fs::readdir(&root, &path)).await.map(Json)
}

/// `GET /vm/{h}/fs/stat?path=P`.
pub(super) async fn fs_stat(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
) -> Result<Json<FsEntry>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let path = path_param(&query)?;
    let root = vm.root();
    blocking(move || fs::stat(&root, &path)).await.map(Json)
}

/// `POST /vm/{h}/fs/mkdir`.
pub(super) async fn fs_mkdir(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    JsonBody(req): JsonBody<MkdirRequest>,
) -> Result<Json<Value>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let root = vm.root();
    let path = req.path.clone();
    blocking(move || fs::mkdir(&root, &req)).await?;
    Ok(Json(json!({ "path": path })))
}

/// `DELETE /vm/{h}/fs/remove?path=P&recursive=B`.
pub(super) async fn fs_remove(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    let path = path_param(&query)?;
    let recursive = query.bool("recursive")?.unwrap_or(false);
    let root = vm.root();
    let shown = path.clone();
    blocking(move || fs::remove(&root, &path, recursive)).await?;
    Ok(Json(json!({ "path": shown, "removed": true })))
}

/// `POST /vm/{h}/cp`: an upload.
pub(super) async fn cp_upload(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let vm = match state.guest_vm(&hostname).await {
        Ok(vm) => vm,
        Err(err) => {
            discard(body);
            return Err(err);
        }
    };
    let written = copy::upload(vm, query, headers, body, state.agent.legacy).await?;
    Ok((StatusCode::OK, written))
}

/// `GET /vm/{h}/cp`: a download.
pub(super) async fn cp_download(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vm = state.guest_vm(&hostname).await?;
    copy::download(vm, query, headers, state.agent.legacy).await
}
