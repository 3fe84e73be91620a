//! Host groups, VM listings, create and delete.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use slicer_core::wire::format_go_duration;
use slicer_core::{CreateVmRequest, CreateVmResponse, DeleteVmResponse, HostGroup, Node, WaitFor};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::state::{stopping_error, AppState, WaitOutcome};

/// Bound of a create wait when `timeout` is absent.
const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);

/// `GET /hostgroup`.
pub(super) async fn list_groups(State(state): State<Arc<AppState>>) -> Json<Vec<HostGroup>> {
    Json(state.groups.clone())
}

/// `GET /hostgroup/{g}/nodes`.
pub(super) async fn list_group_nodes(
    State(state): State<Arc<AppState>>,
    PathParams(group): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Vec<Node>>, ApiError> {
    state.group(&group)?;
    state.list_nodes(Some(&group), &query).map(Json)
}

/// `GET /nodes`.
pub(super) async fn list_nodes(
    State(state): State<Arc<AppState>>,
    query: QueryParams,
) -> Result<Json<Vec<Node>>, ApiError> {
    state.list_nodes(None, &query).map(Json)
}

/// `POST /hostgroup/{g}/nodes?wait=agent|userdata&timeout=<Go duration>`.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    PathParams(group): PathParams<String>,
    query: QueryParams,
    JsonBody(req): JsonBody<CreateVmRequest>,
) -> Result<(StatusCode, Json<CreateVmResponse>), ApiError> {
    let wait = match query.get("wait") {
        None => None,
        Some("agent") => Some(WaitFor::Agent),
        Some("userdata") => Some(WaitFor::Userdata),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid wait {other:?}: expected agent or userdata"
            )))
        }
    };
    let timeout = query.duration("timeout")?.unwrap_or(DEFAULT_WAIT);
    let vm = state.create_vm(&group, req, false).await?;
    if let Some(wait) = wait {
        let outcome = state
            .wait_until(&vm, timeout, |s| match wait {
                WaitFor::Agent => s.agent_ready(),
                WaitFor::Userdata => s.userdata_done(),
            })
            .await;
        match outcome {
            WaitOutcome::Ready => {}
            WaitOutcome::TimedOut => {
                state.remove_vm(&vm).await;
                return Err(ApiError::timeout(format!(
                    "timed out after {} waiting for the {} of VM {:?}; the VM was deleted",
                    format_go_duration(timeout),
                    if wait == WaitFor::Agent {
                        "agent"
                    } else {
                        "userdata"
                    },
                    vm.hostname()
                )));
            }
            WaitOutcome::Removed => {
                return Err(ApiError::conflict(format!(
                    "VM {:?} was removed before it became ready",
                    vm.hostname()
                )))
            }
            WaitOutcome::Stopping => return Err(stopping_error()),
        }
    }
    Ok((StatusCode::CREATED, Json(vm.create_response())))
}

/// `DELETE /hostgroup/{g}/nodes/{h}`.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    PathParams((group, hostname)): PathParams<(String, String)>,
) -> Result<Json<DeleteVmResponse>, ApiError> {
    state.delete_vm(&group, &hostname).await?;
    Ok(Json(DeleteVmResponse {
        message: "VM deleted successfully".to_owned(),
        disk_removed: true,
        error: String::new(),
    }))
}
