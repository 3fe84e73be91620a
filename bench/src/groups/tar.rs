//! Tar pack and unpack, in memory (`build_archive`, `read_archive`) and on
//! disk (`write_tar`, `extract_tar`), against GNU tar doing the same work
//! on the same page-cached files; and the same in-memory work through the
//! npm package in Node, against the native build.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use slicer::copy::{extract_tar, write_tar, ExtractOptions};
use slicer::tar::{build_archive, read_archive, Excludes};

use super::Ctx;
use crate::data::{self, TreeStats};
use crate::measure::timed;
use crate::report::{Better, Figure, Report, Row};
use crate::{median, node, size_label, thousands, BenchError, BenchResult, Context};

const GROUP: &str = "tar";

/// The two data sets.
enum Shape {
    /// Many files of 1 to 16 KiB.
    Small(usize),
    /// One file of this size.
    Big(u64),
}

/// Median seconds of each step on one data set; `None` where skipped.
#[derive(Debug, Default)]
struct Times {
    mem_pack: f64,
    mem_unpack: f64,
    disk_pack: f64,
    disk_unpack: f64,
    gnu_pack: Option<f64>,
    gnu_unpack: Option<f64>,
}

/// Runs the group.
///
/// # Errors
///
/// Data cannot be written, or a step fails or produces the wrong tree.
pub fn run(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let shapes = [
        Shape::Small(ctx.sizes.tar_files),
        Shape::Big(ctx.sizes.tar_big),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let base = ctx.work().join(format!("tar-{i}"));
        let result = run_shape(ctx, report, shape, &base);
        data::remove(&base)?;
        result?;
    }
    report.note(
        "tar: our side runs in this process on data already in memory (in-memory rows) or on \
         page-cached files (on-disk rows, 64 KiB buffered); GNU tar runs as \
         `tar -cf OUT -C SRC .` (OUT on the same file system: with /dev/null GNU tar skips \
         reading the files) and `tar -xf ARCHIVE -C FRESH --no-same-owner` on the archive \
         write_tar made. MB/s counts file content (10^6 bytes).",
    );
    Ok(())
}

fn run_shape(ctx: &Ctx, report: &mut Report, shape: &Shape, base: &Path) -> BenchResult<()> {
    let src = base.join("src");
    let (stats, label) = match *shape {
        Shape::Small(files) => (
            data::small_files_tree(&src, files, 1)?,
            format!("{} files of 1-16 KiB", thousands(files as u64)),
        ),
        Shape::Big(size) => {
            std::fs::create_dir_all(&src).context(|| format!("create {}", src.display()))?;
            data::big_file(&src.join("big.bin"), size, 2)?;
            (
                data::tree_stats(&src)?,
                format!("1 file of {}", size_label(size)),
            )
        }
    };
    eprintln!("[tar] {label}: {} bytes", thousands(stats.bytes));
    let reps = ctx.sizes.reps;
    let mut times = Times::default();

    // In memory: the entries are loaded once, untimed, as a caller holds them.
    let entries = data::load_entries(&src)?;
    let mut archive = Vec::new();
    times.mem_pack = repeat(reps, || {
        let (built, secs) = timed(|| build_archive(&entries));
        archive = built.context(|| "build_archive".to_owned())?;
        Ok(secs)
    })?;
    drop(entries);
    let expected_entries = (stats.files + stats.directories) as usize;
    times.mem_unpack = repeat(reps, || {
        let (read, secs) = timed(|| read_archive(&archive));
        let read = read.context(|| "read_archive".to_owned())?;
        check(read.len() == expected_entries, || {
            format!(
                "read_archive returned {} entries, not {expected_entries}",
                read.len()
            )
        })?;
        Ok(secs)
    })?;
    let mem_tar = base.join("mem.tar");
    std::fs::write(&mem_tar, &archive).context(|| format!("write {}", mem_tar.display()))?;
    drop(archive);

    // On disk: the walker into a file, the extractor from it.
    let ours_tar = base.join("ours.tar");
    times.disk_pack = repeat(reps, || {
        data::remove(&ours_tar)?;
        let (summary, secs) = timed(|| -> BenchResult<_> {
            let file =
                File::create(&ours_tar).context(|| format!("create {}", ours_tar.display()))?;
            let mut out = BufWriter::with_capacity(64 << 10, file);
            let summary = write_tar(&src, &mut out, &Excludes::default())
                .context(|| "write_tar".to_owned())?;
            out.flush()
                .context(|| format!("write {}", ours_tar.display()))?;
            Ok(summary)
        });
        let summary = summary?;
        check(summary.files == stats.files, || {
            format!(
                "write_tar archived {} files, not {}",
                summary.files, stats.files
            )
        })?;
        Ok(secs)
    })?;
    let dest = base.join("extract");
    times.disk_unpack = repeat(reps, || {
        fresh_dir(&dest)?;
        let (summary, secs) = timed(|| -> BenchResult<_> {
            let file = File::open(&ours_tar).context(|| format!("open {}", ours_tar.display()))?;
            let input = BufReader::with_capacity(64 << 10, file);
            extract_tar(input, &dest, &ExtractOptions::default())
                .context(|| "extract_tar".to_owned())
        });
        let summary = summary?;
        check(
            summary.files == stats.files && summary.bytes == stats.bytes,
            || format!("extract_tar wrote {summary:?}, expected {stats:?}"),
        )?;
        Ok(secs)
    })?;

    if let Some(tar) = ctx.tools.tar.clone() {
        let gnu_tar = base.join("gnu.tar");
        let pack = |tar: &Path| -> BenchResult<f64> {
            data::remove(&gnu_tar)?;
            let mut cmd = Command::new(tar);
            cmd.arg("-cf").arg(&gnu_tar).arg("-C").arg(&src).arg(".");
            run_timed(cmd)
        };
        // Warm-up: the files are read once before anything is timed.
        pack(&tar)?;
        times.gnu_pack = Some(repeat(reps, || pack(&tar))?);
        times.gnu_unpack = Some(repeat(reps, || {
            fresh_dir(&dest)?;
            let mut cmd = Command::new(&tar);
            cmd.arg("-xf")
                .arg(&ours_tar)
                .arg("-C")
                .arg(&dest)
                .arg("--no-same-owner");
            let secs = run_timed(cmd)?;
            let got = data::tree_stats(&dest)?;
            check(got == stats, || {
                format!("GNU tar extracted {got:?}, expected {stats:?}")
            })?;
            Ok(secs)
        })?);
    }
    data::remove(&dest)?;

    push_rows(report, &label, &stats, &times, shape);
    if ctx.node {
        node_rows(ctx, report, &label, &stats, &times, &src, &mem_tar)?;
    }
    Ok(())
}

fn push_rows(report: &mut Report, label: &str, stats: &TreeStats, times: &Times, shape: &Shape) {
    let figure = |secs: f64| match shape {
        Shape::Small(_) => Figure::files_throughput(stats.bytes, stats.files, secs),
        Shape::Big(_) => Figure::throughput(stats.bytes, secs),
    };
    let rows = [
        (
            "pack in memory (build_archive)",
            times.mem_pack,
            times.gnu_pack,
            "tar -c",
        ),
        (
            "pack on disk (write_tar)",
            times.disk_pack,
            times.gnu_pack,
            "tar -c",
        ),
        (
            "unpack in memory (read_archive)",
            times.mem_unpack,
            times.gnu_unpack,
            "tar -x",
        ),
        (
            "unpack on disk (extract_tar)",
            times.disk_unpack,
            times.gnu_unpack,
            "tar -x",
        ),
    ];
    for (what, ours, reference, gnu) in rows {
        let name = format!("{what}, {label} — vs GNU {gnu}");
        let row = match reference {
            Some(reference) => Row::compare(name, figure(ours), figure(reference), Better::Higher),
            None => Row::reference_skipped(
                name,
                figure(ours),
                "GNU tar is not installed",
                Better::Higher,
            ),
        };
        report.push(GROUP, row);
    }
}

/// The npm package in Node doing the in-memory work on the same files and
/// archive: `uploadFolder` (entries in, archive handed to a stub `fetch`)
/// and `downloadFolder` (a stub `fetch` answers with the archive).
fn node_rows(
    ctx: &Ctx,
    report: &mut Report,
    label: &str,
    stats: &TreeStats,
    times: &Times,
    src: &Path,
    archive: &Path,
) -> BenchResult<()> {
    let pack_name = format!(
        "npm package in Node: pack in memory (uploadFolder), {label} — vs native build_archive"
    );
    let unpack_name = format!(
        "npm package in Node: unpack in memory (downloadFolder), {label} — vs native read_archive"
    );
    let (node, package) = match node::node_and_package(&ctx.tools, &ctx.repo) {
        Ok(found) => found,
        Err(reason) => {
            report.push(GROUP, Row::skipped(pack_name, reason.clone()));
            report.push(GROUP, Row::skipped(unpack_name, reason));
            return Ok(());
        }
    };
    eprintln!("[tar] {label}: npm package in Node");
    let args: Vec<OsString> = vec![
        package.into(),
        ctx.sizes.reps.to_string().into(),
        src.into(),
        archive.into(),
    ];
    let out = node::run_script(&node, &ctx.repo, "tar.mjs", &args)?;
    let files = node::number(&out, "/files")? as u64;
    let entries = node::number(&out, "/entries")? as u64;
    check(
        files == stats.files && entries == stats.files + stats.directories,
        || format!("node saw {files} files and {entries} entries, expected {stats:?}"),
    )?;
    let figure = |secs: f64| Figure::throughput(stats.bytes, secs);
    report.push(
        GROUP,
        Row::compare(
            pack_name,
            figure(node::number(&out, "/pack_s")?),
            figure(times.mem_pack),
            Better::Higher,
        ),
    );
    report.push(
        GROUP,
        Row::compare(
            unpack_name,
            figure(node::number(&out, "/unpack_s")?),
            figure(times.mem_unpack),
            Better::Higher,
        ),
    );
    report.note(
        "npm package rows: bench/node/tar.mjs loads the same files (untimed) and times \
         vm.fs.uploadFolder and vm.fs.downloadFolder with a stub fetch, so only the package's \
         own work (JavaScript to wasm copies, the tar code, wasm to JavaScript) is measured.",
    );
    Ok(())
}

/// Runs `step` `reps` times and returns the median of the seconds it
/// reports.
fn repeat(reps: usize, mut step: impl FnMut() -> BenchResult<f64>) -> BenchResult<f64> {
    let mut secs = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        secs.push(step()?);
    }
    Ok(median(&secs))
}

/// Runs a command, timing it from spawn to exit; a failure is an error
/// carrying its stderr.
fn run_timed(mut cmd: Command) -> BenchResult<f64> {
    let shown = format!("{cmd:?}");
    let (output, secs) = timed(|| {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    });
    let output = output.context(|| format!("run {shown}"))?;
    if !output.status.success() {
        return Err(BenchError::new(format!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(secs)
}

fn fresh_dir(path: &Path) -> BenchResult<()> {
    data::remove(path)?;
    std::fs::create_dir(path).context(|| format!("create {}", path.display()))
}

fn check(ok: bool, message: impl FnOnce() -> String) -> BenchResult<()> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::new(message()))
    }
}
