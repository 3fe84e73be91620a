//! Starting, serving and stopping the emulator.

use std::fs;
use std::future::IntoFuture;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use slicer_core::CreateVmRequest;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

use crate::agent::Agent;
use crate::auth;
use crate::config::{validate_host_group, EmulatorConfig, Listen};
use crate::error::StartError;
use crate::guest::sandbox::Sandbox;
use crate::routes;
use crate::state::{remove_dir, AppState};

/// How long shutdown waits for in-flight requests before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Most host groups a server can have: each gets its own /24.
const MAX_GROUPS: usize = 100;

/// Entry point: [`Emulator::start`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Prepares the data directory, binds the listener, pre-creates each
    /// group's `count` VMs and starts serving in the background.
    ///
    /// # Errors
    /// [`StartError::Config`] for invalid settings (bad host groups, an
    /// empty token, an unreadable token file), [`StartError::Io`] when the
    /// data directory or listener cannot be set up.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), slicer_emulator::StartError> {
    /// use slicer_emulator::{Emulator, EmulatorConfig};
    /// let emulator = Emulator::start(EmulatorConfig::default()).await?;
    /// println!("{} {:?}", emulator.url(), emulator.token());
    /// emulator.shutdown().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        validate_groups(&config)?;
        let (data_dir, temp_dir) = prepare_data_dir(config.data_dir.as_deref())?;
        let credentials = auth::resolve(&config.auth, &data_dir)?;
        let sandbox = Arc::new(Sandbox::new(config.bwrap.clone()));
        if !sandbox.program().is_file() {
            tracing::warn!(
                bwrap = %sandbox.program().display(),
                "bubblewrap (bwrap) not found: exec, background exec and userdata will fail \
                 until it is installed; the control plane, cp and fs work without it"
            );
        }
        let agent = Agent::new(config.agent_boot_delay, sandbox, config.legacy_agent);
        let state = Arc::new(AppState::new(
            credentials.token.clone(),
            data_dir.clone(),
            config.host_groups.clone(),
            agent,
        ));

        let (listener, local_addr, socket_path) = bind(&config.listen).await?;
        for group in &config.host_groups {
            for _ in 0..group.count {
                state
                    .create_vm(&group.name, CreateVmRequest::default(), true)
                    .await
                    .map_err(|e| {
                        StartError::Config(format!(
                            "cannot pre-create VMs in {:?}: {}",
                            group.name, e.message
                        ))
                    })?;
            }
        }

        let app = crate::cors::apply(routes::router(state.clone()), &config.cors_origins)
            .map_err(StartError::Config)?;
        let stopping = {
            let state = state.clone();
            async move { state.stopped().await }
        };
        let server = match listener {
            // Frames are small and latency-bound: without TCP_NODELAY a reused
            // connection holds each one for a delayed ACK (Go daemons set it).
            Bound::Tcp(l) => tokio::spawn(
                axum::serve(
                    l.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    }),
                    app,
                )
                .with_graceful_shutdown(stopping)
                .into_future(),
            ),
            Bound::Unix(l) => tokio::spawn(
                axum::serve(l, app)
                    .with_graceful_shutdown(stopping)
                    .into_future(),
            ),
        };
        let url = match &local_addr {
            Listen::Tcp(addr) => format!("http://{addr}"),
            Listen::Unix(path) => path.display().to_string(),
        };
        tracing::info!(%url, auth = credentials.token.is_some(), data_dir = %data_dir.display(), "emulator started");
        Ok(RunningEmulator {
            url,
            local_addr,
            token: credentials.token,
            token_file: credentials.token_file,
            data_dir,
            temp_dir,
            socket_path,
            state,
            server: Some(server),
            cleaned: false,
        })
    }
}

/// A running emulator. Dropping it stops the server too, without waiting;
/// [`RunningEmulator::shutdown`] waits for in-flight requests.
#[derive(Debug)]
pub struct RunningEmulator {
    url: String,
    local_addr: Listen,
    token: Option<String>,
    token_file: Option<PathBuf>,
    data_dir: PathBuf,
    temp_dir: Option<tempfile::TempDir>,
    socket_path: Option<PathBuf>,
    state: Arc<AppState>,
    server: Option<JoinHandle<io::Result<()>>>,
    cleaned: bool,
}

impl RunningEmulator {
    /// The base URL clients use: `http://127.0.0.1:PORT`, or the absolute
    /// socket path for a UNIX listener.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token, when auth is on.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The file holding the token, when auth is on.
    pub fn token_file(&self) -> Option<&Path> {
        self.token_file.as_deref()
    }

    /// The data directory (secrets, VM roots, token).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The bound address: the actual TCP port, or the absolute socket path.
    pub fn local_addr(&self) -> &Listen {
        &self.local_addr
    }

    /// Stops the VMs (ending their guest processes), stops accepting, lets
    /// in-flight requests finish (for at most a few seconds), then removes
    /// VM directories, the socket file and a temporary data directory.
    ///
    /// # Errors
    /// [`StartError::Io`] when the temporary data directory cannot be removed.
    pub async fn shutdown(mut self) -> Result<(), StartError> {
        self.state.begin_stop();
        // VMs power off first, so guest processes end and the exec streams
        // and log follows attached to them finish instead of running into
        // the grace period.
        self.state.power_off_all();
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!("server stopped with an error: {e}"),
                Ok(Err(e)) => tracing::warn!("server task failed: {e}"),
                Err(_) => {
                    tracing::warn!(
                        "requests still running after {SHUTDOWN_GRACE:?}; cutting them off"
                    );
                    server.abort();
                }
            }
        }
        self.cleanup();
        if let Some(dir) = self.temp_dir.take() {
            let path = dir.path().to_owned();
            dir.close().map_err(StartError::io(format!(
                "cannot remove the data directory {}",
                path.display()
            )))?;
        }
        tracing::info!("emulator stopped");
        Ok(())
    }

    /// Stops VMs and removes what this run created; safe to call twice.
    fn cleanup(&mut self) {
        if self.cleaned {
            return;
        }
        self.cleaned = true;
        self.state.begin_stop();
        self.state.halt_all();
        if let Err(e) = remove_dir(&self.state.vms_dir()) {
            tracing::warn!("cannot remove {}: {e}", self.state.vms_dir().display());
        }
        if let Some(path) = &self.socket_path {
            if let Err(e) = fs::remove_file(path) {
                tracing::warn!("cannot remove the socket {}: {e}", path.display());
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A bound listener of either kind.
enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Binds, returning the listener, the actual address and, for a socket, the
/// path to remove at shutdown.
async fn bind(listen: &Listen) -> Result<(Bound, Listen, Option<PathBuf>), StartError> {
    match listen {
        Listen::Tcp(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(StartError::io(format!("cannot listen on {addr}")))?;
            let local = listener.local_addr().map_err(StartError::io(format!(
                "cannot read the address bound for {addr}"
            )))?;
            Ok((Bound::Tcp(listener), Listen::Tcp(local), None))
        }
        Listen::Unix(path) => {
            let path = absolute(path)?;
            clear_stale_socket(&path)?;
            let listener = UnixListener::bind(&path).map_err(StartError::io(format!(
                "cannot listen on {}",
                path.display()
            )))?;
            // Sockets run without auth by default: only this user may connect.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(
                StartError::io(format!("cannot restrict {}", path.display())),
            )?;
            Ok((
                Bound::Unix(listener),
                Listen::Unix(path.clone()),
                Some(path),
            ))
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, StartError> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let cwd =
        std::env::current_dir().map_err(StartError::io("cannot read the current directory"))?;
    Ok(cwd.join(path))
}

/// Removes a socket file left by a previous run; refuses to touch a
/// regular file or a socket someone still listens on.
fn clear_stale_socket(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(StartError::Config(format!(
            "{} exists and is not a socket; choose another path",
            path.display()
        )));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(StartError::Config(format!(
            "{} is in use by another server",
            path.display()
        )));
    }
    fs::remove_file(path).map_err(StartError::io(format!(
        "cannot remove the stale socket {}",
        path.display()
    )))
}

fn validate_groups(config: &EmulatorConfig) -> Result<(), StartError> {
    if config.host_groups.len() > MAX_GROUPS {
        return Err(StartError::Config(format!(
            "at most {MAX_GROUPS} host groups are supported"
        )));
    }
    for (i, group) in config.host_groups.iter().enumerate() {
        validate_host_group(group).map_err(StartError::Config)?;
        if config.host_groups[..i].iter().any(|g| g.name == group.name) {
            return Err(StartError::Config(format!(
                "host group {:?} is configured twice",
                group.name
            )));
        }
    }
    Ok(())
}

/// Creates the data directory layout; a fresh temporary one when none is
/// given. `vms/` is emptied: VMs do not outlive the process.
fn prepare_data_dir(
    dir: Option<&Path>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), StartError> {
    let (path, temp) = match dir {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(StartError::io(format!(
                "cannot create the data directory {}",
                dir.display()
            )))?;
            (absolute(dir)?, None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("slicer-emulator-")
                .tempdir()
                .map_err(StartError::io("cannot create a temporary data directory"))?;
            // Guest processes of other users open their VM's directories
            // through this one: let them pass, without listing it.
            fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o711)).map_err(
                StartError::io("cannot set the mode of the temporary data directory"),
            )?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let vms = path.join("vms");
    remove_dir(&vms).map_err(StartError::io(format!("cannot clear {}", vms.display())))?;
    for (sub, mode) in [
        ("vms", 0o755),
        ("secrets", 0o700),
        (".secrets-staging", 0o700),
    ] {
        let sub = path.join(sub);
        fs::create_dir_all(&sub)
            .map_err(StartError::io(format!("cannot create {}", sub.display())))?;
        fs::set_permissions(&sub, fs::Permissions::from_mode(mode)).map_err(StartError::io(
            format!("cannot set the mode of {}", sub.display()),
        ))?;
    }
    Ok((path, temp))
}
