//! Per-VM reads and tag updates: describe, tags, logs, health, stats.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use slicer_core::{
    AgentHealth, NetworkPolicy, NodeStats, VmDescription, VmLogs, VmNetwork, VmTagUpdate, VmTags,
};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::state::AppState;
use crate::stats;
use crate::tags;
use crate::vm::{Power, Userdata, Vm};

/// Log lines returned when `lines` is absent.
const DEFAULT_LOG_LINES: i64 = 20;

/// Image reported for VMs created without `disk_image`.
const DEFAULT_IMAGE: &str = "slicer-emulator/ubuntu:22.04";

/// Version the simulated agent reports.
const AGENT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-emulator");

/// `GET /vm/{h}`: the description, plus the create-request fields the
/// description model has no place for, so every stored field is visible.
#[derive(Debug, Serialize)]
pub(super) struct Describe {
    #[serde(flatten)]
    description: VmDescription,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ssh_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    userdata: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pci_devices: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    protected: bool,
}

pub(super) async fn describe(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<Describe>, ApiError> {
    let vm = state.vm(&hostname)?;
    let spec = &vm.spec;
    let description = VmDescription {
        node: vm.node(),
        storage: "image".to_owned(),
        image: spec
            .disk_image
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
        commit_id: String::new(),
        parent_commit_id: String::new(),
        network: Some(network(spec.network.as_ref())),
    };
    Ok(Json(Describe {
        description,
        gpu_count: spec.gpu_count,
        disk_image: spec.disk_image.clone(),
        import_user: spec.import_user.clone(),
        ssh_keys: spec.ssh_keys.clone(),
        userdata: spec.userdata.clone(),
        secrets: spec.secrets.clone(),
        pci_devices: spec.pci_devices.clone(),
        protected: vm.id.protected,
    }))
}

/// The network section: the group's isolated-mode policy, the VM's
/// override (only when it was created with one) and the result. An absent
/// override list inherits the group's; an explicit empty one clears it.
fn network(override_policy: Option<&NetworkPolicy>) -> VmNetwork {
    let group = NetworkPolicy {
        allow: Some(vec!["0.0.0.0/0".to_owned()]),
        drop: Some(Vec::new()),
    };
    let effective = match override_policy {
        Some(o) => NetworkPolicy {
            allow: o.allow.clone().or_else(|| group.allow.clone()),
            drop: o.drop.clone().or_else(|| group.drop.clone()),
        },
        None => group.clone(),
    };
    VmNetwork {
        mode: "isolated".to_owned(),
        policy_source: if override_policy.is_some() {
            "vm"
        } else {
            "hostgroup"
        }
        .to_owned(),
        host_group: Some(group),
        override_policy: override_policy.cloned(),
        effective: Some(effective),
    }
}

/// `GET /vm/{h}/tags`.
pub(super) async fn tags(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<VmTags>, ApiError> {
    let vm = state.vm(&hostname)?;
    Ok(Json(VmTags {
        tags: vm.state().tags,
        hostname,
    }))
}

/// `PATCH /vm/{h}/tags`.
pub(super) async fn update_tags(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    JsonBody(update): JsonBody<VmTagUpdate>,
) -> Result<Json<VmTags>, ApiError> {
    let vm = state.vm(&hostname)?;
    let tags = vm.update(|s| {
        s.tags = tags::apply(&s.tags, &update).map_err(ApiError::bad_request)?;
        Ok(s.tags.clone())
    })?;
    Ok(Json(VmTags { hostname, tags }))
}

/// `GET /vm/{h}/logs?lines=N` (default 20; 0 for everything).
pub(super) async fn logs(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
    query: QueryParams,
) -> Result<Json<VmLogs>, ApiError> {
    let lines = match query.get("lines") {
        None => DEFAULT_LOG_LINES,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid lines {text:?}: expected a whole number, 0 for all"
                ))
            })?,
    };
    let vm = state.vm(&hostname)?;
    let content = vm.log.tail(usize::try_from(lines).unwrap_or(usize::MAX));
    Ok(Json(VmLogs {
        hostname,
        lines,
        content,
    }))
}

/// `GET|HEAD /vm/{h}/health`: 200 while the agent answers, else 503.
pub(super) async fn health(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<AgentHealth>, ApiError> {
    let vm = state.vm(&hostname)?;
    agent_health(&vm).map(Json)
}

fn agent_health(vm: &Vm) -> Result<AgentHealth, ApiError> {
    let s = vm.state();
    let hostname = vm.hostname();
    match s.power {
        Power::Paused => return Err(ApiError::unavailable(format!("VM {hostname:?} is paused"))),
        Power::Stopped => return Err(ApiError::unavailable(format!("VM {hostname:?} is stopped"))),
        Power::Suspended => {
            return Err(ApiError::unavailable(format!(
                "VM {hostname:?} is suspended"
            )))
        }
        Power::Running if !s.boot.agent_up => {
            return Err(ApiError::unavailable(format!(
                "the agent of VM {hostname:?} is not up yet"
            )))
        }
        Power::Running => {}
    }
    let (ran, code) = match s.userdata {
        // No userdata: nothing to wait for, so it counts as done.
        Userdata::Absent => (true, Some(0)),
        Userdata::Pending | Userdata::Running => (false, None),
        Userdata::Finished(code) => (true, Some(code)),
    };
    Ok(AgentHealth {
        hostname: hostname.to_owned(),
        agent_uptime: s.agent_uptime(),
        agent_version: AGENT_VERSION.to_owned(),
        system_uptime: s.system_uptime(),
        userdata_ran: ran,
        userdata_exit_code: code,
        ip: vm.id.ip.split('/').next().unwrap_or_default().to_owned(),
    })
}

/// `GET /nodes/stats`.
pub(super) async fn all_stats(State(state): State<Arc<AppState>>) -> Json<Vec<NodeStats>> {
    Json(
        state
            .all_vms()
            .iter()
            .map(|vm| stats::node_stats(vm))
            .collect(),
    )
}

/// `GET /node/{h}/stats`: one object, as the OpenAPI spec and docs say.
pub(super) async fn node_stats(
    State(state): State<Arc<AppState>>,
    PathParams(hostname): PathParams<String>,
) -> Result<Json<NodeStats>, ApiError> {
    let vm = state.vm(&hostname)?;
    Ok(Json(stats::node_stats(&vm)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_override_semantics() {
        let inherited = network(None);
        assert_eq!(inherited.policy_source, "hostgroup");
        assert!(inherited.override_policy.is_none());
        assert_eq!(inherited.effective, inherited.host_group);

        let cleared = network(Some(&NetworkPolicy {
            allow: Some(vec![]),
            drop: None,
        }));
        assert_eq!(cleared.policy_source, "vm");
        let effective = cleared.effective.unwrap();
        assert_eq!(effective.allow, Some(vec![]));
        assert_eq!(effective.drop, Some(vec![]));
        assert_eq!(cleared.override_policy.unwrap().drop, None);
    }
}
