//! The simulated guest: boot sequence, agent start-up and userdata.
//!
//! Each boot spawns one task. It writes the kernel banner, waits the
//! configured boot delay (and for the VM to be unpaused), raises the agent,
//! then runs pending userdata through a [`UserdataRunner`] (for real, in the
//! VM's sandbox). Every step checks the boot's generation, so a task
//! orphaned by a reboot, shutdown or delete changes nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::guest::sandbox::Sandbox;
use crate::guest::userdata::SandboxUserdata;
use crate::vm::{Power, Userdata, Vm};

/// Runs a VM's first-boot userdata script and reports its exit code.
///
/// The future is dropped when the VM is deleted, rebooted or shut down
/// while the script runs; an implementation that starts a real process must
/// kill it on drop.
#[async_trait]
pub(crate) trait UserdataRunner: Send + Sync + 'static {
    /// Runs `script` for `vm`, appending what it prints to the VM's log, and
    /// returns its exit code.
    async fn run(&self, vm: &Vm, script: &str) -> i32;
}

/// Pretends to run userdata: logs it, takes a moment, and succeeds. For
/// unit tests that have no sandbox.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct SimulatedUserdata {
    /// How long the pretend run takes.
    pub duration: Duration,
}

#[cfg(test)]
#[async_trait]
impl UserdataRunner for SimulatedUserdata {
    async fn run(&self, vm: &Vm, script: &str) -> i32 {
        vm.log.append(&format!(
            "slicer-agent[412]: running userdata ({} bytes)",
            script.len()
        ));
        tokio::time::sleep(self.duration).await;
        vm.log
            .append("slicer-agent[412]: userdata finished with exit code 0");
        0
    }
}

/// Starts simulated boots, and holds what the guest routes need.
#[derive(Clone)]
pub(crate) struct Agent {
    /// Time from boot to the agent answering.
    pub boot_delay: Duration,
    /// Who runs userdata.
    pub userdata: Arc<dyn UserdataRunner>,
    /// How guest processes are started.
    pub sandbox: Arc<Sandbox>,
    /// Behave like a seed-era agent: untyped exec frames, `stdio` ignored,
    /// cp-v1 modes refused.
    pub legacy: bool,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("boot_delay", &self.boot_delay)
            .field("sandbox", &self.sandbox)
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent that runs userdata and guest processes in `sandbox`.
    pub fn new(boot_delay: Duration, sandbox: Arc<Sandbox>, legacy: bool) -> Self {
        Agent {
            boot_delay,
            userdata: Arc::new(SandboxUserdata::new(sandbox.clone())),
            sandbox,
            legacy,
        }
    }

    /// An agent with simulated userdata that takes half the boot delay.
    #[cfg(test)]
    pub fn simulated(boot_delay: Duration) -> Self {
        Agent {
            boot_delay,
            userdata: Arc::new(SimulatedUserdata {
                duration: boot_delay / 2,
            }),
            sandbox: Arc::new(Sandbox::new(None)),
            legacy: false,
        }
    }

    /// Drives boot `generation` of `vm` (already begun with
    /// [`VmState::begin_boot`](crate::vm::VmState::begin_boot)). A `fresh`
    /// boot writes the kernel banner; a restore does not.
    pub fn spawn_boot(&self, vm: &Arc<Vm>, generation: u64, fresh: bool) {
        if fresh {
            write_banner(vm);
        }
        let task = tokio::spawn(self.clone().run_boot(vm.clone(), generation, fresh));
        vm.set_boot_task(task.abort_handle());
    }

    async fn run_boot(self, vm: Arc<Vm>, generation: u64, fresh: bool) {
        tokio::time::sleep(self.boot_delay).await;
        // A pause during boot holds the agent back until the VM resumes.
        let mut rx = vm.subscribe();
        let waited = rx
            .wait_for(|s| s.removed || s.boot.generation != generation || s.power == Power::Running)
            .await
            .is_ok();
        drop(rx);
        if !waited {
            return;
        }
        let started = vm.update(|s| {
            if s.removed || s.boot.generation != generation || s.power != Power::Running {
                return Ok(None);
            }
            s.boot.agent_up = true;
            s.boot
                .agent_since
                .get_or_insert_with(std::time::Instant::now);
            let script = (s.userdata == Userdata::Pending).then(|| {
                s.userdata = Userdata::Running;
                vm.spec.userdata.clone().unwrap_or_default()
            });
            Ok(Some(script))
        });
        let Ok(Some(script)) = started else {
            return;
        };
        // A restored guest's agent never stopped; it only reconnects.
        if fresh {
            vm.log.append(&format!(
                "slicer-agent[412]: listening on vsock port 1024\n\
             [  OK  ] Started slicer-agent.service - Slicer guest agent.\n\
             {} login:",
                vm.hostname()
            ));
        }
        if let Some(script) = script {
            let code = self.userdata.run(&vm, &script).await;
            let _ = vm.update(|s| {
                if s.boot.generation == generation && s.userdata == Userdata::Running {
                    s.userdata = Userdata::Finished(code);
                }
                Ok(())
            });
        }
    }
}

/// Writes the serial-console lines of a guest kernel and init coming up.
fn write_banner(vm: &Vm) {
    let ram_mib = vm.ram_bytes() >> 20;
    vm.log.append(&format!(
        "[    0.000000] Linux version 6.1.141 (builder@slicer) #1 SMP PREEMPT_DYNAMIC\n\
         [    0.000000] Command line: console=ttyS0 reboot=k panic=1 ip={ip}::{gw}:255.255.255.0::eth0:off\n\
         [    0.012904] Memory: {ram_mib}MiB available\n\
         [    0.046187] smp: Brought up 1 node, {cpus} CPU{s}\n\
         [    0.181337] virtio_blk virtio0: [vda] 20971520 512-byte logical blocks (10.7 GB/10.0 GiB)\n\
         [    0.204412] virtio_net virtio1 eth0: renamed from enp0s1\n\
         [    0.392015] EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: none.\n\
         [    0.511870] systemd[1]: Hostname set to <{host}>.\n\
         [  OK  ] Started systemd-journald.service - Journal Service.\n\
         [  OK  ] Reached target network-online.target - Network is Online.",
        ip = vm.id.ip,
        gw = gateway(&vm.id.ip),
        cpus = vm.cpus(),
        s = if vm.cpus() == 1 { "" } else { "s" },
        host = vm.hostname(),
    ));
}

/// The `.1` address of an IPv4 address's /24, the usual gateway.
fn gateway(ip: &str) -> String {
    match ip.rsplit_once('.') {
        Some((net, _)) if !net.contains(':') => format!("{net}.1"),
        _ => String::new(),
    }
}

/// Appends the lines of a guest powering off or restarting.
pub(crate) fn log_power_down(vm: &Vm, reboot: bool) {
    let last = if reboot {
        "reboot: Restarting system"
    } else {
        "reboot: Power down"
    };
    vm.log.append(&format!(
        "[  OK  ] Stopped slicer-agent.service - Slicer guest agent.\n\
         [  OK  ] Reached target {target}.target.\n{last}",
        target = if reboot { "reboot" } else { "poweroff" },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::VmIdentity;
    use slicer_core::CreateVmRequest;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts runs and exits with a chosen code.
    struct Scripted {
        code: i32,
        runs: AtomicUsize,
    }

    #[async_trait]
    impl UserdataRunner for Scripted {
        async fn run(&self, vm: &Vm, script: &str) -> i32 {
            self.runs.fetch_add(1, Ordering::SeqCst);
            vm.log.append(&format!("ran {script}"));
            self.code
        }
    }

    fn vm(userdata: Option<&str>) -> Arc<Vm> {
        let id = VmIdentity {
            hostname: "t-1".into(),
            group: "t".into(),
            seq: 1,
            ip: "192.168.137.2".into(),
            arch: "amd64".into(),
            machine: "x86_64".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            protected: false,
        };
        let spec = CreateVmRequest {
            userdata: userdata.map(str::to_owned),
            cpus: Some(1),
            ram_bytes: Some(1 << 30),
            ..Default::default()
        };
        Arc::new(Vm::new(id, spec, vec![], PathBuf::from("/nonexistent")))
    }

    fn boot(agent: &Agent, vm: &Arc<Vm>) {
        let generation = vm.update(|s| Ok(s.begin_boot(true))).unwrap();
        agent.spawn_boot(vm, generation, true);
    }

    #[tokio::test]
    async fn userdata_runs_once_and_its_exit_code_is_kept() {
        let runner = Arc::new(Scripted {
            code: 7,
            runs: AtomicUsize::new(0),
        });
        let agent = Agent {
            boot_delay: Duration::ZERO,
            userdata: runner.clone(),
            sandbox: Arc::new(Sandbox::new(None)),
            legacy: false,
        };
        let vm = vm(Some("job"));
        boot(&agent, &vm);
        let mut rx = vm.subscribe();
        rx.wait_for(|s| s.userdata == Userdata::Finished(7))
            .await
            .unwrap();
        assert!(vm.log.tail(0).contains("ran job"));
        assert!(vm.log.tail(0).contains("Linux version"));
        boot(&agent, &vm);
        rx.wait_for(|s| s.agent_ready()).await.unwrap();
        assert_eq!(
            runner.runs.load(Ordering::SeqCst),
            1,
            "userdata is first-boot only"
        );
        assert_eq!(vm.state().userdata, Userdata::Finished(7));
    }

    #[tokio::test]
    async fn a_paused_boot_raises_the_agent_only_after_resume() {
        let agent = Agent::simulated(Duration::ZERO);
        let vm = vm(None);
        boot(&agent, &vm);
        vm.update(|s| {
            s.power = Power::Paused;
            Ok(())
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!vm.state().boot.agent_up);
        vm.update(|s| {
            s.power = Power::Running;
            Ok(())
        })
        .unwrap();
        vm.subscribe().wait_for(|s| s.agent_ready()).await.unwrap();
    }

    #[tokio::test]
    async fn removal_stops_the_boot() {
        let agent = Agent::simulated(Duration::from_millis(10));
        let vm = vm(Some("x"));
        boot(&agent, &vm);
        vm.mark_removed();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let s = vm.state();
        assert!(s.removed && !s.boot.agent_up);
        assert_eq!(s.userdata, Userdata::Pending);
    }

    #[test]
    fn gateways() {
        assert_eq!(gateway("192.168.137.9"), "192.168.137.1");
        assert_eq!(gateway("fd00::2"), "");
    }
}
