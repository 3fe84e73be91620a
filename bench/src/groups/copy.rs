//! Copies through the emulator's cp endpoint: a large file and a tree of
//! large files, up and down, by the native client (`cp_to_vm`,
//! `cp_from_vm`, each run in a fresh process) and by curl sending the same
//! request with the same bytes (`-T`, `-o`). Both are measured by the same
//! shim: wall time, CPU and peak RSS.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use slicer::copy::write_tar;
use slicer::tar::Excludes;

use super::exec::median_usage;
use super::Ctx;
use crate::child::ChildReport;
use crate::data::{self, TreeStats};
use crate::measure::{measured, Usage};
use crate::record::RecordedRequest;
use crate::report::{Better, Figure, Report, Row};
use crate::{size_label, thousands, BenchError, BenchResult, Context};

const GROUP: &str = "copy";

/// Where the copies land in the VM.
const REMOTE: &str = "/home/ubuntu/bench-copy";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    File,
    Tree,
}

/// Everything the runs of one group share.
#[derive(Clone)]
struct Setup {
    self_exe: PathBuf,
    scratch: PathBuf,
    url: String,
    host: String,
    /// `REMOTE` on this machine.
    remote_local: PathBuf,
    curl: Option<PathBuf>,
    reps: usize,
}

/// Median usage of our runs and curl's (when curl is there) in one
/// direction.
struct Pair {
    ours: Usage,
    curl: Option<Usage>,
    request: RecordedRequest,
}

/// Runs the group.
///
/// # Errors
///
/// The emulator, a copy or a check of its result fails.
pub fn run(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let (url, host, vm_root) = {
        let emulator = ctx.emulator()?;
        (
            emulator.url.clone(),
            emulator.host.clone(),
            emulator.vm_root(),
        )
    };
    let setup = Setup {
        self_exe: ctx.self_exe()?,
        scratch: ctx.scratch(),
        url,
        host,
        remote_local: vm_root.join(REMOTE.trim_start_matches('/')),
        curl: ctx.tools.curl.clone(),
        reps: ctx.sizes.reps,
    };
    let base = ctx.work().join("copy");
    let result = run_all(ctx, report, &setup, &base);
    data::remove(&setup.remote_local)?;
    data::remove(&base)?;
    result?;
    report.note(
        "copy: ours is `slicer-bench child upload|download` (cp_to_vm / cp_from_vm with default \
         options) in a fresh process; the reference replays the request the client sent with \
         `curl -sS -T BODY` (the file itself, or the tree's archive made beforehand by \
         write_tar: curl only streams it) and `curl -sS -o OUT` (which writes the archive \
         without extracting it). MB/s counts file content; both sides run under the same \
         getrusage shim.",
    );
    Ok(())
}

fn run_all(ctx: &Ctx, report: &mut Report, setup: &Setup, base: &Path) -> BenchResult<()> {
    let sizes = &ctx.sizes;
    let local = base.join("local");
    std::fs::create_dir_all(&local).context(|| format!("create {}", local.display()))?;

    // A large file, and the same at an eighth of its size to see whether
    // memory follows the size.
    let file = local.join("big.bin");
    data::big_file(&file, sizes.copy_file, 3)?;
    let file_stats = TreeStats {
        files: 1,
        directories: 0,
        bytes: sizes.copy_file,
    };
    let label = format!("1 file of {}", size_label(sizes.copy_file));
    eprintln!("[copy] {label}");
    let (up, down) = both_directions(setup, Shape::File, &file, None, &file_stats, base)?;
    push_rows(report, &label, &file_stats, &up, &down);

    let small = sizes.copy_file / 8;
    let small_file = local.join("small.bin");
    data::big_file(&small_file, small, 4)?;
    let small_stats = TreeStats {
        files: 1,
        directories: 0,
        bytes: small,
    };
    eprintln!("[copy] 1 file of {} (memory growth)", size_label(small));
    let quiet = Setup {
        curl: None,
        reps: 1,
        ..setup.clone()
    };
    let (small_up, small_down) =
        both_directions(&quiet, Shape::File, &small_file, None, &small_stats, base)?;
    for (direction, full, eighth) in [("upload", &up, &small_up), ("download", &down, &small_down)]
    {
        report.push(
            GROUP,
            Row::compare(
                format!(
                    "{direction} peak RSS growth: {label} — vs the same client copying {} (flat is 1.00×)",
                    size_label(small)
                ),
                Figure::rss_kib(full.ours.maxrss_kib),
                Figure::rss_kib(eighth.ours.maxrss_kib),
                Better::Lower,
            ),
        );
    }
    data::remove(&file)?;
    data::remove(&small_file)?;

    // A tree of large files; curl sends the archive write_tar makes of it.
    let tree = local.join("tree");
    let tree_stats =
        data::large_files_tree(&tree, sizes.copy_tree_files, sizes.copy_tree_file_size, 5)?;
    let label = format!(
        "tree of {} files of {} ({})",
        thousands(tree_stats.files),
        size_label(sizes.copy_tree_file_size),
        size_label(tree_stats.bytes)
    );
    eprintln!("[copy] {label}");
    let archive = base.join("tree.tar");
    {
        let out = File::create(&archive).context(|| format!("create {}", archive.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, out);
        write_tar(&tree, &mut out, &Excludes::default()).context(|| "write_tar".to_owned())?;
        out.flush()
            .context(|| format!("write {}", archive.display()))?;
    }
    let (up, down) = both_directions(setup, Shape::Tree, &tree, Some(&archive), &tree_stats, base)?;
    push_rows(report, &label, &tree_stats, &up, &down);
    report.note(format!(
        "copy requests replayed by curl (last run): upload `{}`; download `{}`",
        up.request.shown(),
        down.request.shown()
    ));
    Ok(())
}

/// Uploads `source` (ours, then curl, `reps` times), leaves the last
/// upload in the VM, and downloads it back the same way.
fn both_directions(
    setup: &Setup,
    shape: Shape,
    source: &Path,
    archive: Option<&Path>,
    stats: &TreeStats,
    base: &Path,
) -> BenchResult<(Pair, Pair)> {
    let check_remote = || -> BenchResult<()> {
        let got = match shape {
            Shape::File => TreeStats {
                files: 1,
                directories: 0,
                bytes: std::fs::metadata(&setup.remote_local)
                    .context(|| format!("stat {}", setup.remote_local.display()))?
                    .len(),
            },
            Shape::Tree => data::tree_stats(&setup.remote_local)?,
        };
        check(got == *stats, || {
            format!("the VM received {got:?}, expected {stats:?}")
        })
    };

    // Upload: ours and curl alternate, so load from elsewhere on the
    // machine falls on both alike.
    let (mut ours, mut curl_runs, mut request) = (Vec::new(), Vec::new(), None);
    for _ in 0..setup.reps {
        data::remove(&setup.remote_local)?;
        let argv = child_argv(setup, "upload", source.as_os_str(), REMOTE.as_ref());
        let (usage, child) = run_child(setup, &argv)?;
        check_remote()?;
        ours.push(usage);
        let recorded: &RecordedRequest = request.insert(child.request);
        if let Some(curl) = &setup.curl {
            data::remove(&setup.remote_local)?;
            let mut argv: Vec<OsString> = vec![
                curl.into(),
                "-sS".into(),
                "-o".into(),
                "/dev/null".into(),
                "-w".into(),
                "%{http_code}".into(),
                "-T".into(),
                archive.unwrap_or(source).into(),
            ];
            argv.extend(recorded.curl_args());
            let run = measured(&setup.self_exe, &setup.scratch, &argv, true)?;
            let code = String::from_utf8_lossy(&run.stdout).into_owned();
            check(code == "200", || format!("curl upload answered {code:?}"))?;
            check_remote()?;
            curl_runs.push(run.usage);
        }
    }
    let up = Pair {
        ours: median_usage(&ours),
        curl: (!curl_runs.is_empty()).then(|| median_usage(&curl_runs)),
        request: request.expect("at least one repetition"),
    };

    // Download what the last upload left in the VM, alternating the same way.
    let dest = base.join("down");
    let (mut ours, mut curl_runs, mut request) = (Vec::new(), Vec::new(), None);
    for _ in 0..setup.reps {
        data::remove(&dest)?;
        let argv = child_argv(setup, "download", REMOTE.as_ref(), dest.as_os_str());
        let (usage, child) = run_child(setup, &argv)?;
        let got = match shape {
            Shape::File => TreeStats {
                files: 1,
                directories: 0,
                bytes: std::fs::metadata(&dest)
                    .context(|| format!("stat {}", dest.display()))?
                    .len(),
            },
            Shape::Tree => data::tree_stats(&dest)?,
        };
        check(got == *stats, || {
            format!("the download wrote {got:?}, expected {stats:?}")
        })?;
        ours.push(usage);
        let recorded: &RecordedRequest = request.insert(child.request);
        data::remove(&dest)?;
        if let Some(curl) = &setup.curl {
            let mut argv: Vec<OsString> = vec![
                curl.into(),
                "-sS".into(),
                "-o".into(),
                dest.clone().into(),
                "-w".into(),
                "%{http_code} %{size_download}".into(),
            ];
            argv.extend(recorded.curl_args());
            let run = measured(&setup.self_exe, &setup.scratch, &argv, true)?;
            let out = String::from_utf8_lossy(&run.stdout).into_owned();
            let size = out
                .strip_prefix("200 ")
                .and_then(|s| s.trim().parse::<u64>().ok());
            check(size.is_some_and(|s| s >= stats.bytes), || {
                format!("curl download answered {out:?}")
            })?;
            curl_runs.push(run.usage);
            data::remove(&dest)?;
        }
    }
    let down = Pair {
        ours: median_usage(&ours),
        curl: (!curl_runs.is_empty()).then(|| median_usage(&curl_runs)),
        request: request.expect("at least one repetition"),
    };
    Ok((up, down))
}

fn child_argv(
    setup: &Setup,
    what: &str,
    from: &std::ffi::OsStr,
    to: &std::ffi::OsStr,
) -> Vec<OsString> {
    vec![
        setup.self_exe.clone().into(),
        "child".into(),
        what.into(),
        setup.url.clone().into(),
        setup.host.clone().into(),
        from.into(),
        to.into(),
    ]
}

fn run_child(setup: &Setup, argv: &[OsString]) -> BenchResult<(Usage, ChildReport)> {
    let run = measured(&setup.self_exe, &setup.scratch, argv, true)?;
    let child: ChildReport = serde_json::from_slice(&run.stdout)
        .context(|| "parse the copy child's report".to_owned())?;
    Ok((run.usage, child))
}

fn push_rows(report: &mut Report, label: &str, stats: &TreeStats, up: &Pair, down: &Pair) {
    for (direction, pair, curl_how) in [("upload", up, "curl -T"), ("download", down, "curl -o")] {
        let speed = |u: &Usage| {
            Figure::throughput(stats.bytes, u.wall_s)
                .with_note(format!("cpu {}", Figure::secs(u.cpu_s()).text))
        };
        let rss = |u: &Usage| Figure::rss_kib(u.maxrss_kib);
        let named = [
            (
                format!("{direction} throughput, {label} — vs {curl_how}"),
                speed(&pair.ours),
                pair.curl.as_ref().map(speed),
                Better::Higher,
            ),
            (
                format!("{direction} peak RSS, {label} — vs {curl_how}"),
                rss(&pair.ours),
                pair.curl.as_ref().map(rss),
                Better::Lower,
            ),
        ];
        for (name, ours, reference, better) in named {
            let row = match reference {
                Some(reference) => Row::compare(name, ours, reference, better),
                None => Row::reference_skipped(name, ours, "curl is not installed", better),
            };
            report.push(GROUP, row);
        }
    }
}

fn check(ok: bool, message: impl FnOnce() -> String) -> BenchResult<()> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::new(message()))
    }
}
