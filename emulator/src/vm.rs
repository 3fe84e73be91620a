//! One simulated VM: its identity, the configuration it was created with,
//! its lifecycle state and its serial-console log.
//!
//! The mutable state lives in a `watch` channel so that waiters (create with
//! `wait=agent`, guest routes during boot) are woken on every change.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use slicer_core::{CreateVmRequest, CreateVmResponse, Node, VmStatus};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::error::ApiError;
use crate::guest::background::BackgroundTable;
use crate::logbuf::LogBuffer;

/// Power state of a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Power {
    /// vCPUs run; the agent is up once booted.
    Running,
    /// Memory kept, no vCPUs; guest operations answer 409.
    Paused,
    /// Shut down; a persistent VM can be relaunched.
    Stopped,
    /// Snapshotted to disk and stopped; restore resumes it.
    Suspended,
}

impl Power {
    /// The status string lists show. A suspended VM shows `Suspended`: the
    /// protocol leaves this open, and it tells the user restore (not
    /// relaunch) is the way back.
    pub fn status(self) -> VmStatus {
        match self {
            Power::Running => VmStatus::Running,
            Power::Paused => VmStatus::Paused,
            Power::Stopped => VmStatus::Stopped,
            Power::Suspended => VmStatus::Other("Suspended".to_owned()),
        }
    }
}

/// Progress of the first-boot userdata script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Userdata {
    /// The VM was created without userdata: trivially done.
    Absent,
    /// Waiting for the agent.
    Pending,
    /// Running now.
    Running,
    /// Finished with this exit code; never runs again, even after a reboot.
    Finished(i32),
}

/// Clocks and agent state of the current boot.
#[derive(Debug, Clone)]
pub(crate) struct Boot {
    /// Bumped by every boot and halt, so a stale boot task knows to stop.
    pub generation: u64,
    /// When the guest kernel started (shifted forward across a suspension).
    pub booted_at: Instant,
    /// When the agent first came up in this boot.
    pub agent_since: Option<Instant>,
    /// Whether the agent answers now.
    pub agent_up: bool,
    /// Bumped by every fresh boot (create, relaunch, reboot), not by a
    /// restore: guest processes live exactly as long as their incarnation.
    pub incarnation: u64,
}

/// The mutable part of a VM.
#[derive(Debug, Clone)]
pub(crate) struct VmState {
    /// Power state.
    pub power: Power,
    /// Current tags.
    pub tags: Vec<String>,
    /// Current boot.
    pub boot: Boot,
    /// When the VM was suspended, while it is.
    pub suspended_at: Option<Instant>,
    /// Userdata progress.
    pub userdata: Userdata,
    /// Set once the VM is deleted or removed, to release waiters.
    pub removed: bool,
}

impl VmState {
    /// Whether guest operations can reach the agent now.
    pub fn agent_ready(&self) -> bool {
        !self.removed && self.power == Power::Running && self.boot.agent_up
    }

    /// Whether the agent is up and userdata (if any) has finished.
    pub fn userdata_done(&self) -> bool {
        self.agent_ready() && matches!(self.userdata, Userdata::Absent | Userdata::Finished(_))
    }

    /// Starts a boot: running, agent down until the boot task raises it.
    /// `fresh` restarts the guest's clocks (create, relaunch, reboot);
    /// otherwise they continue (restore). Returns the boot's generation.
    pub fn begin_boot(&mut self, fresh: bool) -> u64 {
        self.power = Power::Running;
        self.boot.generation += 1;
        self.boot.agent_up = false;
        if fresh {
            self.boot.booted_at = Instant::now();
            self.boot.agent_since = None;
            self.boot.incarnation += 1;
        }
        if self.userdata == Userdata::Running {
            // Interrupted userdata runs again on the next boot.
            self.userdata = Userdata::Pending;
        }
        self.boot.generation
    }

    /// Stops the guest: the agent goes down and any boot task is orphaned.
    pub fn halt(&mut self, power: Power) {
        self.power = power;
        self.boot.generation += 1;
        self.boot.agent_up = false;
        if self.userdata == Userdata::Running {
            self.userdata = Userdata::Pending;
        }
    }

    /// Suspends a running or paused VM.
    pub fn suspend(&mut self) {
        self.suspended_at = Some(Instant::now());
        self.halt(Power::Suspended);
    }

    /// Resumes a suspended VM, with its clocks continuing from the moment it
    /// was suspended. Returns the boot's generation.
    pub fn restore(&mut self) -> u64 {
        if let Some(at) = self.suspended_at.take() {
            let gap = at.elapsed();
            self.boot.booted_at += gap;
            if let Some(since) = self.boot.agent_since.as_mut() {
                *since += gap;
            }
        }
        self.begin_boot(false)
    }

    /// Time since the guest booted.
    pub fn system_uptime(&self) -> Duration {
        self.boot.booted_at.elapsed()
    }

    /// Time since the agent came up, zero while it is down.
    pub fn agent_uptime(&self) -> Duration {
        self.boot
            .agent_since
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

/// Fixed facts about a VM, decided when it is created.
#[derive(Debug, Clone)]
pub(crate) struct VmIdentity {
    /// Hostname, `<group>-<n>` unless the request named one.
    pub hostname: String,
    /// Host group.
    pub group: String,
    /// Creation order, for stable listings.
    pub seq: u64,
    /// Address, without prefix length.
    pub ip: String,
    /// Architecture as Go names it (`amd64`, `arm64`).
    pub arch: String,
    /// Architecture as the guest's `uname -m` prints it (`x86_64`).
    pub machine: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Pre-created by `count`: never deleted, only stopped.
    pub protected: bool,
}

/// A simulated VM.
#[derive(Debug)]
pub(crate) struct Vm {
    /// Fixed facts.
    pub id: VmIdentity,
    /// The request it was created with, with `cpus` and `ram_bytes` filled
    /// in from the group's defaults and `tags` cleared (they live in the
    /// state, where they can change).
    pub spec: CreateVmRequest,
    /// `<data-dir>/vms/<hostname>`, holding `root/`.
    pub dir: PathBuf,
    /// Serial-console log.
    pub log: LogBuffer,
    /// Background processes started through the agent.
    pub background: BackgroundTable,
    state: watch::Sender<VmState>,
    boot_task: Mutex<Option<AbortHandle>>,
}

impl Vm {
    /// A new, running VM with its agent not yet up.
    pub fn new(id: VmIdentity, spec: CreateVmRequest, tags: Vec<String>, dir: PathBuf) -> Self {
        let userdata = match spec.userdata.as_deref() {
            Some(script) if !script.is_empty() => Userdata::Pending,
            _ => Userdata::Absent,
        };
        let state = VmState {
            power: Power::Running,
            tags,
            boot: Boot {
                generation: 0,
                booted_at: Instant::now(),
                agent_since: None,
                agent_up: false,
                incarnation: 0,
            },
            suspended_at: None,
            userdata,
            removed: false,
        };
        Vm {
            id,
            spec,
            dir,
            log: LogBuffer::default(),
            background: BackgroundTable::default(),
            state: watch::Sender::new(state),
            boot_task: Mutex::new(None),
        }
    }

    /// The hostname.
    pub fn hostname(&self) -> &str {
        &self.id.hostname
    }

    /// The VM's root directory, which guest processes are confined to.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// vCPUs.
    pub fn cpus(&self) -> u32 {
        self.spec.cpus.unwrap_or(1)
    }

    /// RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.spec.ram_bytes.unwrap_or_default()
    }

    /// A copy of the current state.
    pub fn state(&self) -> VmState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<VmState> {
        self.state.subscribe()
    }

    /// Runs `f` on the state atomically; watchers are woken only when it
    /// succeeds.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut VmState) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut out = None;
        self.state.send_if_modified(|s| {
            let result = f(s);
            let changed = result.is_ok();
            out = Some(result);
            changed
        });
        out.unwrap_or_else(|| {
            Err(ApiError::internal(
                "updating VM state",
                "the update did not run",
            ))
        })
    }

    /// Records the task driving the current boot, cancelling the previous one.
    pub fn set_boot_task(&self, task: AbortHandle) {
        let mut slot = self.boot_task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = slot.replace(task) {
            old.abort();
        }
    }

    /// Marks the VM gone and cancels its boot task (and any userdata run).
    pub fn mark_removed(&self) {
        self.state.send_modify(|s| {
            s.removed = true;
            s.halt(Power::Stopped);
        });
        if let Some(task) = self
            .boot_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }

    /// The listing form.
    pub fn node(&self) -> Node {
        let state = self.state.borrow();
        Node {
            hostname: self.id.hostname.clone(),
            hostgroup: self.id.group.clone(),
            ip: self.id.ip.clone(),
            ram_bytes: self.ram_bytes(),
            cpus: self.cpus(),
            created_at: Some(self.id.created_at),
            arch: self.id.arch.clone(),
            tags: state.tags.clone(),
            status: state.power.status(),
            persistent: self.spec.persistent,
        }
    }

    /// The create and relaunch response.
    pub fn create_response(&self) -> CreateVmResponse {
        CreateVmResponse {
            hostname: self.id.hostname.clone(),
            hostgroup: self.id.group.clone(),
            ip: self.id.ip.clone(),
            created_at: Some(self.id.created_at),
            arch: self.id.arch.clone(),
            persistent: Some(self.spec.persistent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(userdata: Option<&str>) -> Vm {
        let id = VmIdentity {
            hostname: "sbox-1".into(),
            group: "sbox".into(),
            seq: 1,
            ip: "192.168.137.2".into(),
            arch: "amd64".into(),
            machine: "x86_64".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            protected: false,
        };
        let spec = CreateVmRequest {
            userdata: userdata.map(str::to_owned),
            cpus: Some(2),
            ram_bytes: Some(1 << 30),
            ..Default::default()
        };
        Vm::new(id, spec, vec!["a".into()], PathBuf::from("/nonexistent"))
    }

    #[test]
    fn readiness_follows_power_agent_and_userdata() {
        let vm = vm(Some("echo hi"));
        let mut s = vm.state();
        assert!(!s.agent_ready());
        s.boot.agent_up = true;
        assert!(s.agent_ready() && !s.userdata_done());
        s.userdata = Userdata::Finished(3);
        assert!(s.userdata_done());
        s.power = Power::Paused;
        assert!(!s.agent_ready());
        let plain = self::vm(Some(""));
        let mut s = plain.state();
        s.boot.agent_up = true;
        assert!(s.userdata_done(), "empty userdata counts as absent");
    }

    #[test]
    fn boots_and_halts_bump_the_generation_and_requeue_running_userdata() {
        let vm = vm(Some("x"));
        let mut s = vm.state();
        let g1 = s.begin_boot(true);
        s.userdata = Userdata::Running;
        s.halt(Power::Stopped);
        assert!(s.boot.generation > g1);
        assert_eq!(s.userdata, Userdata::Pending);
        s.suspend();
        assert_eq!(s.power, Power::Suspended);
        let before = s.boot.booted_at;
        s.restore();
        assert!(s.boot.booted_at >= before);
        assert_eq!(s.power, Power::Running);
        assert!(!s.boot.agent_up);
    }

    #[test]
    fn failed_updates_do_not_apply_or_notify() {
        let vm = vm(None);
        let mut rx = vm.subscribe();
        rx.mark_unchanged();
        let err = vm
            .update(|_| Err::<(), _>(ApiError::conflict("no")))
            .unwrap_err();
        assert_eq!(err.message, "no");
        assert!(!rx.has_changed().unwrap());
        vm.update(|s| {
            s.tags.push("b".into());
            Ok(())
        })
        .unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(vm.node().tags, vec!["a", "b"]);
        assert_eq!(vm.node().status, VmStatus::Running);
    }
}
