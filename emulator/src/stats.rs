//! Plausible metering snapshots: values derived from uptime and a per-VM
//! phase, so they drift slowly and a dashboard chart moves, yet repeat
//! requests a moment apart agree.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use slicer_core::wire::format_go_duration;
use slicer_core::{NodeStats, StatsSnapshot};
use time::OffsetDateTime;

use crate::vm::{Power, Vm, VmState};

/// Disk size reported for every VM.
const DISK_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// The stats entry for one VM: a snapshot while its agent runs, otherwise
/// `snapshot: null` and an `error` saying why.
pub(crate) fn node_stats(vm: &Vm) -> NodeStats {
    let state = vm.state();
    let (snapshot, error) = match unavailable(&state) {
        Some(why) => (None, why.to_owned()),
        None => (Some(snapshot(vm, &state)), String::new()),
    };
    NodeStats {
        hostname: vm.hostname().to_owned(),
        ip: vm.id.ip.clone(),
        created_at: Some(vm.id.created_at),
        snapshot,
        error,
    }
}

/// Why no snapshot can be read, if so.
fn unavailable(state: &VmState) -> Option<&'static str> {
    match state.power {
        Power::Paused => Some("VM is paused: the metering service is not running"),
        Power::Stopped => Some("VM is stopped: the metering service is not running"),
        Power::Suspended => Some("VM is suspended: the metering service is not running"),
        Power::Running if !state.boot.agent_up => {
            Some("VM is booting: the metering service is not running yet")
        }
        Power::Running => None,
    }
}

/// A snapshot for a running VM.
fn snapshot(vm: &Vm, state: &VmState) -> StatsSnapshot {
    let uptime = state.system_uptime();
    let t = uptime.as_secs_f64();
    let phase = phase(vm.hostname());
    let wave = |period: f64, shift: f64| (t / period + phase * shift).sin();

    let total_memory = vm.ram_bytes() / 100 * 96;
    let used_share = (0.14 + 0.05 * wave(97.0, 1.0) + 0.02 * wave(23.0, 2.0)).clamp(0.05, 0.95);
    let memory_used = (total_memory as f64 * used_share) as u64;
    let cpus = f64::from(vm.cpus());
    let load = |period: f64, shift: f64| round2((0.12 + 0.1 * wave(period, shift)).max(0.0) * cpus);
    let disk_used = 912_261_120 + (t * 2048.0) as u64;

    StatsSnapshot {
        hostname: vm.hostname().to_owned(),
        arch: vm.id.machine.clone(),
        timestamp: Some(OffsetDateTime::now_utc()),
        uptime: format_go_duration(Duration::from_secs(uptime.as_secs())),
        total_cpus: vm.cpus(),
        total_memory,
        memory_used,
        memory_available: total_memory - memory_used,
        memory_used_percent: round2(used_share * 100.0),
        load_avg1: load(31.0, 3.0),
        load_avg5: load(157.0, 2.0),
        load_avg15: load(467.0, 1.5),
        disk_read_total: (51_200_000.0 + t * 12_000.0).round(),
        disk_write_total: (4_096_000.0 + t * 3_500.0).round(),
        network_read_total: (30_500.0 + t * 410.0).round(),
        network_write_total: (12_800.0 + t * 190.0).round(),
        disk_io_inflight: 0,
        open_connections: 2 + (wave(41.0, 4.0) + 1.0).round() as i64,
        open_files: 391 + (8.0 * (wave(53.0, 5.0) + 1.0)) as i64,
        entropy: 256,
        disk_space_total: DISK_BYTES,
        disk_space_used: disk_used,
        disk_space_free: DISK_BYTES - disk_used,
        disk_space_used_percent: round2(disk_used as f64 * 100.0 / DISK_BYTES as f64),
    }
}

/// A stable per-hostname phase in `[0, 2π)`, so VMs do not move in lockstep.
fn phase(hostname: &str) -> f64 {
    let mut h = DefaultHasher::new();
    hostname.hash(&mut h);
    (h.finish() % 6283) as f64 / 1000.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::VmIdentity;
    use slicer_core::CreateVmRequest;
    use std::path::PathBuf;

    fn running_vm() -> Vm {
        let id = VmIdentity {
            hostname: "sbox-4".into(),
            group: "sbox".into(),
            seq: 4,
            ip: "192.168.137.5".into(),
            arch: "amd64".into(),
            machine: "x86_64".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            protected: false,
        };
        let spec = CreateVmRequest {
            cpus: Some(2),
            ram_bytes: Some(2 << 30),
            ..Default::default()
        };
        Vm::new(id, spec, vec![], PathBuf::from("/nonexistent"))
    }

    #[test]
    fn snapshot_is_consistent() {
        let vm = running_vm();
        vm.update(|s| {
            s.boot.agent_up = true;
            Ok(())
        })
        .unwrap();
        let stats = node_stats(&vm);
        assert!(stats.error.is_empty());
        let snap = stats.snapshot.unwrap();
        assert_eq!(snap.memory_used + snap.memory_available, snap.total_memory);
        assert_eq!(
            snap.disk_space_used + snap.disk_space_free,
            snap.disk_space_total
        );
        assert!(snap.memory_used_percent > 0.0 && snap.memory_used_percent < 100.0);
        assert!(snap.load_avg1 >= 0.0);
        assert_eq!(snap.uptime, "0s");
        assert_eq!(snap.arch, "x86_64");
    }

    #[test]
    fn no_snapshot_unless_the_agent_runs() {
        let vm = running_vm();
        assert!(node_stats(&vm).error.contains("booting"));
        for (power, word) in [
            (Power::Paused, "paused"),
            (Power::Stopped, "stopped"),
            (Power::Suspended, "suspended"),
        ] {
            vm.update(|s| {
                s.power = power;
                s.boot.agent_up = true;
                Ok(())
            })
            .unwrap();
            let stats = node_stats(&vm);
            assert!(stats.snapshot.is_none());
            assert!(stats.error.contains(word), "{}", stats.error);
        }
    }
}
