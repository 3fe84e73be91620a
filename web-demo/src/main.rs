//! `web-demo`: serves the Slicer browser console and relays its API calls.
//!
//! ```text
//! web-demo [--listen 127.0.0.1:8080] [--pkg-dir DIR]
//! ```
//!
//! With `SLICER_URL` set it relays to that daemon, with `SLICER_TOKEN` or
//! the token in `SLICER_TOKEN_FILE`; otherwise it starts the emulator
//! in-process. The first line on stdout is `web demo on http://ADDR`.

use std::future::IntoFuture as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use slicer_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use web_demo::{router, settings_from_env, DemoConfig, TokenSource, Upstream};

/// How long in-flight requests (an exec stream, a download) may go on
/// after SIGINT or SIGTERM before they are cut off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where `wasm/build.sh` writes the npm package: `wasm/pkg-npm` beside this
/// crate in the workspace.
fn default_pkg_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .unwrap_or(crate_dir)
        .join("wasm")
        .join("pkg-npm")
}

/// Serves the Slicer web console and relays its API calls to a Slicer
/// daemon (SLICER_URL with SLICER_TOKEN or SLICER_TOKEN_FILE), or to an
/// emulator started in-process when SLICER_URL is not set.
#[derive(Debug, Parser)]
#[command(name = "web-demo", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory holding the built npm package, served at /pkg/.
    #[arg(long, value_name = "DIR")]
    pkg_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("web-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon `/api` goes to, and the emulator when the demo runs one.
struct Backend {
    upstream: Upstream,
    description: String,
    emulator: Option<RunningEmulator>,
}

async fn run(cli: Cli) -> Result<(), String> {
    let pkg_dir = cli.pkg_dir.unwrap_or_else(default_pkg_dir);
    let pkg_dir = pkg_dir.canonicalize().unwrap_or(pkg_dir);
    let backend = backend().await?;

    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        // Scripts wait for this first line; flush so a pipe sees it now.
        let _ = writeln!(out, "web demo on http://{addr}");
        let _ = writeln!(out, "relaying /api to {}", backend.description);
        let _ = out.flush();
    }
    if !pkg_dir.join("package.json").is_file() {
        eprintln!(
            "web-demo: warning: no npm package in {}; build it with wasm/build.sh \
             or pass --pkg-dir (the page will say it cannot load the package)",
            pkg_dir.display()
        );
    }

    let config =
        DemoConfig::new(backend.upstream, pkg_dir).with_emulator(backend.emulator.is_some());
    let served = serve(listener, router(config)).await;
    if let Some(emulator) = backend.emulator {
        if let Err(e) = emulator.shutdown().await {
            eprintln!("web-demo: the emulator did not stop cleanly: {e}");
        }
    }
    served
}

/// The daemon from the environment, or a fresh emulator.
async fn backend() -> Result<Backend, String> {
    let settings = settings_from_env(&|name| std::env::var_os(name)).map_err(|e| e.to_string())?;
    if let Some(settings) = settings {
        let upstream = Upstream::new(&settings.url, settings.token).map_err(|e| e.to_string())?;
        let auth = match settings.token_source {
            TokenSource::Env => "token from SLICER_TOKEN".to_owned(),
            TokenSource::File(path) => format!("token from {}", path.display()),
            TokenSource::None => "no token".to_owned(),
        };
        let description = format!("{} ({auth})", upstream.label());
        return Ok(Backend {
            upstream,
            description,
            emulator: None,
        });
    }

    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let upstream = Upstream::new(emulator.url(), emulator.token().map(str::to_owned))
        .map_err(|e| e.to_string())?;
    let description = format!(
        "the built-in emulator at {} (auth on, token kept on the server)",
        emulator.url()
    );
    Ok(Backend {
        upstream,
        description,
        emulator: Some(emulator),
    })
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish for
/// up to [`SHUTDOWN_GRACE`].
async fn serve(listener: TcpListener, app: axum::Router) -> Result<(), String> {
    let (stopping_tx, stopping_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    let grace = async move {
        // A dropped sender means the server ended on its own.
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(|e| format!("the server failed: {e}")),
        () = grace => {
            eprintln!("web-demo: requests still open after {SHUTDOWN_GRACE:?}; closing them");
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};

    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("web-demo: cannot watch SIGTERM ({e}); only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
