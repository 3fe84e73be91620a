//! `slicer-emulator`: serves the Slicer API locally until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use slicer_emulator::cli::Cli;
use slicer_emulator::{Emulator, Listen, StartError};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("slicer-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    // Register handlers before announcing readiness so a signal sent right
    // after the first line is never missed.
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("slicer-emulator: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let emulator = match Emulator::start(cli.config()).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("slicer-emulator: {e}");
            return match e {
                StartError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
        }
    };

    let mut out = std::io::stdout().lock();
    let announced = match emulator.local_addr() {
        Listen::Tcp(addr) => writeln!(out, "listening on http://{addr}"),
        Listen::Unix(path) => writeln!(out, "listening on unix://{}", path.display()),
    }
    .and_then(|()| match emulator.token_file() {
        Some(file) => writeln!(out, "token: {}", file.display()),
        None => Ok(()),
    })
    .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = announced {
        eprintln!("slicer-emulator: cannot write to stdout: {e}");
    }

    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
    }
    match emulator.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slicer-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
