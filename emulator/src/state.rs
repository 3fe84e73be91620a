//! Shared server state: host groups, the VM table, secrets, and the helpers
//! routes use to find VMs and wait on them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slicer_core::{CreateVmRequest, HostGroup, Node};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::agent::Agent;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::secrets::SecretStore;
use crate::tags::friendly_name;
use crate::validate::{bare_ip, go_arch, uname_arch, validate_create};
use crate::vm::{Power, Vm, VmIdentity, VmState};

/// Extra time, beyond the boot delay, a guest operation waits for a booting
/// VM's agent before answering 503.
const GUEST_AGENT_GRACE: Duration = Duration::from_secs(10);

/// How a wait on a VM ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// The condition holds.
    Ready,
    /// The VM was deleted or removed meanwhile.
    Removed,
    /// The time ran out.
    TimedOut,
    /// The emulator is shutting down.
    Stopping,
}

/// VMs by hostname, plus the counters hostnames are allocated from.
#[derive(Debug, Default)]
struct VmTable {
    by_name: HashMap<String, Arc<Vm>>,
    /// Highest `<n>` handed out per group; hostnames are never reused.
    last_index: HashMap<String, u64>,
    seq: u64,
}

/// Everything the routes share.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The bearer token, when auth is on.
    pub token: Option<String>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Host groups, in configuration order.
    pub groups: Vec<HostGroup>,
    /// The simulated guest.
    pub agent: Agent,
    /// Secret files.
    pub secrets: SecretStore,
    vms: Mutex<VmTable>,
    stopping: watch::Sender<bool>,
}

impl AppState {
    /// State over an existing data directory layout.
    pub fn new(
        token: Option<String>,
        data_dir: PathBuf,
        groups: Vec<HostGroup>,
        agent: Agent,
    ) -> Self {
        let secrets = SecretStore::new(data_dir.join("secrets"), data_dir.join(".secrets-staging"));
        AppState {
            token,
            data_dir,
            groups,
            agent,
            secrets,
            vms: Mutex::default(),
            stopping: watch::Sender::new(false),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, VmTable> {
        self.vms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory holding every VM's directory.
    pub fn vms_dir(&self) -> PathBuf {
        self.data_dir.join("vms")
    }

    /// A host group, or 404.
    pub fn group(&self, name: &str) -> Result<&HostGroup, ApiError> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .ok_or_else(|| ApiError::not_found(format!("host group {name:?} not found")))
    }

    /// A VM, or 404.
    pub fn vm(&self, hostname: &str) -> Result<Arc<Vm>, ApiError> {
        self.table()
            .by_name
            .get(hostname)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("VM {hostname:?} not found")))
    }

    /// Every VM, oldest first.
    pub fn all_vms(&self) -> Vec<Arc<Vm>> {
        let mut vms: Vec<_> = self.table().by_name.values().cloned().collect();
        vms.sort_by_key(|vm| vm.id.seq);
        vms
    }

    /// VMs as listed by `/nodes` and `/hostgroup/{g}/nodes`, filtered by
    /// the request's `tag` or `tag_prefix`.
    pub fn list_nodes(
        &self,
        group: Option<&str>,
        query: &QueryParams,
    ) -> Result<Vec<Node>, ApiError> {
        let filter = TagFilter::from_query(query)?;
        Ok(self
            .all_vms()
            .iter()
            .filter(|vm| group.is_none_or(|g| vm.id.group == g))
            .map(|vm| vm.node())
            .filter(|node| filter.matches(&node.tags))
            .collect())
    }

    /// Finds a VM for a guest operation (exec, copy, fs and the like):
    /// 404 when unknown, 409 when paused, stopped or suspended. While the
    /// VM boots, this waits for its agent and answers 503 if it does not
    /// come up within the boot delay plus a grace period.
    pub async fn guest_vm(&self, hostname: &str) -> Result<Arc<Vm>, ApiError> {
        let vm = self.vm(hostname)?;
        if guest_check(&vm, &vm.state())? {
            return Ok(vm);
        }
        let limit = self.agent.boot_delay + GUEST_AGENT_GRACE;
        match self
            .wait_until(&vm, limit, |s| s.agent_ready() || s.power != Power::Running)
            .await
        {
            WaitOutcome::Removed => {
                return Err(ApiError::not_found(format!("VM {hostname:?} not found")))
            }
            WaitOutcome::Stopping => return Err(stopping_error()),
            WaitOutcome::Ready | WaitOutcome::TimedOut => {}
        }
        if guest_check(&vm, &vm.state())? {
            Ok(vm)
        } else {
            Err(ApiError::unavailable(format!(
                "the agent of VM {hostname:?} is not answering"
            )))
        }
    }

    /// Waits until `ready` holds for the VM, it is removed, `timeout`
    /// passes or the emulator stops.
    pub async fn wait_until(
        &self,
        vm: &Vm,
        timeout: Duration,
        ready: impl Fn(&VmState) -> bool,
    ) -> WaitOutcome {
        let mut rx = vm.subscribe();
        let mut stopping = self.stopping.subscribe();
        let wait = async {
            match rx.wait_for(|s| s.removed || ready(s)).await {
                Ok(s) if !s.removed => WaitOutcome::Ready,
                _ => WaitOutcome::Removed,
            }
        };
        tokio::select! {
            outcome = tokio::time::timeout(timeout, wait) => outcome.unwrap_or(WaitOutcome::TimedOut),
            _ = stopping.wait_for(|stop| *stop) => WaitOutcome::Stopping,
        }
    }

    /// Creates, registers and boots a VM in `group`. `protected` marks the
    /// VMs pre-created by a group's `count`.
    pub async fn create_vm(
        &self,
        group: &str,
        req: CreateVmRequest,
        protected: bool,
    ) -> Result<Arc<Vm>, ApiError> {
        let group = self.group(group)?.clone();
        let (spec, tags) = validate_create(&group, req)?;
        let vm = self.register(&group, spec, tags, protected)?;

        let (dir, hostname) = (vm.dir.clone(), vm.hostname().to_owned());
        let made = tokio::task::spawn_blocking(move || make_vm_dirs(&dir, &hostname)).await;
        if let Err(err) = made.map_err(std::io::Error::other).and_then(|r| r) {
            self.remove_vm(&vm).await;
            return Err(ApiError::internal(
                "cannot create the VM's root directory",
                err,
            ));
        }
        // A delete that raced with the directory setup wins: clean up after it.
        let generation = vm.update(|s| {
            if s.removed {
                return Err(ApiError::not_found(format!(
                    "VM {:?} was deleted while it was created",
                    vm.hostname()
                )));
            }
            Ok(s.begin_boot(true))
        });
        let generation = match generation {
            Ok(generation) => generation,
            Err(err) => {
                self.remove_vm(&vm).await;
                return Err(err);
            }
        };
        self.agent.spawn_boot(&vm, generation, true);
        tracing::info!(hostname = vm.hostname(), group = %group.name, "VM created");
        Ok(vm)
    }

    /// Allocates a hostname and address and inserts the VM, checking
    /// uniqueness of hostname, friendly name and address under one lock.
    fn register(
        &self,
        group: &HostGroup,
        spec: CreateVmRequest,
        tags: Vec<String>,
        protected: bool,
    ) -> Result<Arc<Vm>, ApiError> {
        let mut table = self.table();
        let taken_names: Vec<String> = table
            .by_name
            .values()
            .filter_map(|vm| friendly_name(&vm.state().tags).map(str::to_owned))
            .collect();
        if let Some(name) = friendly_name(&tags) {
            if taken_names.iter().any(|n| n == name) {
                return Err(ApiError::conflict(format!(
                    "the friendly name {name:?} is already used by another VM"
                )));
            }
            if table.by_name.contains_key(name) {
                return Err(ApiError::conflict(format!(
                    "the friendly name {name:?} is the hostname of another VM"
                )));
            }
        }
        let (hostname, index) = match &spec.hostname {
            Some(requested) => {
                if table.by_name.contains_key(requested) || taken_names.contains(requested) {
                    return Err(ApiError::conflict(format!(
                        "hostname {requested:?} is already in use"
                    )));
                }
                (requested.clone(), None)
            }
            None => {
                let mut n = table.last_index.get(&group.name).copied().unwrap_or(0);
                loop {
                    n += 1;
                    let candidate = format!("{}-{n}", group.name);
                    if !table.by_name.contains_key(&candidate) && !taken_names.contains(&candidate)
                    {
                        break (candidate, Some(n));
                    }
                }
            }
        };
        let ip = self.allocate_ip(&table, group, spec.ip.as_deref())?;
        // Only a VM that is actually created consumes its number.
        if let Some(n) = index {
            table.last_index.insert(group.name.clone(), n);
        }
        table.seq += 1;
        let id = VmIdentity {
            hostname: hostname.clone(),
            group: group.name.clone(),
            seq: table.seq,
            ip,
            arch: go_arch(&group.arch),
            machine: uname_arch(&group.arch),
            created_at: OffsetDateTime::now_utc(),
            protected: protected || spec.protected,
        };
        let dir = self.vms_dir().join(&hostname);
        let vm = Arc::new(Vm::new(id, spec, tags, dir));
        table.by_name.insert(hostname, vm.clone());
        Ok(vm)
    }

    /// The requested address if free, else the lowest free host address of
    /// the group's /24 (`192.168.<137 + group index>.0/24`).
    fn allocate_ip(
        &self,
        table: &VmTable,
        group: &HostGroup,
        requested: Option<&str>,
    ) -> Result<String, ApiError> {
        let in_use: Vec<IpAddr> = table
            .by_name
            .values()
            .filter_map(|vm| bare_ip(&vm.id.ip))
            .collect();
        if let Some(requested) = requested {
            let addr = bare_ip(requested).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid ip {requested:?}: expected an address such as 192.168.137.10"
                ))
            })?;
            if in_use.contains(&addr) {
                return Err(ApiError::conflict(format!(
                    "ip {requested:?} is already in use by another VM"
                )));
            }
            return Ok(requested.to_owned());
        }
        let index = self
            .groups
            .iter()
            .position(|g| g.name == group.name)
            .unwrap_or(0);
        let third = 137 + index as u8;
        (2..=254u8)
            .map(|host| IpAddr::from([192, 168, third, host]))
            .find(|addr| !in_use.contains(addr))
            .map(|addr| addr.to_string())
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::INSUFFICIENT_STORAGE,
                    format!("host group {:?} has no free addresses left", group.name),
                )
            })
    }

    /// Forgets a VM: out of the table, waiters released, boot cancelled,
    /// directory removed.
    pub async fn remove_vm(&self, vm: &Arc<Vm>) {
        {
            let mut table = self.table();
            if table
                .by_name
                .get(vm.hostname())
                .is_some_and(|v| Arc::ptr_eq(v, vm))
            {
                table.by_name.remove(vm.hostname());
            }
        }
        vm.mark_removed();
        let dir = vm.dir.clone();
        let removed = tokio::task::spawn_blocking(move || remove_dir(&dir)).await;
        if let Ok(Err(err)) = removed {
            tracing::warn!(
                hostname = vm.hostname(),
                "cannot remove the VM's directory: {err}"
            );
        }
        tracing::info!(hostname = vm.hostname(), "VM removed");
    }

    /// `DELETE /hostgroup/{g}/nodes/{h}`: 404 for an unknown group or VM or
    /// one in another group, 403 for a protected VM.
    pub async fn delete_vm(&self, group: &str, hostname: &str) -> Result<(), ApiError> {
        self.group(group)?;
        let vm = self.vm(hostname)?;
        if vm.id.group != group {
            return Err(ApiError::not_found(format!(
                "VM {hostname:?} not found in host group {group:?}"
            )));
        }
        if vm.id.protected {
            return Err(ApiError::forbidden(format!(
                "VM {hostname:?} is protected and cannot be deleted"
            )));
        }
        self.remove_vm(&vm).await;
        Ok(())
    }

    /// Signals shutdown: waits end, the server stops accepting.
    pub fn begin_stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once shutdown has been signalled.
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Powers every VM off without forgetting it: boots stop and guest
    /// processes end, while requests still see the VMs.
    pub fn power_off_all(&self) {
        for vm in self.all_vms() {
            let _ = vm.update(|s| {
                s.halt(Power::Stopped);
                Ok(())
            });
        }
    }

    /// Cancels every VM's boot task and empties the table; the caller
    /// removes the directories.
    pub fn halt_all(&self) {
        let vms: Vec<_> = self.table().by_name.drain().map(|(_, vm)| vm).collect();
        for vm in vms {
            vm.mark_removed();
        }
    }
}

/// 503 for requests cut short by shutdown.
pub(crate) fn stopping_error() -> ApiError {
    ApiError::unavailable("the emulator is shutting down")
}

/// `Ok(true)` when a guest operation can proceed, `Ok(false)` while the
/// agent boots, an error when the VM's state forbids guest operations.
fn guest_check(vm: &Vm, state: &VmState) -> Result<bool, ApiError> {
    let hostname = vm.hostname();
    if state.removed {
        return Err(ApiError::not_found(format!("VM {hostname:?} not found")));
    }
    match state.power {
        Power::Paused => Err(ApiError::conflict(format!(
            "VM {hostname:?} is paused; resume it first"
        ))),
        Power::Stopped => Err(ApiError::conflict(format!(
            "VM {hostname:?} is not running (Stopped)"
        ))),
        Power::Suspended => Err(ApiError::conflict(format!(
            "VM {hostname:?} is not running (Suspended); restore it first"
        ))),
        Power::Running => Ok(state.boot.agent_up),
    }
}

/// The `tag` / `tag_prefix` filter of a listing.
#[derive(Debug, Default)]
struct TagFilter {
    tag: Option<String>,
    prefix: Option<String>,
}

impl TagFilter {
    fn from_query(query: &QueryParams) -> Result<Self, ApiError> {
        let filter = TagFilter {
            tag: query.get("tag").map(str::to_owned),
            prefix: query.get("tag_prefix").map(str::to_owned),
        };
        if filter.tag.is_some() && filter.prefix.is_some() {
            return Err(ApiError::bad_request(
                "use either tag or tag_prefix, not both",
            ));
        }
        Ok(filter)
    }

    fn matches(&self, tags: &[String]) -> bool {
        match (&self.tag, &self.prefix) {
            (Some(tag), _) => tags.iter().any(|t| t == tag),
            (None, Some(prefix)) => tags.iter().any(|t| t.starts_with(prefix.as_str())),
            (None, None) => true,
        }
    }
}

/// Creates `<dir>/root` with the directories and `/etc` files a guest
/// expects: `root` (0) and `ubuntu` (1000, home `/home/ubuntu`) accounts,
/// the hostname, and the host's alternatives links (so `/usr/bin/awk` and
/// friends resolve inside the sandbox).
fn make_vm_dirs(dir: &Path, hostname: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // A stale directory of the same name would leak files into the new VM.
    remove_dir(dir)?;
    let root = dir.join("root");
    for sub in ["home/ubuntu", "tmp", "etc/alternatives", "root"] {
        std::fs::create_dir_all(root.join(sub))?;
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::set_permissions(root.join("root"), std::fs::Permissions::from_mode(0o700))?;
    // Only root can give the home away; otherwise it stays the emulator's.
    let _ = std::os::unix::fs::chown(root.join("home/ubuntu"), Some(1000), Some(1000));
    let etc = root.join("etc");
    std::fs::write(etc.join("hostname"), format!("{hostname}\n"))?;
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         ubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/sh\n",
    )?;
    std::fs::write(etc.join("group"), "root:x:0:\nubuntu:x:1000:\n")?;
    std::fs::write(
        etc.join("hosts"),
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n"),
    )?;
    if let Ok(entries) = std::fs::read_dir("/etc/alternatives") {
        for entry in entries.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let _ = std::os::unix::fs::symlink(
                    target,
                    etc.join("alternatives").join(entry.file_name()),
                );
            }
        }
    }
    Ok(())
}

/// Removes a directory tree; a missing one is fine.
pub(crate) fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &Path, boot_delay: Duration) -> AppState {
        let groups = vec![crate::config::host_group("sbox")];
        AppState::new(None, dir.to_owned(), groups, Agent::simulated(boot_delay))
    }

    #[tokio::test]
    async fn guest_guard() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path(), Duration::from_millis(20));
        assert_eq!(state.guest_vm("nope").await.unwrap_err().status, 404);

        // A booting VM is waited for rather than refused.
        let vm = state
            .create_vm("sbox", CreateVmRequest::default(), false)
            .await
            .unwrap();
        let found = state.guest_vm(vm.hostname()).await.unwrap();
        assert!(Arc::ptr_eq(&found, &vm) && vm.state().agent_ready());
        assert!(vm.root().join("tmp").is_dir());

        for (power, word) in [
            (Power::Paused, "paused"),
            (Power::Stopped, "Stopped"),
            (Power::Suspended, "Suspended"),
        ] {
            vm.update(|s| {
                s.power = power;
                Ok(())
            })
            .unwrap();
            let err = state.guest_vm(vm.hostname()).await.unwrap_err();
            assert_eq!(err.status, 409);
            assert!(err.message.contains(word), "{err}");
        }
        state.remove_vm(&vm).await;
        assert_eq!(state.guest_vm(vm.hostname()).await.unwrap_err().status, 404);
        assert!(!vm.dir.exists());
    }

    #[tokio::test]
    async fn guest_guard_while_booting_reacts_to_pause_and_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(state(dir.path(), Duration::from_secs(3600)));
        let vm = state
            .create_vm("sbox", CreateVmRequest::default(), false)
            .await
            .unwrap();
        let waiting = {
            let state = state.clone();
            let host = vm.hostname().to_owned();
            tokio::spawn(async move { state.guest_vm(&host).await.map(|_| ()) })
        };
        // A pause while waiting turns the answer into 409.
        tokio::task::yield_now().await;
        vm.update(|s| {
            s.power = Power::Paused;
            Ok(())
        })
        .unwrap();
        assert_eq!(waiting.await.unwrap().unwrap_err().status, 409);
        state.begin_stop();
        vm.update(|s| {
            s.power = Power::Running;
            Ok(())
        })
        .unwrap();
        assert_eq!(state.guest_vm(vm.hostname()).await.unwrap_err().status, 503);
    }

    #[test]
    fn tag_filters() {
        let tags = vec!["name=web".to_owned(), "role=ci".to_owned()];
        let f = |q: &str| TagFilter::from_query(&QueryParams::parse(q));
        assert!(f("tag=role%3Dci").unwrap().matches(&tags));
        assert!(!f("tag=role").unwrap().matches(&tags));
        assert!(f("tag_prefix=role").unwrap().matches(&tags));
        assert!(!f("tag_prefix=job").unwrap().matches(&tags));
        assert!(f("").unwrap().matches(&tags));
        assert!(f("tag=a&tag_prefix=b")
            .unwrap_err()
            .message
            .contains("not both"));
    }
}
