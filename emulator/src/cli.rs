//! The `slicer-emulator` command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use slicer_core::wire::parse_go_duration;
use slicer_core::HostGroup;

use crate::config::{host_group, parse_host_group, parse_listen, Auth, EmulatorConfig, Listen};

/// Command-line options of `slicer-emulator`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "slicer-emulator",
    version,
    about = "A local Slicer-compatible API server for tests, demos and offline development",
    after_help = "The first line printed is `listening on http://ADDR` (or `unix://PATH`), once \
                  connections are accepted; with auth on, the second is `token: <token file>`."
)]
pub struct Cli {
    /// TCP address (IP:PORT) or UNIX socket path (starting with /, ./, ../ or unix://, or ending in .sock).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: Listen,

    /// Bearer token clients must send (default: a generated one).
    #[arg(long, value_name = "TOKEN", value_parser = non_empty_token, conflicts_with_all = ["token_file", "no_auth"])]
    pub token: Option<String>,

    /// File holding the bearer token.
    #[arg(long, value_name = "FILE", conflicts_with = "no_auth")]
    pub token_file: Option<PathBuf>,

    /// Serve without authentication (the default for UNIX sockets).
    #[arg(long)]
    pub no_auth: bool,

    /// Directory for secrets, VM roots and the token file (default: a temporary directory removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Host group NAME[,cpus=N][,ram=SIZE][,count=K][,gpus=N][,arch=A]; repeatable (default: sbox).
    // The text doubles as `--help`, so the brackets stay bare for readers.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "host-group", value_name = "SPEC", value_parser = parse_host_group)]
    pub host_groups: Vec<HostGroup>,

    /// Time from a VM boot to its guest agent answering, as a Go duration.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_go_duration)]
    pub boot_delay: Duration,

    /// Allow browser pages from ORIGIN (such as http://127.0.0.1:5173) to call
    /// the API directly; repeatable. Off by default, like a real daemon.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Behave like a seed-era guest agent: untyped exec frames, stdio ignored, cp-v1 modes refused.
    #[arg(long)]
    pub legacy_agent: bool,

    /// The bubblewrap program guest processes run under (default: bwrap on PATH, else /usr/bin/bwrap).
    #[arg(long, value_name = "PATH")]
    pub bwrap: Option<PathBuf>,
}

fn parse_origin(s: &str) -> Result<String, String> {
    crate::cors::check_origin(s).map(str::to_owned)
}

fn non_empty_token(s: &str) -> Result<String, String> {
    let token = s.trim();
    if token.is_empty() {
        return Err("the token is empty".to_owned());
    }
    Ok(token.to_owned())
}

impl Cli {
    /// The emulator configuration these options describe. Auth is on with a
    /// generated token unless chosen otherwise, except on a UNIX socket,
    /// which (like the daemon) defaults to no auth.
    pub fn config(&self) -> EmulatorConfig {
        let auth = if self.no_auth {
            Auth::Disabled
        } else if let Some(token) = &self.token {
            Auth::Token(token.clone())
        } else if let Some(file) = &self.token_file {
            Auth::TokenFile(file.clone())
        } else if matches!(self.listen, Listen::Unix(_)) {
            Auth::Disabled
        } else {
            Auth::Generated
        };
        let host_groups = if self.host_groups.is_empty() {
            vec![host_group("sbox")]
        } else {
            self.host_groups.clone()
        };
        EmulatorConfig {
            listen: self.listen.clone(),
            auth,
            data_dir: self.data_dir.clone(),
            host_groups,
            agent_boot_delay: self.boot_delay,
            cors_origins: self.cors_origins.clone(),
            legacy_agent: self.legacy_agent,
            bwrap: self.bwrap.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("slicer-emulator").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).unwrap().config();
        assert_eq!(
            config.listen,
            Listen::Tcp("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(config.auth, Auth::Generated);
        assert_eq!(config.host_groups, vec![host_group("sbox")]);
        assert_eq!(config.agent_boot_delay, Duration::from_millis(100));
        assert!(config.data_dir.is_none());
    }

    #[test]
    fn options() {
        let cli = parse(&[
            "--listen",
            "unix:///tmp/x.sock",
            "--host-group",
            "a,count=2",
            "--host-group",
            "b,ram=1G",
            "--boot-delay",
            "1.5s",
            "--data-dir",
            "/tmp/d",
        ])
        .unwrap();
        let config = cli.config();
        assert_eq!(config.auth, Auth::Disabled, "sockets default to no auth");
        assert_eq!(config.host_groups.len(), 2);
        assert_eq!(config.host_groups[0].count, 2);
        assert_eq!(config.host_groups[1].ram_bytes, 1 << 30);
        assert_eq!(config.agent_boot_delay, Duration::from_millis(1500));
        let with_token = parse(&["--listen", "/tmp/x.sock", "--token", "t"])
            .unwrap()
            .config();
        assert_eq!(with_token.auth, Auth::Token("t".into()));
        assert_eq!(parse(&["--no-auth"]).unwrap().config().auth, Auth::Disabled);
        assert_eq!(
            parse(&["--token-file", "/f"]).unwrap().config().auth,
            Auth::TokenFile("/f".into())
        );
        let guest = parse(&["--legacy-agent", "--bwrap", "/opt/bwrap"])
            .unwrap()
            .config();
        assert!(guest.legacy_agent);
        assert_eq!(
            guest.bwrap.as_deref(),
            Some(std::path::Path::new("/opt/bwrap"))
        );
        assert!(!cli.config().legacy_agent && cli.config().bwrap.is_none());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            &["--listen", "nowhere"][..],
            &["--token", "a", "--no-auth"],
            &["--token", "a", "--token-file", "f"],
            &["--token", " "],
            &["--host-group", "Bad"],
            &["--boot-delay", "soon"],
            &["--frobnicate"],
        ] {
            let err = parse(args).unwrap_err();
            assert_ne!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
