//! Typed request and response bodies of the Slicer control plane.
//!
//! Every response type ignores fields it does not know, so newer daemons keep
//! working, and accepts each spelling the known daemons and SDKs disagree on
//! (for example a secret's `modified_at` and `mod_time`). Request types
//! serialise exactly as the official Go SDK does: optional fields are omitted
//! when unset.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::wire;

/// Bytes in one mebibyte, for `ram_bytes` arithmetic.
pub const MIB: u64 = 1024 * 1024;
/// Bytes in one gibibyte, for `ram_bytes` arithmetic.
pub const GIB: u64 = 1024 * MIB;

/// `n` gibibytes in bytes, the unit of `ram_bytes`.
///
/// ```
/// assert_eq!(slicer_core::gib(2), 2 * 1024 * 1024 * 1024);
/// ```
pub const fn gib(n: u64) -> u64 {
    n * GIB
}

/// `n` mebibytes in bytes, the unit of `ram_bytes`.
///
/// ```
/// assert_eq!(slicer_core::mib(512), 512 * 1024 * 1024);
/// ```
pub const fn mib(n: u64) -> u64 {
    n * MIB
}

/// Version information from `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// Daemon version, such as `0.1.212`.
    pub version: String,
    /// Git commit the daemon was built from.
    pub git_commit: String,
    /// Server operating system (`linux`, `darwin`); empty on older daemons.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Server CPU architecture (`amd64`, `arm64`); empty on older daemons.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
}

/// A host group: a template VMs are created from, configured on the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostGroup {
    /// Group name, such as `sbox`.
    pub name: String,
    /// Number of protected VMs pre-created at daemon start.
    pub count: u32,
    /// Default and maximum RAM per VM, in bytes.
    pub ram_bytes: u64,
    /// Default and maximum vCPUs per VM.
    pub cpus: u32,
    /// GPUs per VM.
    pub gpu_count: u32,
    /// Architecture label, such as `x86_64`.
    pub arch: String,
}

/// The lifecycle state the daemon reports for a VM.
///
/// The set is open-ended: a value this SDK does not know is kept in
/// [`VmStatus::Other`] rather than rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum VmStatus {
    /// The VM is running.
    #[default]
    Running,
    /// The VM keeps its memory but runs no vCPUs; guest operations answer 409.
    Paused,
    /// A persistent VM that was shut down and can be relaunched.
    Stopped,
    /// Any other value, kept verbatim.
    Other(String),
}

impl VmStatus {
    /// The wire spelling of this status.
    pub fn as_str(&self) -> &str {
        match self {
            VmStatus::Running => "Running",
            VmStatus::Paused => "Paused",
            VmStatus::Stopped => "Stopped",
            VmStatus::Other(s) => s,
        }
    }
}

impl From<&str> for VmStatus {
    fn from(s: &str) -> Self {
        match s {
            "Running" => VmStatus::Running,
            "Paused" => VmStatus::Paused,
            "Stopped" => VmStatus::Stopped,
            other => VmStatus::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for VmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for VmStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VmStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(VmStatus::from(s.as_str()))
    }
}

/// A VM as listed by `GET /nodes` and `GET /hostgroup/{g}/nodes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// The VM's hostname, its identity in every other call (`<group>-<n>`).
    pub hostname: String,
    /// The host group it belongs to; empty from daemons that predate the field.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostgroup: String,
    /// Address as the daemon reports it: bare (`192.168.64.5`) or CIDR
    /// (`192.168.137.2/24`). See [`Node::ip_addr`].
    pub ip: String,
    /// RAM in bytes.
    pub ram_bytes: u64,
    /// vCPU count.
    pub cpus: u32,
    /// When the VM was created.
    #[serde(with = "wire::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    /// Architecture label.
    pub arch: String,
    /// Free-form tags; `name=<label>` is the friendly name.
    #[serde(deserialize_with = "wire::null_as_default")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Lifecycle state.
    pub status: VmStatus,
    /// Whether the VM and its disk survive shutdown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub persistent: bool,
}

impl Node {
    /// The VM's address without any CIDR suffix, or `None` when the daemon
    /// reported none or something unparsable.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        parse_ip(&self.ip)
    }

    /// The value of the `name=<label>` tag, if the VM has one.
    pub fn friendly_name(&self) -> Option<&str> {
        self.tags.iter().find_map(|t| t.strip_prefix("name="))
    }
}

/// Parses a bare or CIDR-suffixed address.
pub(crate) fn parse_ip(raw: &str) -> Option<IpAddr> {
    let bare = raw.split('/').next().unwrap_or_default().trim();
    bare.parse().ok()
}

/// Egress policy for a VM: CIDR lists that override the group's policy.
///
/// `None` inherits the group's list; `Some(vec![])` clears it. The two are
/// distinct on the wire and kept distinct here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// CIDRs the VM may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// CIDRs the VM may not reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

/// Body of `POST /hostgroup/{g}/nodes`. An all-default request takes the
/// group's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateVmRequest {
    /// Requested hostname (listed by the OpenAPI spec; daemons usually allocate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Static IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// RAM in bytes; at most the group's `ram_bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ram_bytes: Option<u64>,
    /// vCPUs; at most the group's `cpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// GPUs to attach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
    /// Keep the VM and its disk across shutdown; it can then be relaunched.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub persistent: bool,
    /// Disk image to boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_image: Option<String>,
    /// GitHub user whose public SSH keys are imported.
    #[serde(alias = "github_user", skip_serializing_if = "Option::is_none")]
    pub import_user: Option<String>,
    /// Public SSH keys to install.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    /// Mark the VM protected against deletion (OpenAPI only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// First-boot script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata: Option<String>,
    /// Tags; `name=<label>` sets the immutable friendly name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Names of secrets the VM may read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// PCI devices to pass through (OpenAPI only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pci_devices: Vec<String>,
    /// Egress policy overriding the group's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPolicy>,
}

/// What a create call waits for before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitFor {
    /// Until the guest agent is up.
    Agent,
    /// Until the agent is up and userdata has finished.
    Userdata,
}

impl WaitFor {
    /// The wire spelling (`agent`, `userdata`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFor::Agent => "agent",
            WaitFor::Userdata => "userdata",
        }
    }
}

/// Query options of a create call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateVmOptions {
    /// Hold the response until this readiness point.
    pub wait: Option<WaitFor>,
    /// Bound for the wait (the daemon defaults to five minutes). On expiry the
    /// daemon deletes the VM and answers 408.
    pub timeout: Option<Duration>,
}

/// Response of create and relaunch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateVmResponse {
    /// The allocated hostname.
    pub hostname: String,
    /// The group it was created in.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostgroup: String,
    /// Its address, bare or CIDR. See [`CreateVmResponse::ip_addr`].
    pub ip: String,
    /// Creation time.
    #[serde(with = "wire::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    /// Architecture label.
    pub arch: String,
    /// Whether the VM is persistent, when the daemon says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent: Option<bool>,
}

impl CreateVmResponse {
    /// The VM's address without any CIDR suffix.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        parse_ip(&self.ip)
    }
}

/// Response of `DELETE /hostgroup/{g}/nodes/{h}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteVmResponse {
    /// Human-readable outcome.
    pub message: String,
    /// Whether the VM's disk was removed. The daemon sends the string
    /// `"true"`/`"false"`; a JSON boolean is accepted too.
    #[serde(with = "wire::stringly_bool")]
    pub disk_removed: bool,
    /// A failure the daemon reported inside a 200 body.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Network section of [`VmDescription`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmNetwork {
    /// Network mode, such as `isolated` or `bridge`.
    pub mode: String,
    /// Where the effective policy came from (`vm`, `hostgroup`).
    pub policy_source: String,
    /// The group's policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_group: Option<NetworkPolicy>,
    /// The VM's own override; present only when it was created with one.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_policy: Option<NetworkPolicy>,
    /// The policy in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<NetworkPolicy>,
}

/// Response of `GET /vm/{h}`: node fields plus configuration and lineage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmDescription {
    /// The listing fields.
    #[serde(flatten)]
    pub node: Node,
    /// Storage backend (`image`, `devmapper`, ...).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub storage: String,
    /// Image the VM booted from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Commit this VM was saved as, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit_id: String,
    /// Commit this VM was forked from, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_commit_id: String,
    /// Network mode and policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<VmNetwork>,
}

/// A VM's tags, from `GET|PATCH /vm/{h}/tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmTags {
    /// The VM.
    pub hostname: String,
    /// Its tags after the call.
    #[serde(deserialize_with = "wire::null_as_default")]
    pub tags: Vec<String>,
}

/// Body of `PATCH /vm/{h}/tags`: `add` and/or `remove`, or `replace` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmTagUpdate {
    /// Tags to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Tags to remove.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Replacement for every mutable tag; `Some(vec![])` clears them. The
    /// `name=` tag is kept by the daemon and may not appear here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace: Option<Vec<String>>,
}

/// How [`SlicerClient::shutdown`](crate::SlicerClient::shutdown) stops a VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ShutdownAction {
    /// Reboot the guest, the graceful way to end a Firecracker VM; what the
    /// Go SDK sends by default.
    #[default]
    Reboot,
    /// Power the guest off.
    Shutdown,
}

impl ShutdownAction {
    /// The wire spelling (`reboot`, `shutdown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownAction::Reboot => "reboot",
            ShutdownAction::Shutdown => "shutdown",
        }
    }
}

/// Query options of a restore call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreVmOptions {
    /// Hold the response until the guest agent answers.
    pub wait_for_agent: bool,
    /// Bound for that wait; the daemon default applies when unset.
    pub timeout: Option<Duration>,
}

/// Serial-console log from `GET /vm/{h}/logs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmLogs {
    /// The VM.
    pub hostname: String,
    /// Number of lines requested (0 for the whole file).
    pub lines: i64,
    /// The log text.
    pub content: String,
}

/// Metering snapshot inside [`NodeStats`]; camelCase on the wire, unlike the
/// rest of the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// The VM.
    pub hostname: String,
    /// Architecture label.
    pub arch: String,
    /// When the snapshot was taken.
    #[serde(with = "wire::timestamp")]
    pub timestamp: Option<OffsetDateTime>,
    /// Guest uptime as the guest formats it (`12m4s`).
    pub uptime: String,
    /// vCPUs seen by the guest.
    pub total_cpus: u32,
    /// Memory in bytes.
    pub total_memory: u64,
    /// Memory in use, bytes.
    pub memory_used: u64,
    /// Memory available, bytes.
    pub memory_available: u64,
    /// Memory in use, percent.
    pub memory_used_percent: f64,
    /// 1-minute load average.
    pub load_avg1: f64,
    /// 5-minute load average.
    pub load_avg5: f64,
    /// 15-minute load average.
    pub load_avg15: f64,
    /// Bytes read from disk since boot.
    pub disk_read_total: f64,
    /// Bytes written to disk since boot.
    pub disk_write_total: f64,
    /// Bytes received since boot.
    pub network_read_total: f64,
    /// Bytes sent since boot.
    pub network_write_total: f64,
    /// Disk I/O operations in flight.
    #[serde(rename = "diskIOInflight")]
    pub disk_io_inflight: i64,
    /// Open network connections.
    pub open_connections: i64,
    /// Open file descriptors.
    pub open_files: i64,
    /// Available entropy.
    pub entropy: i64,
    /// Disk size, bytes.
    pub disk_space_total: u64,
    /// Disk used, bytes.
    pub disk_space_used: u64,
    /// Disk free, bytes.
    pub disk_space_free: u64,
    /// Disk used, percent.
    pub disk_space_used_percent: f64,
}

/// One VM's entry in `GET /nodes/stats` or `GET /node/{h}/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeStats {
    /// The VM.
    pub hostname: String,
    /// Its address, bare or CIDR.
    pub ip: String,
    /// When it was created.
    #[serde(with = "wire::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    /// The latest snapshot; `None` when the metering service is not running.
    pub snapshot: Option<StatsSnapshot>,
    /// Why no snapshot could be read, if so.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Guest agent health from `GET /vm/{h}/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentHealth {
    /// The VM.
    pub hostname: String,
    /// Time since the agent started (nanoseconds on the wire).
    #[serde(with = "wire::nanos")]
    pub agent_uptime: Duration,
    /// The agent's version.
    pub agent_version: String,
    /// Time since the guest booted (nanoseconds on the wire).
    #[serde(with = "wire::nanos")]
    pub system_uptime: Duration,
    /// Whether userdata has finished.
    pub userdata_ran: bool,
    /// Userdata's exit code, once it has finished (newer agents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata_exit_code: Option<i32>,
    /// The guest's primary IPv4 address (newer agents only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
}

impl AgentHealth {
    /// The guest's address, when the agent reports one.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        parse_ip(&self.ip)
    }
}

/// Secret metadata from `GET /secrets`; the value is never returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Secret {
    /// Secret name, the file name under `/run/slicer/secrets/` in the guest.
    pub name: String,
    /// Size of the decoded value, bytes.
    pub size: u64,
    /// Octal file mode, such as `0600`.
    pub permissions: String,
    /// Owner uid in the guest.
    pub uid: u32,
    /// Owner gid in the guest.
    pub gid: u32,
    /// Last modification (`modified_at` from the daemon, `mod_time` in the
    /// OpenAPI spec; both are read).
    #[serde(alias = "mod_time", with = "wire::timestamp")]
    pub modified_at: Option<OffsetDateTime>,
}

/// A secret to create.
///
/// `data` holds the plain bytes; the client base64-encodes them on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecretRequest {
    /// Secret name: a file name, so no `/`, `.` or `..`.
    pub name: String,
    /// The secret's value.
    pub data: Vec<u8>,
    /// Octal file mode such as `0600`; the daemon's default when unset.
    pub permissions: Option<String>,
    /// Owner uid in the guest.
    pub uid: Option<u32>,
    /// Owner gid in the guest.
    pub gid: Option<u32>,
}

impl CreateSecretRequest {
    /// A secret with the daemon's default mode and owner.
    pub fn new(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        CreateSecretRequest {
            name: name.into(),
            data: data.into(),
            ..Default::default()
        }
    }
}

/// Changes to an existing secret. Unset fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateSecretRequest {
    /// New value; the client base64-encodes it.
    pub data: Option<Vec<u8>>,
    /// New octal file mode.
    pub permissions: Option<String>,
    /// New owner uid.
    pub uid: Option<u32>,
    /// New owner gid.
    pub gid: Option<u32>,
}

/// Wire form of a secret create or update: `data` already base64.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretBody {
    /// Secret name (create only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Standard, padded base64 of the value.
    pub data: String,
    /// Octal file mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// Owner uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Owner gid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// Tag filter for VM listings. The daemon accepts at most one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only VMs with exactly this tag.
    pub tag: Option<String>,
    /// Only VMs with a tag starting with this value.
    pub tag_prefix: Option<String>,
}

impl ListOptions {
    /// VMs carrying exactly `tag`.
    pub fn tag(tag: impl Into<String>) -> Self {
        ListOptions {
            tag: Some(tag.into()),
            tag_prefix: None,
        }
    }

    /// VMs with a tag that starts with `prefix`.
    pub fn tag_prefix(prefix: impl Into<String>) -> Self {
        ListOptions {
            tag: None,
            tag_prefix: Some(prefix.into()),
        }
    }
}

/// A JSON error body: `{"error": "...", "code": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message.
    pub error: String,
    /// A machine-readable code, when the daemon sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_tolerates_unknown_fields_cidr_and_missing_tags() {
        let node: Node = serde_json::from_str(
            r#"{"hostname":"sbox-1","ip":"192.168.137.2/24","ram_bytes":1073741824,
                "cpus":1,"created_at":"2026-05-02T09:14:03.118Z","arch":"x86_64",
                "status":"Hibernating","tags":null,"future":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(node.ip_addr(), Some("192.168.137.2".parse().unwrap()));
        assert_eq!(node.status, VmStatus::Other("Hibernating".into()));
        assert!(node.tags.is_empty());
        assert!(node.created_at.is_some());
        assert!(!node.persistent);
    }

    #[test]
    fn secret_accepts_both_timestamp_keys() {
        for key in ["modified_at", "mod_time"] {
            let json = format!(
                r#"{{"name":"k","size":3,"permissions":"0600","{key}":"2026-05-02T09:00:00Z"}}"#
            );
            let s: Secret = serde_json::from_str(&json).unwrap();
            assert_eq!(s.modified_at.unwrap().unix_timestamp(), 1_777_712_400);
            assert_eq!(s.uid, 0);
        }
    }

    #[test]
    fn delete_response_reads_string_and_bool() {
        let a: DeleteVmResponse =
            serde_json::from_str(r#"{"message":"ok","disk_removed":"true"}"#).unwrap();
        let b: DeleteVmResponse = serde_json::from_str(r#"{"disk_removed":false}"#).unwrap();
        assert!(a.disk_removed);
        assert!(!b.disk_removed);
        assert_eq!(
            serde_json::to_value(&a).unwrap()["disk_removed"],
            serde_json::json!("true")
        );
    }

    #[test]
    fn describe_keeps_empty_override_distinct_from_absent() {
        let d: VmDescription = serde_json::from_str(
            r#"{"hostname":"sbox-7","status":"Running","network":{"mode":"isolated",
                "override":{"allow":[]},"effective":{"allow":[],"drop":[]}}}"#,
        )
        .unwrap();
        let net = d.network.unwrap();
        assert_eq!(net.override_policy.unwrap().allow, Some(vec![]));
        assert!(net.host_group.is_none());
        assert_eq!(d.node.hostname, "sbox-7");
    }

    #[test]
    fn health_reads_nanosecond_durations() {
        let h: AgentHealth = serde_json::from_str(
            r#"{"hostname":"sbox-3","agent_uptime":93000000000,"system_uptime":95000000000,
                "userdata_ran":true,"userdata_exit_code":0,"ip":"192.168.64.5"}"#,
        )
        .unwrap();
        assert_eq!(h.agent_uptime, Duration::from_secs(93));
        assert_eq!(h.userdata_exit_code, Some(0));
    }

    #[test]
    fn create_request_omits_unset_fields_and_keeps_empty_network_lists() {
        assert_eq!(
            serde_json::to_string(&CreateVmRequest::default()).unwrap(),
            "{}"
        );
        let req = CreateVmRequest {
            cpus: Some(2),
            network: Some(NetworkPolicy {
                allow: Some(vec![]),
                drop: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"cpus":2,"network":{"allow":[]}}"#
        );
    }

    #[test]
    fn zero_go_time_is_unset() {
        let n: Node = serde_json::from_str(r#"{"created_at":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert!(n.created_at.is_none());
    }
}
