//! Emulator configuration, and parsers for the textual forms the command
//! line accepts (listen addresses, sizes, host-group specs).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use slicer_core::{gib, HostGroup};

/// Default time between a boot (create, relaunch, restore, reboot) and the
/// simulated guest agent answering.
pub const DEFAULT_BOOT_DELAY: Duration = Duration::from_millis(100);

/// Default vCPUs of a host group.
pub const DEFAULT_GROUP_CPUS: u32 = 2;

/// Default RAM of a host group, in bytes.
pub const DEFAULT_GROUP_RAM: u64 = gib(4);

/// Where the emulator listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A UNIX socket path. A stale socket file at the path is replaced.
    Unix(PathBuf),
}

impl Default for Listen {
    /// `127.0.0.1:0`: loopback, on a port the system picks.
    fn default() -> Self {
        Listen::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}

/// How clients authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// A random token, written to `<data-dir>/token`. An existing non-empty
    /// token file in a kept data directory is reused.
    #[default]
    Generated,
    /// This token; it is also written to `<data-dir>/token`.
    Token(String),
    /// The token stored in this file (whitespace trimmed; must not be empty).
    TokenFile(PathBuf),
    /// No authentication: every endpoint is open.
    Disabled,
}

/// Everything the emulator needs to start. Build it with struct update
/// syntax so fields added later keep callers compiling:
///
/// ```
/// use slicer_emulator::{Auth, EmulatorConfig};
/// let config = EmulatorConfig { auth: Auth::Disabled, ..Default::default() };
/// assert_eq!(config.host_groups[0].name, "sbox");
/// ```
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen (default `127.0.0.1:0`).
    pub listen: Listen,
    /// How clients authenticate (default: a generated token).
    pub auth: Auth,
    /// Directory for secrets, VM root directories and the token file. `None`
    /// uses a temporary directory that is removed when the emulator stops.
    /// The `vms/` subdirectory belongs to the emulator and is emptied at
    /// start and at shutdown, since VMs live only as long as the process.
    pub data_dir: Option<PathBuf>,
    /// The host groups VMs are created in (default: one `sbox` group with
    /// 2 vCPUs, 4 GiB and no pre-created VMs). `count` VMs are created in
    /// each group at start and protected from deletion.
    pub host_groups: Vec<HostGroup>,
    /// How long after a boot the simulated guest agent comes up.
    pub agent_boot_delay: Duration,
    /// Origins allowed to call the API from a browser (CORS). Empty, the
    /// default, sends no CORS headers, as a real daemon does.
    pub cors_origins: Vec<String>,
    /// Behave like a seed-era guest agent: exec answers untyped frames and
    /// ignores `stdio`, and cp refuses the cp-v1 modes (400
    /// `invalid mode: …`), so clients can test their fallbacks.
    pub legacy_agent: bool,
    /// The bubblewrap program guest processes run under; `None` looks for
    /// `bwrap` on `PATH` (then `/usr/bin/bwrap`). Without it the emulator
    /// still starts, and every exec answers an error naming bwrap.
    pub bwrap: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: Listen::default(),
            auth: Auth::default(),
            data_dir: None,
            host_groups: vec![host_group("sbox")],
            agent_boot_delay: DEFAULT_BOOT_DELAY,
            cors_origins: Vec::new(),
            legacy_agent: false,
            bwrap: None,
        }
    }
}

/// A host group with the emulator's defaults: 2 vCPUs, 4 GiB, no
/// pre-created VMs, no GPUs, `x86_64`.
///
/// ```
/// let g = slicer_emulator::host_group("gpu");
/// assert_eq!((g.cpus, g.count), (2, 0));
/// ```
pub fn host_group(name: &str) -> HostGroup {
    HostGroup {
        name: name.to_owned(),
        count: 0,
        ram_bytes: DEFAULT_GROUP_RAM,
        cpus: DEFAULT_GROUP_CPUS,
        gpu_count: 0,
        arch: "x86_64".to_owned(),
    }
}

/// Whether `s` is a lowercase DNS label: 1 to 63 of `a-z`, `0-9` and `-`,
/// neither starting nor ending with `-`.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses a listen address: a UNIX socket path when the text starts with
/// `/`, `./`, `../` or `unix://`, or ends with `.sock`; otherwise a TCP
/// `IP:PORT`.
///
/// # Errors
/// A message naming the expected forms.
///
/// ```
/// use slicer_emulator::{parse_listen, Listen};
/// assert_eq!(parse_listen("unix:///tmp/s.sock").unwrap(), Listen::Unix("/tmp/s.sock".into()));
/// assert!(matches!(parse_listen("127.0.0.1:0").unwrap(), Listen::Tcp(_)));
/// assert!(parse_listen("localhost").is_err());
/// ```
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    let s = s.trim();
    let path = s.strip_prefix("unix://").unwrap_or(s);
    let is_socket = s.starts_with("unix://")
        || ["/", "./", "../"].iter().any(|p| path.starts_with(p))
        || path.ends_with(".sock");
    if is_socket {
        if path.is_empty() {
            return Err("the UNIX socket path is empty".to_owned());
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    s.parse::<SocketAddr>().map(Listen::Tcp).map_err(|_| {
        format!("invalid listen address {s:?}: expected IP:PORT (such as 127.0.0.1:8080) or a UNIX socket path")
    })
}

/// Parses a byte size: plain bytes (`4294967296`) or a number with a binary
/// unit, case-insensitive: `K`, `M`, `G`, `T`, optionally followed by `B` or
/// `iB` (`512M`, `4G`, `4GiB`, `1.5G`). Every unit is a power of 1024.
///
/// # Errors
/// A message naming the problem.
///
/// ```
/// use slicer_emulator::parse_size;
/// assert_eq!(parse_size("512M").unwrap(), 512 << 20);
/// assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
/// assert!(parse_size("4 parsecs").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let bad = || {
        format!("invalid size {s:?}: expected bytes or a number with K, M, G or T (such as 512M or 4GiB)")
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(1u64 << shift)
            .ok_or_else(|| format!("size {s:?} is too large"));
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {s:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a host-group spec, `NAME[,cpus=N][,ram=SIZE][,count=K][,gpus=N][,arch=A]`.
///
/// # Errors
/// A message naming the bad part.
///
/// ```
/// let g = slicer_emulator::parse_host_group("ci,cpus=4,ram=8G,count=1").unwrap();
/// assert_eq!((g.name.as_str(), g.cpus, g.ram_bytes, g.count), ("ci", 4, 8 << 30, 1));
/// ```
pub fn parse_host_group(spec: &str) -> Result<HostGroup, String> {
    let mut parts = spec.split(',');
    let name = parts.next().unwrap_or_default().trim();
    if !is_dns_label(name) {
        return Err(format!(
            "invalid host group name {name:?} in {spec:?}: use 1-63 lowercase letters, digits and '-'"
        ));
    }
    let mut group = host_group(name);
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            format!("invalid host group option {part:?} in {spec:?}: expected KEY=VALUE")
        })?;
        let value = value.trim();
        let number = |what: &str| {
            value.parse::<u32>().map_err(|_| {
                format!("invalid {what} {value:?} in host group {name:?}: expected a whole number")
            })
        };
        match key.trim() {
            "cpus" => group.cpus = number("cpus")?,
            "ram" | "ram_bytes" => group.ram_bytes = parse_size(value)?,
            "count" => group.count = number("count")?,
            "gpus" | "gpu_count" => group.gpu_count = number("gpu count")?,
            "arch" if value.is_empty() => return Err(format!("empty arch in host group {name:?}")),
            "arch" => group.arch = value.to_owned(),
            other => {
                return Err(format!(
                    "unknown host group option {other:?} in {spec:?}: expected cpus, ram, count, gpus or arch"
                ))
            }
        }
    }
    validate_host_group(&group)?;
    Ok(group)
}

/// Checks a host group's values.
pub(crate) fn validate_host_group(group: &HostGroup) -> Result<(), String> {
    if !is_dns_label(&group.name) {
        return Err(format!(
            "invalid host group name {:?}: use 1-63 lowercase letters, digits and '-'",
            group.name
        ));
    }
    if group.cpus == 0 {
        return Err(format!(
            "host group {:?} needs at least one vCPU",
            group.name
        ));
    }
    if group.ram_bytes == 0 {
        return Err(format!("host group {:?} needs some RAM", group.name));
    }
    if group.count > 250 {
        return Err(format!(
            "host group {:?} pre-creates {} VMs; at most 250 fit its address range",
            group.name, group.count
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        for (text, path) in [
            ("/run/s.sock", "/run/s.sock"),
            ("./s.sock", "./s.sock"),
            ("../x", "../x"),
            ("api.sock", "api.sock"),
            ("unix:///srv/api", "/srv/api"),
        ] {
            assert_eq!(
                parse_listen(text).unwrap(),
                Listen::Unix(path.into()),
                "{text}"
            );
        }
        assert_eq!(
            parse_listen("127.0.0.1:8080").unwrap(),
            Listen::Tcp("127.0.0.1:8080".parse().unwrap())
        );
        assert!(parse_listen("[::1]:0").is_ok());
        let err = parse_listen("localhost:80").unwrap_err();
        assert!(err.contains("IP:PORT"), "{err}");
        assert!(parse_listen("unix://").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4GB").unwrap(), 4 << 30);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("2k").unwrap(), 2048);
        for bad in ["", "G", "4X", "-1", "4 G B", "1..2G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("99999999T").unwrap_err().contains("too large"));
    }

    #[test]
    fn host_group_specs() {
        let g = parse_host_group("sbox").unwrap();
        assert_eq!(g, host_group("sbox"));
        let g = parse_host_group("gpu,gpus=1,arch=aarch64,ram=512M").unwrap();
        assert_eq!(
            (g.gpu_count, g.arch.as_str(), g.ram_bytes),
            (1, "aarch64", 512 << 20)
        );
        assert!(parse_host_group("Bad")
            .unwrap_err()
            .contains("host group name"));
        assert!(parse_host_group("a,cpus=x").unwrap_err().contains("cpus"));
        assert!(parse_host_group("a,cpus=0").unwrap_err().contains("vCPU"));
        assert!(parse_host_group("a,colour=red")
            .unwrap_err()
            .contains("colour"));
        assert!(parse_host_group("a,cpus")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_host_group("a,ram=lots").unwrap_err().contains("lots"));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("a"));
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
