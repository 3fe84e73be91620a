//! Exec output streaming: a command writing hundreds of MiB to stdout,
//! read by the native client (decoding every NDJSON frame and its base64)
//! and by curl reading the same response raw (the transport's ceiling);
//! and the latency of a command that prints once.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::Instant;

use futures_util::StreamExt as _;
use slicer::{ExecFrame, ExecRequest};

use super::Ctx;
use crate::child::ChildReport;
use crate::measure::{measured, Usage};
use crate::record::{recording_client, RecordedRequest};
use crate::report::{Better, Figure, Report, Row};
use crate::{median, size_label, BenchError, BenchResult, Context};

const GROUP: &str = "exec";

/// Runs the group.
///
/// # Errors
///
/// The emulator, a client run or a curl run fails.
pub fn run(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    streaming(ctx, report)?;
    latency(ctx, report)
}

fn streaming(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let self_exe = ctx.self_exe()?;
    let (url, host) = {
        let emulator = ctx.emulator()?;
        (emulator.url.clone(), emulator.host.clone())
    };
    let (bytes, reps, scratch) = (ctx.sizes.exec_bytes, ctx.sizes.reps, ctx.scratch());
    let label = format!(
        "`head -c {bytes} /dev/zero` ({} of stdout)",
        size_label(bytes)
    );
    eprintln!("[exec] streaming {label}");

    // Ours and curl alternate, so load from elsewhere falls on both alike.
    let (mut ours, mut curl_runs, mut request) = (Vec::new(), Vec::new(), None);
    for _ in 0..reps {
        let argv: Vec<OsString> = vec![
            self_exe.clone().into(),
            "child".into(),
            "exec".into(),
            url.clone().into(),
            host.clone().into(),
            bytes.to_string().into(),
        ];
        let run = measured(&self_exe, &scratch, &argv, true)?;
        let child: ChildReport = serde_json::from_slice(&run.stdout)
            .context(|| "parse the exec child's report".to_owned())?;
        ours.push(run.usage);
        let recorded: &RecordedRequest = request.insert(child.request);
        if let Some(curl) = &ctx.tools.curl {
            let mut argv: Vec<OsString> = vec![
                curl.into(),
                "-sSN".into(),
                "-o".into(),
                "/dev/null".into(),
                "-w".into(),
                "%{http_code} %{size_download}".into(),
            ];
            argv.extend(recorded.curl_args());
            let run = measured(&self_exe, &scratch, &argv, true)?;
            let out = String::from_utf8_lossy(&run.stdout).into_owned();
            let mut fields = out.split_whitespace();
            let code = fields.next();
            let size = fields.next().and_then(|s| s.parse::<u64>().ok());
            if code != Some("200") || size.is_none_or(|s| s < bytes) {
                return Err(BenchError::new(format!(
                    "curl read the exec stream badly: {out:?}"
                )));
            }
            curl_runs.push(run.usage);
        }
    }
    let ours = median_usage(&ours);
    let reference = (!curl_runs.is_empty()).then(|| median_usage(&curl_runs));
    let request = request.expect("at least one repetition");

    let throughput = |u: &Usage| Figure::throughput(bytes, u.wall_s);
    let cpu = |u: &Usage| Figure::secs(u.cpu_s());
    let rss = |u: &Usage| Figure::rss_kib(u.maxrss_kib);
    let rows = [
        (
            "throughput",
            throughput(&ours),
            reference.as_ref().map(throughput),
            Better::Higher,
        ),
        (
            "client CPU, user+sys",
            cpu(&ours),
            reference.as_ref().map(cpu),
            Better::Lower,
        ),
        (
            "client peak RSS",
            rss(&ours),
            reference.as_ref().map(rss),
            Better::Lower,
        ),
    ];
    for (what, ours, reference, better) in rows {
        let name = format!("exec stream {what}, {label} — vs curl -N raw NDJSON");
        let row = match reference {
            Some(reference) => Row::compare(name, ours, reference, better),
            None => Row::reference_skipped(name, ours, "curl is not installed", better),
        };
        report.push(GROUP, row);
    }
    report.note(format!(
        "exec: ours is `slicer-bench child exec` (client.exec, every frame decoded, stdout \
         counted) in its own process; the reference is `curl -sSN -o /dev/null {}` with the \
         query and headers the client sent. Both run under the same getrusage shim; MB/s \
         counts stdout payload, although curl moves it still base64-encoded in JSON.",
        request.shown()
    ));
    Ok(())
}

fn latency(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let (url, host) = {
        let emulator = ctx.emulator()?;
        (emulator.url.clone(), emulator.host.clone())
    };
    let runs = ctx.sizes.latency_runs.max(1);
    let request = ExecRequest::new("echo", ["hi"]);
    eprintln!("[exec] latency of `echo hi`, {runs} runs");

    let recorded = ctx.block_on(async {
        let client = recording_client(&url)?;
        client
            .exec_collect(&host, &request)
            .await
            .context(|| "run echo".to_owned())?;
        client.transport().last()
    })?;
    let client = ctx.emulator()?.client()?;
    let curl = ctx.tools.curl.clone();
    let (mut head, mut first, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let (mut curl_start, mut curl_total) = (Vec::new(), Vec::new());
    // Run 0 is untimed: it opens the client's pooled connection, as any
    // caller's first call would. Ours and curl alternate.
    for run in 0..=runs {
        let (at_head, at_first, at_exit) = ctx.block_on(async {
            let started = Instant::now();
            let mut stream = client
                .exec(&host, &request)
                .await
                .context(|| "start echo".to_owned())?;
            let at_head = started.elapsed().as_secs_f64();
            let mut at_first = None;
            while let Some(frame) = stream.next().await {
                if let ExecFrame::Stdout(_) = frame.context(|| "read echo".to_owned())? {
                    at_first.get_or_insert(started.elapsed().as_secs_f64());
                }
            }
            let at_first = at_first.ok_or_else(|| BenchError::new("echo printed nothing"))?;
            Ok::<_, BenchError>((at_head, at_first, started.elapsed().as_secs_f64()))
        })?;
        if run == 0 {
            continue;
        }
        head.push(at_head);
        first.push(at_first);
        total.push(at_exit);
        if let Some(curl) = &curl {
            let (s, t) = curl_latency(curl, &recorded)?;
            curl_start.push(s);
            curl_total.push(t);
        }
    }
    let (head, first, total) = (median(&head), median(&first), median(&total));
    let curl_times = (!curl_start.is_empty()).then(|| (median(&curl_start), median(&curl_total)));

    let rows = [
        (
            "response head",
            head,
            "time_starttransfer",
            curl_times.map(|t| t.0),
        ),
        (
            "first stdout frame",
            first,
            "time_starttransfer",
            curl_times.map(|t| t.0),
        ),
        (
            "whole run to the exit frame",
            total,
            "time_total",
            curl_times.map(|t| t.1),
        ),
    ];
    for (what, ours, curl_what, reference) in rows {
        let name =
            format!("exec latency, `echo hi`: {what} (median of {runs}) — vs curl {curl_what}");
        let row = match reference {
            Some(r) => Row::compare(name, Figure::millis(ours), Figure::millis(r), Better::Lower),
            None => Row::reference_skipped(
                name,
                Figure::millis(ours),
                "curl is not installed",
                Better::Lower,
            ),
        };
        report.push(GROUP, row);
    }
    report.note(
        "exec latency: the client reuses its pooled connection (as a caller's second call \
         does); each curl run is a fresh process and connection, and its time_starttransfer is \
         the arrival of the response's first byte, which the emulator sends before the \
         command prints.",
    );
    Ok(())
}

/// One curl run of the recorded request: (time_starttransfer, time_total).
fn curl_latency(curl: &std::path::Path, recorded: &RecordedRequest) -> BenchResult<(f64, f64)> {
    let output = Command::new(curl)
        .args(["-sSN", "-o", "/dev/null", "-w"])
        .arg("%{http_code} %{time_starttransfer} %{time_total}")
        .args(recorded.curl_args())
        .stdin(Stdio::null())
        .output()
        .context(|| "run curl".to_owned())?;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let fields: Vec<&str> = out.split_whitespace().collect();
    let parsed = match fields[..] {
        ["200", s, t] => s.parse::<f64>().ok().zip(t.parse::<f64>().ok()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        BenchError::new(format!(
            "curl exec failed: {out:?} {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// The median of each field across runs.
pub fn median_usage(runs: &[Usage]) -> Usage {
    let pick = |f: fn(&Usage) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Usage {
        wall_s: pick(|u| u.wall_s),
        user_s: pick(|u| u.user_s),
        sys_s: pick(|u| u.sys_s),
        maxrss_kib: pick(|u| u.maxrss_kib as f64) as u64,
        code: runs.first().and_then(|u| u.code),
    }
}
