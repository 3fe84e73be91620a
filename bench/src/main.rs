//! `slicer-bench`: runs the benchmark groups and prints one markdown table
//! comparing each figure with its reference. See the crate docs of
//! `slicer_bench` for what is measured.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use slicer_bench::groups::{describe_work_dir, Ctx};
use slicer_bench::report::machine_header;
use slicer_bench::{
    child, measure, BenchError, BenchResult, Context, Group, Report, Row, Sizes, Tools,
};

/// Benchmarks of the Slicer SDK, each next to a reference tool doing the
/// same work in the same run.
#[derive(Debug, Parser)]
#[command(name = "slicer-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    /// Scale every size down by 8 and run each step once: a smoke run.
    #[arg(long)]
    quick: bool,

    /// Run only this group (tar, exec, copy, requests, npm); repeatable.
    #[arg(long, value_name = "NAME", value_parser = Group::parse)]
    only: Vec<Group>,

    /// Where to put the generated data (default: /dev/shm when writable).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,

    /// The slicer-emulator binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    emulator: Option<PathBuf>,

    /// The workspace root, for wasm/pkg-npm and bench/node (default: where
    /// this binary was built from).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,

    /// Skip the figures of the npm package in Node.
    #[arg(long)]
    no_node: bool,

    #[command(subcommand)]
    internal: Option<Internal>,
}

/// Pieces of the harness run as child processes.
#[derive(Debug, Subcommand)]
enum Internal {
    /// Runs a program and writes its wall time, CPU and peak RSS as JSON.
    #[command(hide = true)]
    Measure {
        /// Where the JSON goes.
        #[arg(long)]
        report: PathBuf,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<OsString>,
    },
    /// One native client operation, reported as JSON.
    #[command(hide = true, subcommand)]
    Child(ChildCmd),
}

#[derive(Debug, Subcommand)]
enum ChildCmd {
    /// Streams `head -c BYTES /dev/zero`.
    Exec {
        url: String,
        host: String,
        bytes: u64,
    },
    /// `cp_to_vm(LOCAL, REMOTE)`.
    Upload {
        url: String,
        host: String,
        local: PathBuf,
        remote: String,
    },
    /// `cp_from_vm(REMOTE, LOCAL)`.
    Download {
        url: String,
        host: String,
        remote: String,
        local: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.internal {
        Some(Internal::Measure { report, argv }) => {
            return match measure::run_shim(&report, &argv) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(e) => {
                    eprintln!("slicer-bench measure: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Internal::Child(cmd)) => run_child(cmd),
        None => run_benchmarks(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slicer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_child(cmd: ChildCmd) -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context(|| "start the async runtime".to_owned())?;
    let report = runtime.block_on(async {
        match cmd {
            ChildCmd::Exec { url, host, bytes } => child::exec(&url, &host, bytes).await,
            ChildCmd::Upload {
                url,
                host,
                local,
                remote,
            } => child::upload(&url, &host, &local, &remote).await,
            ChildCmd::Download {
                url,
                host,
                remote,
                local,
            } => child::download(&url, &host, &remote, &local).await,
        }
    })?;
    println!(
        "{}",
        serde_json::to_string(&report).expect("a report serialises")
    );
    Ok(())
}

fn run_benchmarks(cli: &Cli) -> BenchResult<()> {
    let started = Instant::now();
    let self_exe = std::env::current_exe().context(|| "find this executable".to_owned())?;
    let emulator = match &cli.emulator {
        Some(path) => path.clone(),
        None => self_exe
            .parent()
            .map(|dir| dir.join("slicer-emulator"))
            .ok_or_else(|| BenchError::new("this executable has no parent directory"))?,
    };
    let repo = cli
        .repo
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")));
    let sizes = if cli.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let tools = Tools::detect();
    let groups: Vec<Group> = if cli.only.is_empty() {
        Group::ALL.to_vec()
    } else {
        Group::ALL
            .into_iter()
            .filter(|g| cli.only.contains(g))
            .collect()
    };

    let mut ctx = Ctx::new(sizes, tools.clone(), repo, cli.work_dir.clone(), emulator)?;
    ctx.self_exe = Some(self_exe);
    ctx.node = !cli.no_node;

    let command = std::env::var("SLICER_BENCH_COMMAND").unwrap_or_else(|_| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        format!("slicer-bench {}", args.join(" "))
            .trim_end()
            .to_owned()
    });
    let mut report = Report::default();
    report
        .header
        .push(("command".into(), format!("`{command}`")));
    report.header.push((
        "mode".into(),
        if cli.quick {
            "quick (sizes ÷ 8, one run of each step)".into()
        } else {
            format!("full (median of {} runs of each step)", ctx.sizes.reps)
        },
    ));
    report.header.extend(machine_header(&tools));
    report
        .header
        .push(("data".into(), describe_work_dir(ctx.work())));
    let load_at_start = load_average();

    let mut failed = Vec::new();
    for group in groups {
        eprintln!("== {}", group.name());
        if let Err(e) = ctx.run(group, &mut report) {
            eprintln!("{} failed: {e}", group.name());
            report.push(
                group.name(),
                Row::skipped(format!("{} group", group.name()), format!("failed: {e}")),
            );
            failed.push(group.name());
        }
    }
    // Stops the emulator and removes the data before the table is printed.
    drop(ctx);
    report.header.push((
        "load average (1, 5, 15 min)".into(),
        format!(
            "{load_at_start} at start, {} at the end (other work on the machine skews both sides)",
            load_average()
        ),
    ));
    report.header.push((
        "total time".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));
    print!("{}", report.render());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(BenchError::new(format!(
            "groups failed: {}",
            failed.join(", ")
        )))
    }
}

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["slicer-bench", "--quick", "--only", "tar", "--only", "npm"])
                .unwrap();
        assert!(cli.quick);
        assert_eq!(cli.only, [Group::Tar, Group::Npm]);
        let err = Cli::try_parse_from(["slicer-bench", "--only", "disk"]).unwrap_err();
        assert!(err.to_string().contains("choose from"), "{err}");
        let cli = Cli::try_parse_from([
            "slicer-bench",
            "measure",
            "--report",
            "r",
            "--",
            "curl",
            "-s",
        ])
        .unwrap();
        assert!(
            matches!(cli.internal, Some(Internal::Measure { ref argv, .. }) if argv.len() == 2)
        );
    }
}
