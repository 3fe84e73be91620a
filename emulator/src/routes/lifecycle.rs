//! Power operations: pause, resume, suspend, restore, relaunch, shutdown
//! and reboot. Each checks and changes the VM's state in one atomic update.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use slicer_core::wire::format_go_duration;
use slicer_core::{CreateVmResponse, ShutdownAction};

use crate::agent::log_power_down;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::state::{stopping_error, AppState, WaitOutcome};
use crate::vm::{Power, VmState};

/// Bound of a restore wait when `timeout` is absent.
const DEFAULT_RESTORE_WAIT: Duration = Duration::from_secs(5 * 60);

type Ack = (StatusCode, String);

fn ack(text: String) -> Ack {
    (StatusCode::OK, text)
}

/// 409 naming the state that forbids an operation.
fn wrong_state(hostname: &str, s: &VmState, what: &str) -> ApiError {
    let status = s.power.status();
    ApiError::conflict(format!("cannot {what} VM {hostname:?}: it is {status}"))
}

/// Applies `change` to a running or paused VM in one atomic update; any
/// other state is a 409 naming the operation.
fn while_running_or_paused(
    state: &AppState,
    hostname: &str,
    what: &str,
    change: impl FnOnce(&mut VmState),
) -> Result<(), ApiError> {
    let vm = state.vm(hostname)?;
    vm.update(|s| match s.power {
        Power::Running | Power::Paused => {
            change(s);
            Ok(())
        }
        _ => Err(wrong_state(hostname, s, what)),
    })
}

/// `POST /vm/{h}/pause`; pausing a paused VM is a no-op.
pub(super) async fn pause(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Ack, ApiError> {
    while_running_or_paused(&state, &hostname, "pause", |s| s.power = Power::Paused)?;
    Ok(ack(format!("VM {hostname} paused\n")))
}

/// `POST /vm/{h}/resume`; resuming a running VM is a no-op.
pub(super) async fn resume(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Ack, ApiError> {
    while_running_or_paused(&state, &hostname, "resume", |s| s.power = Power::Running)?;
    Ok(ack(format!("VM {hostname} resumed\n")))
}

/// `POST /vm/{h}/suspend`: a running or paused VM is snapshotted and stops;
/// lists then show `Suspended`.
pub(super) async fn suspend(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Ack, ApiError> {
    while_running_or_paused(&state, &hostname, "suspend", VmState::suspend)?;
    Ok(ack(format!("VM {hostname} suspended\n")))
}

/// `POST /vm/{h}/restore?wait=agent&timeout=<Go duration>`: resumes a
/// suspended VM with its clocks continuing. On a wait timeout the answer
/// is 408 and the VM stays restored.
pub(super) async fn restore(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
) -> Result<Ack, ApiError> {
    let wait = match query.get("wait") {
        None => false,
        Some("agent") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid wait {other:?}: restore supports only wait=agent"
            )))
        }
    };
    let timeout = query.duration("timeout")?.unwrap_or(DEFAULT_RESTORE_WAIT);
    let vm = state.vm(&hostname)?;
    let generation = vm.update(|s| match s.power {
        Power::Suspended => Ok(s.restore()),
        _ => Err(wrong_state(&hostname, s, "restore")),
    })?;
    state.agent.spawn_boot(&vm, generation, false);
    if wait {
        match state.wait_until(&vm, timeout, |s| s.agent_ready()).await {
            WaitOutcome::Ready => {}
            WaitOutcome::TimedOut => {
                return Err(ApiError::timeout(format!(
                    "timed out after {} waiting for the agent of VM {hostname:?}",
                    format_go_duration(timeout)
                )))
            }
            WaitOutcome::Removed => {
                return Err(ApiError::not_found(format!("VM {hostname:?} not found")))
            }
            WaitOutcome::Stopping => return Err(stopping_error()),
        }
    }
    Ok(ack(format!("VM {hostname} restored\n")))
}

/// `POST /vm/{h}/relaunch`: boots a stopped VM from its disk.
pub(super) async fn relaunch(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<CreateVmResponse>, ApiError> {
    let vm = state.vm(&hostname)?;
    let generation = vm.update(|s| match s.power {
        Power::Stopped => Ok(s.begin_boot(true)),
        Power::Suspended => Err(ApiError::conflict(format!(
            "VM {hostname:?} is suspended; restore it instead"
        ))),
        _ => Err(ApiError::conflict(format!(
            "VM {hostname:?} is already running"
        ))),
    })?;
    state.agent.spawn_boot(&vm, generation, true);
    tracing::info!(hostname, "VM relaunched");
    Ok(Json(vm.create_response()))
}

/// The JSON body the TypeScript SDK sends instead of `?action=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ShutdownBody {
    action: Option<String>,
}

/// `POST /vm/{h}/shutdown?action=shutdown|reboot` (or `{"action":…}`;
/// the query wins; absent means reboot). After a shutdown an ephemeral VM is
/// removed and a persistent (or protected) one is `Stopped`.
pub(super) async fn shutdown(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
    JsonBody(body): JsonBody<ShutdownBody>,
) -> Result<Ack, ApiError> {
    let action = match query
        .get("action")
        .or(body.action.as_deref().filter(|a| !a.is_empty()))
    {
        None | Some("reboot") => ShutdownAction::Reboot,
        Some("shutdown") => ShutdownAction::Shutdown,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid action {other:?}: expected shutdown or reboot"
            )))
        }
    };
    let vm = state.vm(&hostname)?;
    let keep = vm.spec.persistent || vm.id.protected;
    let generation = vm.update(|s| {
        if s.power != Power::Running {
            return Err(wrong_state(&hostname, s, action.as_str()));
        }
        Ok(match action {
            ShutdownAction::Reboot => Some(s.begin_boot(true)),
            ShutdownAction::Shutdown => {
                s.halt(Power::Stopped);
                None
            }
        })
    })?;
    log_power_down(&vm, generation.is_some());
    match generation {
        Some(generation) => {
            state.agent.spawn_boot(&vm, generation, true);
            tracing::info!(hostname, "VM rebooted");
            Ok(ack(format!("VM {hostname} rebooting\n")))
        }
        None if keep => {
            tracing::info!(hostname, "VM stopped");
            Ok(ack(format!("VM {hostname} shut down\n")))
        }
        None => {
            state.remove_vm(&vm).await;
            Ok(ack(format!("VM {hostname} shut down and removed\n")))
        }
    }
}
