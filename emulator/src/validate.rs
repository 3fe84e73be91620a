//! Checks on create requests, and the address and architecture forms
//! the API uses.

use std::net::IpAddr;

use slicer_core::{CreateVmRequest, HostGroup, NetworkPolicy};

use crate::config::is_dns_label;
use crate::error::ApiError;
use crate::secrets;
use crate::tags;

/// Checks a create request against its group and fills in the defaults.
/// Returns the stored request (tags moved out) and the tags.
pub(crate) fn validate_create(
    group: &HostGroup,
    mut req: CreateVmRequest,
) -> Result<(CreateVmRequest, Vec<String>), ApiError> {
    let bad = |message: String| ApiError::bad_request(message);
    let cpus = req.cpus.unwrap_or(group.cpus);
    if cpus == 0 {
        return Err(bad("cpus must be at least 1".to_owned()));
    }
    if cpus > group.cpus {
        return Err(bad(format!(
            "cpus {cpus} exceeds the maximum of {} for host group {:?}",
            group.cpus, group.name
        )));
    }
    let ram = req.ram_bytes.unwrap_or(group.ram_bytes);
    if ram == 0 {
        return Err(bad("ram_bytes must be greater than 0".to_owned()));
    }
    if ram > group.ram_bytes {
        return Err(bad(format!(
            "ram_bytes {ram} exceeds the maximum of {} for host group {:?}",
            group.ram_bytes, group.name
        )));
    }
    if let Some(gpus) = req.gpu_count.filter(|&g| g > group.gpu_count) {
        return Err(bad(format!(
            "gpu_count {gpus} exceeds the {} GPUs of host group {:?}",
            group.gpu_count, group.name
        )));
    }
    if let Some(hostname) = &req.hostname {
        if !is_dns_label(hostname) {
            return Err(bad(format!(
                "invalid hostname {hostname:?}: use 1-63 lowercase letters, digits and '-'"
            )));
        }
    }
    if let Some(ip) = &req.ip {
        if bare_ip(ip).is_none() {
            return Err(bad(format!(
                "invalid ip {ip:?}: expected an address such as 192.168.137.10"
            )));
        }
    }
    if let Some(network) = &req.network {
        validate_policy(network)?;
    }
    for name in &req.secrets {
        secrets::validate_name(name).map_err(|e| bad(format!("invalid secrets entry: {e}")))?;
    }
    let tags = tags::for_create(&req.tags).map_err(bad)?;
    req.tags = Vec::new();
    req.cpus = Some(cpus);
    req.ram_bytes = Some(ram);
    Ok((req, tags))
}

/// Every entry of an egress policy must be a CIDR.
fn validate_policy(policy: &NetworkPolicy) -> Result<(), ApiError> {
    let lists = [("allow", &policy.allow), ("drop", &policy.drop)];
    for (which, list) in lists {
        for cidr in list.iter().flatten() {
            if !is_cidr(cidr) {
                return Err(ApiError::bad_request(format!(
                    "invalid network.{which} entry {cidr:?}: expected a CIDR such as 10.0.0.0/8"
                )));
            }
        }
    }
    Ok(())
}

/// `addr/prefix` with a prefix that fits the address family.
fn is_cidr(text: &str) -> bool {
    let Some((addr, prefix)) = text.split_once('/') else {
        return false;
    };
    let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u8>()) else {
        return false;
    };
    prefix <= if addr.is_ipv4() { 32 } else { 128 }
}

/// An address given bare or with a prefix length.
pub(crate) fn bare_ip(text: &str) -> Option<IpAddr> {
    match text.split_once('/') {
        Some(_) if !is_cidr(text) => None,
        Some((addr, _)) => addr.parse().ok(),
        None => text.parse().ok(),
    }
}

/// Go's name for an architecture (`amd64`, `arm64`).
pub(crate) fn go_arch(arch: &str) -> String {
    match arch {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        other => other,
    }
    .to_owned()
}

/// The kernel's name for an architecture (`x86_64`, `aarch64`).
pub(crate) fn uname_arch(arch: &str) -> String {
    match arch {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_validation() {
        let g = crate::config::host_group("sbox");
        let (spec, tags) = validate_create(
            &g,
            CreateVmRequest {
                tags: vec!["a".into(), "a".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((spec.cpus, spec.ram_bytes), (Some(2), Some(4 << 30)));
        assert_eq!(tags, vec!["a"]);
        assert!(spec.tags.is_empty());
        let over = |req: CreateVmRequest| validate_create(&g, req).unwrap_err().message;
        assert!(over(CreateVmRequest {
            cpus: Some(3),
            ..Default::default()
        })
        .contains("cpus 3 exceeds"));
        assert!(over(CreateVmRequest {
            cpus: Some(0),
            ..Default::default()
        })
        .contains("at least 1"));
        assert!(over(CreateVmRequest {
            ram_bytes: Some(5 << 30),
            ..Default::default()
        })
        .contains("ram_bytes"));
        assert!(over(CreateVmRequest {
            gpu_count: Some(1),
            ..Default::default()
        })
        .contains("GPU"));
        assert!(over(CreateVmRequest {
            hostname: Some("A_b".into()),
            ..Default::default()
        })
        .contains("hostname"));
        assert!(over(CreateVmRequest {
            ip: Some("1.2.3".into()),
            ..Default::default()
        })
        .contains("ip"));
        assert!(over(CreateVmRequest {
            secrets: vec!["..".into()],
            ..Default::default()
        })
        .contains("secrets"));
        let policy = NetworkPolicy {
            allow: Some(vec!["10.0.0.0/33".into()]),
            drop: None,
        };
        assert!(over(CreateVmRequest {
            network: Some(policy),
            ..Default::default()
        })
        .contains("network.allow"));
    }

    #[test]
    fn addresses() {
        assert!(is_cidr("10.0.0.0/8"));
        assert!(is_cidr("fd00::/64"));
        assert!(!is_cidr("10.0.0.0"));
        assert!(!is_cidr("10.0.0.0/40"));
        assert_eq!(bare_ip("192.168.1.2/24"), Some([192, 168, 1, 2].into()));
        assert_eq!(bare_ip("192.168.1.2"), Some([192, 168, 1, 2].into()));
        assert_eq!(bare_ip("192.168.1.2/99"), None);
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(uname_arch("arm64"), "aarch64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }
}
