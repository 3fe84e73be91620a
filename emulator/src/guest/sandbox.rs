//! Guest processes: each runs under bubblewrap (`bwrap`), confined to its
//! VM's root directory.
//!
//! The sandbox has the host's `/usr` read-only (with the usual `/bin`,
//! `/lib`, `/lib64` and `/sbin` links), every top-level directory of the
//! VM's root (at least `/home`, `/tmp`, `/etc` and `/root`) writable at the
//! same place, its own `/proc`, `/dev`, PID namespace and hostname, and a
//! clean environment. It dies with the emulator (`--die-with-parent`).
//!
//! bwrap runs in a process group of its own. Its outer process and the
//! sandbox's init are bubblewrap's; the command is a child of that init.
//! SIGKILL goes to the whole group, which tears the sandbox down; every
//! other signal goes only to the processes of the group that are not
//! bubblewrap's, so the command sees it (and its handlers run) while bwrap
//! stays to report how it ended.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, Signal};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::paths::{parse_guest_path, resolve, GuestRoot, Kind, Meta, Namespace, Node, HOST_DIRS};
use crate::error::ApiError;
use crate::vm::{Power, Vm};

/// `PATH` inside the sandbox.
pub(crate) const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The account used when a request gives no `uid` (PROTOCOL §3.10).
pub(crate) const DEFAULT_UID: u32 = 1000;

/// A guest account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Login name (the uid as text when the VM's `/etc/passwd` lacks it).
    pub name: String,
    /// Home directory, a guest path.
    pub home: String,
}

/// The account for a request's `uid` and `gid`: absent `uid` is `ubuntu`
/// (1000); an absent `gid` is the account's primary group from the VM's
/// `/etc/passwd`, else the uid.
pub(crate) fn identity(root: &GuestRoot, uid: Option<u32>, gid: Option<u32>) -> Identity {
    let uid = uid.unwrap_or(DEFAULT_UID);
    let passwd = root.read_small("/etc/passwd", 1 << 20).unwrap_or_default();
    let entry = String::from_utf8_lossy(&passwd).lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid))
            .then(|| (f[0].to_owned(), f[3].parse::<u32>().ok(), f[5].to_owned()))
    });
    let (name, primary, home) = match entry {
        Some((name, primary, home)) if home.starts_with('/') => (name, primary, home),
        Some((name, primary, _)) => (name, primary, "/".to_owned()),
        None => match uid {
            0 => ("root".to_owned(), Some(0), "/root".to_owned()),
            DEFAULT_UID => ("ubuntu".to_owned(), Some(1000), "/home/ubuntu".to_owned()),
            other => (other.to_string(), None, "/".to_owned()),
        },
    };
    Identity {
        uid,
        gid: gid.or(primary).unwrap_or(uid),
        name,
        home,
    }
}

/// The file tree as processes in the sandbox see it: the host's `/usr` (and
/// links into it) on top of the VM's root directories. Used to check a
/// working directory and to find a command before starting it.
pub(crate) struct SandboxView<'a> {
    root: &'a GuestRoot,
}

impl<'a> SandboxView<'a> {
    pub fn new(root: &'a GuestRoot) -> Self {
        SandboxView { root }
    }
}

impl Namespace for SandboxView<'_> {
    fn lookup(&self, comps: &[OsString]) -> io::Result<Node> {
        let Some(first) = comps.first() else {
            return Ok(Node::Entry(Meta {
                kind: Kind::Dir,
                mode: 0o755,
                size: 0,
                mtime: 0,
                mtime_nsec: 0,
            }));
        };
        match first.to_str() {
            Some("usr") => {
                let mut host = PathBuf::from("/");
                host.extend(comps);
                host_lookup(&host)
            }
            Some(link @ ("bin" | "lib" | "lib64" | "sbin")) if comps.len() == 1 => {
                if Path::new("/usr").join(link).is_dir() {
                    let meta = Meta {
                        kind: Kind::Symlink,
                        mode: 0o777,
                        size: 0,
                        mtime: 0,
                        mtime_nsec: 0,
                    };
                    Ok(Node::Link(meta, OsString::from(format!("usr/{link}"))))
                } else {
                    Err(io::ErrorKind::NotFound.into())
                }
            }
            Some("proc" | "dev") => Ok(Node::Opaque),
            Some(name) if HOST_DIRS.contains(&name) => Err(io::ErrorKind::NotFound.into()),
            _ => {
                // Only directories at the top of the VM's root are mounted.
                match self.root.lookup(&comps[..1])? {
                    Node::Entry(m) if m.kind == Kind::Dir => self.root.lookup(comps),
                    _ => Err(io::ErrorKind::NotFound.into()),
                }
            }
        }
    }
}

fn host_lookup(path: &Path) -> io::Result<Node> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)?;
        return Ok(Node::Link(
            Meta::from_metadata(&meta),
            target.into_os_string(),
        ));
    }
    Ok(Node::Entry(Meta::from_metadata(&meta)))
}

/// A process that could not be started, reported inside the exec stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LaunchFailure {
    /// What went wrong, in the agent's wording where there is one.
    pub message: String,
    /// The exit code reported with it (127 not found, 126 not runnable).
    pub exit_code: i32,
}

impl LaunchFailure {
    fn new(message: impl Into<String>, exit_code: i32) -> Self {
        LaunchFailure {
            message: message.into(),
            exit_code,
        }
    }
}

/// Everything needed to start one guest process.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// Program and arguments; the program as given (found through `PATH`).
    pub argv: Vec<String>,
    /// Environment, complete (the sandbox starts from an empty one).
    pub env: Vec<(String, String)>,
    /// Working directory, a guest path.
    pub cwd: String,
    /// Who runs it.
    pub user: Identity,
    /// Pipe stdin (otherwise /dev/null).
    pub stdin: bool,
    /// Capture stdout (otherwise /dev/null).
    pub stdout: bool,
    /// Capture stderr (otherwise /dev/null).
    pub stderr: bool,
}

impl Launch {
    /// A launch of `argv` as `user` in `cwd` with the standard environment
    /// plus `extra` (`KEY=VALUE` pairs; later entries win).
    pub fn new(argv: Vec<String>, user: Identity, cwd: String, extra: &[(String, String)]) -> Self {
        let mut env = vec![
            ("PATH".to_owned(), GUEST_PATH.to_owned()),
            ("HOME".to_owned(), user.home.clone()),
            ("USER".to_owned(), user.name.clone()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.clone(), v.clone()));
        }
        Launch {
            argv,
            env,
            cwd,
            user,
            stdin: false,
            stdout: true,
            stderr: true,
        }
    }
}

/// Resolves a working directory (a guest path, `~` allowed) in the
/// sandbox's view.
///
/// # Errors
/// `Err(Ok(_))`: 400 for `..` or an escape; `Err(Err(_))`: the directory
/// does not exist or is not a directory, reported in the stream.
pub(crate) fn resolve_cwd(
    root: &GuestRoot,
    cwd: &str,
    home: &str,
) -> Result<String, Result<ApiError, LaunchFailure>> {
    let comps = parse_guest_path(cwd, home).map_err(Ok)?;
    let view = SandboxView::new(root);
    let resolved = resolve(&view, &comps, true, cwd).map_err(|e| {
        if e.status == axum::http::StatusCode::NOT_FOUND {
            Err(LaunchFailure::new(
                format!("chdir {cwd}: no such file or directory"),
                1,
            ))
        } else {
            Ok(e)
        }
    })?;
    if resolved.opaque || resolved.is_dir() {
        return Ok(resolved.guest_path());
    }
    let problem = if resolved.meta.is_none() {
        "no such file or directory"
    } else {
        "not a directory"
    };
    Err(Err(LaunchFailure::new(
        format!("chdir {cwd}: {problem}"),
        1,
    )))
}

/// Finds `program` as the sandbox would (`PATH` for a bare name), failing
/// the way Go's `exec` reports it.
pub(crate) fn find_program(
    root: &GuestRoot,
    program: &str,
    cwd: &str,
) -> Result<(), LaunchFailure> {
    let view = SandboxView::new(root);
    let check = |path: &str| -> Result<bool, LaunchFailure> {
        let Ok(comps) = parse_guest_path(path, cwd) else {
            // `..` in a program path: let the sandbox's kernel judge it.
            return Ok(true);
        };
        match resolve(&view, &comps, true, path) {
            Ok(r) if r.opaque => Ok(true),
            Ok(r) => match r.meta {
                Some(m) if m.kind == Kind::File && m.mode & 0o111 != 0 => Ok(true),
                Some(_) => Err(LaunchFailure::new(
                    format!("fork/exec {path}: permission denied"),
                    126,
                )),
                None => Ok(false),
            },
            Err(_) => Ok(false),
        }
    };
    if program.is_empty() {
        return Err(LaunchFailure::new("exec: no command", 127));
    }
    if program.contains('/') {
        return match check(program)? {
            true => Ok(()),
            false => Err(LaunchFailure::new(
                format!("fork/exec {program}: no such file or directory"),
                127,
            )),
        };
    }
    for dir in GUEST_PATH.split(':') {
        // A match that is not runnable does not stop the search, as in
        // Go's LookPath.
        if let Ok(true) = check(&format!("{dir}/{program}")) {
            return Ok(());
        }
    }
    Err(LaunchFailure::new(
        format!("exec: {program:?}: executable file not found in $PATH"),
        127,
    ))
}

/// How guest processes are started; one per emulator.
#[derive(Debug)]
pub(crate) struct Sandbox {
    bwrap: PathBuf,
    is_root: bool,
}

impl Sandbox {
    /// A sandbox started with the `bwrap` at `program`, or the first
    /// `bwrap` on the emulator's `PATH` (falling back to `/usr/bin/bwrap`).
    pub fn new(program: Option<PathBuf>) -> Sandbox {
        let bwrap = program.unwrap_or_else(|| {
            std::env::var_os("PATH")
                .and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join("bwrap"))
                        .find(|p| p.is_file())
                })
                .unwrap_or_else(|| PathBuf::from("/usr/bin/bwrap"))
        });
        Sandbox {
            bwrap,
            is_root: rustix::process::geteuid().is_root(),
        }
    }

    /// The bwrap program used.
    pub fn program(&self) -> &Path {
        &self.bwrap
    }

    /// Starts `launch` in `vm`'s sandbox.
    ///
    /// Call it from an async task, never from a blocking-pool thread:
    /// `--die-with-parent` ties the sandbox to the thread that forks it, and
    /// the runtime's worker threads live as long as the runtime, whereas
    /// idle blocking threads exit (and would take the sandbox with them).
    pub fn spawn(&self, vm: &Vm, launch: &Launch) -> Result<GuestProcess, LaunchFailure> {
        let root = vm.root();
        let mut cmd = Command::new(&self.bwrap);
        cmd.arg("--die-with-parent")
            .args(["--unshare-pid", "--unshare-uts", "--hostname"])
            .arg(vm.hostname())
            .args(["--ro-bind", "/usr", "/usr"]);
        for link in ["bin", "lib", "lib64", "sbin"] {
            if Path::new("/usr").join(link).is_dir() {
                cmd.args(["--symlink", &format!("usr/{link}"), &format!("/{link}")]);
            }
        }
        for dir in top_level_dirs(&root).map_err(|e| {
            LaunchFailure::new(format!("cannot read the VM's root directory: {e}"), 126)
        })? {
            let source = root.join(&dir);
            let mut target = OsString::from("/");
            target.push(&dir);
            cmd.arg("--bind").arg(source).arg(target);
        }
        cmd.args(["--proc", "/proc", "--dev", "/dev"])
            .arg("--chdir")
            .arg(&launch.cwd);
        let switch = self.is_root && (launch.user.uid, launch.user.gid) != (0, 0);
        if self.is_root && launch.user.uid == 0 {
            // Root in the guest may own and override the VM's files; the
            // capabilities that would reach the host stay dropped.
            cmd.args([
                "--cap-add",
                "CAP_CHOWN",
                "--cap-add",
                "CAP_DAC_OVERRIDE",
                "--cap-add",
                "CAP_FOWNER",
            ]);
        }
        cmd.arg("--").args(&launch.argv);
        cmd.env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .process_group(0)
            .kill_on_drop(true)
            .stdin(if launch.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(if launch.stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(if launch.stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        if switch {
            let blocked = (launch.user.uid != 0)
                .then(|| unreachable_for(&root, launch.user.uid, launch.user.gid))
                .flatten();
            if let Some(blocked) = blocked {
                return Err(LaunchFailure::new(
                    format!(
                        "uid {} cannot reach the VM's directory: {} is not searchable for it; \
                         make the emulator's data directory and its parents traversable \
                         (chmod o+x)",
                        launch.user.uid,
                        blocked.display()
                    ),
                    126,
                ));
            }
            cmd.uid(launch.user.uid).gid(launch.user.gid);
        }
        match cmd.spawn() {
            Ok(child) => Ok(GuestProcess::new(child)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LaunchFailure::new(
                format!(
                    "cannot start the guest process: bwrap (bubblewrap) was not found at {}; \
                     the emulator runs guest processes in a bubblewrap sandbox, so install \
                     bubblewrap or pass its path with --bwrap",
                    self.bwrap.display()
                ),
                127,
            )),
            Err(e) => Err(LaunchFailure::new(
                format!(
                    "cannot start the guest process with {}: {e}",
                    self.bwrap.display()
                ),
                126,
            )),
        }
    }
}

/// The real directories at the top of a VM's root, except names the
/// sandbox provides itself. Symlinks are never bound: bwrap would follow
/// them on the host.
fn top_level_dirs(root: &Path) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let reserved = name.to_str().is_some_and(|n| HOST_DIRS.contains(&n));
        if !reserved && entry.file_type()?.is_dir() {
            out.push(name);
        }
    }
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(out)
}

/// The first directory on the way to `path` that `uid`/`gid` cannot
/// search, judged by permission bits (unprivileged bwrap opens its bind
/// sources as that user).
fn unreachable_for(path: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    let mut dir = PathBuf::new();
    for comp in path.components() {
        dir.push(comp);
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        let bit = if meta.uid() == uid {
            0o100
        } else if meta.gid() == gid {
            0o010
        } else {
            0o001
        };
        if meta.is_dir() && meta.mode() & bit == 0 {
            return Some(dir);
        }
    }
    None
}

/// How a guest process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Exit code; 128+n for a process ended by signal n.
    pub code: i32,
    /// The signal (`SIGTERM`, ...), when it ended by one.
    pub signal: Option<&'static str>,
}

impl Exit {
    /// Reads a status of the bwrap process. bwrap reports a command killed
    /// by signal n as exit code 128+n, so a code of 129 to 159 counts as
    /// that signal; an explicit `exit 143` reads the same way.
    pub fn from_status(status: std::process::ExitStatus) -> Exit {
        if let Some(sig) = status.signal() {
            return Exit {
                code: 128 + sig,
                signal: signal_name(sig),
            };
        }
        let code = status.code().unwrap_or(-1);
        let signal = if (129..=159).contains(&code) {
            signal_name(code - 128)
        } else {
            None
        };
        Exit { code, signal }
    }
}

/// The name of Linux signal `n` (`SIGTERM` for 15).
pub(crate) fn signal_name(n: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// The signals the kill endpoint accepts, by wire name.
pub(crate) fn parse_signal(name: &str) -> Option<(Signal, &'static str)> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    Some(match name {
        "TERM" => (Signal::TERM, "TERM"),
        "KILL" => (Signal::KILL, "KILL"),
        "INT" => (Signal::INT, "INT"),
        "HUP" => (Signal::HUP, "HUP"),
        "QUIT" => (Signal::QUIT, "QUIT"),
        "USR1" => (Signal::USR1, "USR1"),
        "USR2" => (Signal::USR2, "USR2"),
        _ => return None,
    })
}

/// A handle that signals a guest process's group while another task waits
/// for it. It does nothing once the process has been reaped, so a recycled
/// process-group id is never signalled.
#[derive(Debug, Clone)]
pub(crate) struct ProcessGroup {
    pgid: i32,
    reaped: Arc<Mutex<bool>>,
}

impl ProcessGroup {
    /// The process-group id (the bwrap process's pid).
    pub fn id(&self) -> u32 {
        self.pgid.unsigned_abs()
    }

    fn with_live<T>(&self, f: impl FnOnce(Pid) -> T) -> Option<T> {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if *reaped {
            return None;
        }
        Pid::from_raw(self.pgid).map(f)
    }

    /// SIGKILL to the whole group: the sandbox and everything in it end.
    pub fn kill(&self) {
        self.with_live(|pid| rustix::process::kill_process_group(pid, Signal::KILL));
    }

    /// Stops every process of the group (a paused VM).
    pub fn stop(&self) {
        self.with_live(|pid| rustix::process::kill_process_group(pid, Signal::STOP));
    }

    /// Continues every process of the group.
    pub fn cont(&self) {
        self.with_live(|pid| rustix::process::kill_process_group(pid, Signal::CONT));
    }

    /// Delivers `sig` to the guest's processes (SIGKILL: to the whole
    /// group). While the sandbox is still starting there is no command to
    /// signal yet, and bubblewrap itself must not get the signal (its
    /// sandbox would outlive it), so this waits a moment for the command;
    /// a sandbox that never starts one is killed.
    pub async fn signal(&self, sig: Signal) {
        if sig == Signal::KILL {
            return self.kill();
        }
        for _ in 0..STARTUP_POLLS {
            let Some(members) = self.with_live(|_| guest_members(self.pgid)) else {
                return;
            };
            if !members.is_empty() {
                for pid in members.into_iter().filter_map(Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
                return;
            }
            tokio::time::sleep(STARTUP_POLL).await;
        }
        self.kill();
    }
}

/// How long (in polls) a signal waits for a starting sandbox's command.
const STARTUP_POLLS: usize = 200;
const STARTUP_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// The processes of group `pgid` that are not bubblewrap's own: not the
/// group leader (bwrap) and not its direct child (the sandbox's init).
fn guest_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state ppid pgrp ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(ppid), Some(pgrp)) = (
            fields.get(1).and_then(|s| s.parse::<i32>().ok()),
            fields.get(2).and_then(|s| s.parse::<i32>().ok()),
        ) else {
            continue;
        };
        if pgrp == pgid && pid != pgid && ppid != pgid {
            out.push(pid);
        }
    }
    out
}

/// A running guest process. Dropping it before it was waited for kills its
/// whole sandbox, so an abandoned request or a dropped future never leaves
/// processes behind.
#[derive(Debug)]
pub(crate) struct GuestProcess {
    child: Child,
    group: ProcessGroup,
    /// The pipes, for the caller to take.
    pub stdin: Option<ChildStdin>,
    /// Standard output, when captured.
    pub stdout: Option<ChildStdout>,
    /// Standard error, when captured.
    pub stderr: Option<ChildStderr>,
}

impl GuestProcess {
    fn new(mut child: Child) -> Self {
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        GuestProcess {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            group: ProcessGroup {
                pgid: pid,
                reaped: Arc::new(Mutex::new(false)),
            },
        }
    }

    /// The process id reported to clients (bwrap's, which is also the
    /// process-group id).
    pub fn pid(&self) -> u32 {
        self.group.id()
    }

    /// A handle for signals.
    pub fn group(&self) -> ProcessGroup {
        self.group.clone()
    }

    /// Waits for the process to end.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        let status = self.child.wait().await?;
        *self.group.reaped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        Ok(Exit::from_status(status))
    }
}

impl Drop for GuestProcess {
    fn drop(&mut self) {
        self.group.kill();
    }
}

/// Keeps a guest process in step with its VM until the VM no longer runs
/// it: stopped while the VM is paused or suspended, continued when it runs
/// again, killed when the VM reboots, shuts down or is deleted. Never
/// returns (its output type has no values); run it alongside the work and
/// drop it with it.
pub(crate) async fn supervise(vm: &Vm, group: &ProcessGroup) -> std::convert::Infallible {
    let mut rx = vm.subscribe();
    let incarnation = rx.borrow().boot.incarnation;
    let mut stopped = false;
    loop {
        let (gone, frozen) = {
            let s = rx.borrow_and_update();
            let gone = s.removed || s.power == Power::Stopped || s.boot.incarnation != incarnation;
            (gone, matches!(s.power, Power::Paused | Power::Suspended))
        };
        if gone {
            group.kill();
            break;
        }
        if frozen && !stopped {
            group.stop();
            stopped = true;
        } else if !frozen && stopped {
            group.cont();
            stopped = false;
        }
        if rx.changed().await.is_err() {
            group.kill();
            break;
        }
    }
    std::future::pending().await
}

/// Builds the argv for a request: the program and its arguments, or
/// `<shell> -lc <script>` (extra arguments become `$0`, `$1`, ...).
pub(crate) fn argv(cmd: &str, args: &[String], shell: Option<&str>) -> Vec<String> {
    match shell {
        Some(shell) => {
            let mut v = vec![shell.to_owned(), "-lc".to_owned(), cmd.to_owned()];
            v.extend(args.iter().cloned());
            v
        }
        None => {
            let mut v = vec![cmd.to_owned()];
            v.extend(args.iter().cloned());
            v
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A group that counts as reaped, so nothing is ever signalled.
    pub(crate) fn dead_group() -> ProcessGroup {
        ProcessGroup {
            pgid: 0,
            reaped: Arc::new(Mutex::new(true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, GuestRoot) {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home/ubuntu", "etc", "tmp", "root"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/sh\nsvc:x:1500:1600::/srv/svc:/bin/sh\n",
        )
        .unwrap();
        let g = GuestRoot::open(dir.path()).unwrap();
        (dir, g)
    }

    #[test]
    fn identities_come_from_the_vm_passwd() {
        let (_d, g) = root();
        let u = identity(&g, None, None);
        assert_eq!(
            (u.uid, u.gid, u.name.as_str(), u.home.as_str()),
            (1000, 1000, "ubuntu", "/home/ubuntu")
        );
        let r = identity(&g, Some(0), None);
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let s = identity(&g, Some(1500), None);
        assert_eq!((s.gid, s.home.as_str()), (1600, "/srv/svc"));
        let x = identity(&g, Some(4242), Some(7));
        assert_eq!((x.gid, x.name.as_str(), x.home.as_str()), (7, "4242", "/"));
    }

    #[test]
    fn the_view_maps_usr_from_the_host_and_the_rest_from_the_vm() {
        let (dir, g) = root();
        let view = SandboxView::new(&g);
        let r = resolve(
            &view,
            &parse_guest_path("/bin/sh", "/").unwrap(),
            true,
            "/bin/sh",
        )
        .unwrap();
        assert!(r.guest_path().starts_with("/usr/"), "{}", r.guest_path());
        assert_eq!(r.meta.unwrap().kind, Kind::File);
        let r = resolve(
            &view,
            &parse_guest_path("/proc/self", "/").unwrap(),
            true,
            "x",
        )
        .unwrap();
        assert!(r.opaque);
        symlink("/usr/bin", dir.path().join("home/ubuntu/tools")).unwrap();
        let r = resolve(
            &view,
            &parse_guest_path("~/tools/env", "/home/ubuntu").unwrap(),
            true,
            "x",
        )
        .unwrap();
        assert_eq!(r.guest_path(), "/usr/bin/env");
        // A top-level file of the VM is not mounted.
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let r = resolve(&view, &parse_guest_path("/file", "/").unwrap(), true, "x").unwrap();
        assert!(r.meta.is_none());
    }

    #[test]
    fn programs_are_found_like_exec_does() {
        let (dir, g) = root();
        assert!(find_program(&g, "sh", "/home/ubuntu").is_ok());
        assert!(find_program(&g, "/bin/sh", "/").is_ok());
        let err = find_program(&g, "no-such-tool-xyz", "/").unwrap_err();
        assert_eq!(err.exit_code, 127);
        assert!(err.message.contains("not found in $PATH"), "{err:?}");
        std::fs::write(dir.path().join("home/ubuntu/script"), "#!/bin/sh\n").unwrap();
        let err = find_program(&g, "./script", "/home/ubuntu").unwrap_err();
        assert_eq!(err.exit_code, 126);
        let err = find_program(&g, "/nope/x", "/").unwrap_err();
        assert_eq!(err.exit_code, 127);
    }

    #[test]
    fn working_directories() {
        let (_d, g) = root();
        assert_eq!(
            resolve_cwd(&g, "~", "/home/ubuntu").unwrap(),
            "/home/ubuntu"
        );
        assert_eq!(resolve_cwd(&g, "/usr/bin", "/").unwrap(), "/usr/bin");
        assert!(matches!(resolve_cwd(&g, "/missing", "/"), Err(Err(_))));
        assert!(matches!(resolve_cwd(&g, "/etc/passwd", "/"), Err(Err(_))));
        match resolve_cwd(&g, "/tmp/../etc", "/") {
            Err(Ok(e)) => assert_eq!(e.status, 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exit_codes_and_signals() {
        use std::process::ExitStatus;
        let code = |c: i32| Exit::from_status(ExitStatus::from_raw(c << 8));
        assert_eq!(
            code(3),
            Exit {
                code: 3,
                signal: None
            }
        );
        assert_eq!(
            code(143),
            Exit {
                code: 143,
                signal: Some("SIGTERM")
            }
        );
        assert_eq!(code(200).signal, None);
        let killed = Exit::from_status(ExitStatus::from_raw(9));
        assert_eq!(
            killed,
            Exit {
                code: 137,
                signal: Some("SIGKILL")
            }
        );
        assert_eq!(signal_name(2), Some("SIGINT"));
        assert_eq!(signal_name(0), None);
        assert_eq!(parse_signal("SIGUSR1").unwrap().1, "USR1");
        assert!(parse_signal("STOP").is_none());
    }

    #[test]
    fn shell_argv() {
        assert_eq!(
            argv("echo hi", &[], Some("/bin/bash")),
            ["/bin/bash", "-lc", "echo hi"]
        );
        assert_eq!(argv("ls", &["-l".into()], None), ["ls", "-l"]);
    }
}
