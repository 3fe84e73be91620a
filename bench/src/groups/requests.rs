//! Per-request overhead: many small `GET /nodes` (`list_vms`) calls, one
//! after another and with several in flight, by the native client, by the
//! npm package in Node, and by curl keeping its connections alive.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use futures_util::{StreamExt as _, TryStreamExt as _};
use slicer::ListOptions;

use super::Ctx;
use crate::measure::measured;
use crate::record::{recording_client, RecordedRequest};
use crate::report::{Better, Figure, Report, Row};
use crate::{median, node, thousands, BenchError, BenchResult, Context};

const GROUP: &str = "requests";

/// Runs the group.
///
/// # Errors
///
/// The emulator, a call or a curl run fails.
pub fn run(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let url = ctx.emulator()?.url.clone();
    let client = ctx.emulator()?.client()?;
    let (n, k, reps) = (ctx.sizes.requests, ctx.sizes.in_flight, ctx.sizes.reps);
    eprintln!("[requests] {n} list_vms calls, sequential and {k} in flight");

    let (seq, par) = ctx.block_on(async {
        let options = ListOptions::default();
        // One untimed call opens the pooled connection.
        expect_one(client.list_vms(&options).await)?;
        let (mut seq, mut par) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let started = Instant::now();
            for _ in 0..n {
                expect_one(client.list_vms(&options).await)?;
            }
            seq.push(started.elapsed().as_secs_f64());

            let started = Instant::now();
            futures_util::stream::iter(0..n)
                .map(|_| {
                    let (client, options) = (client.clone(), options.clone());
                    async move { expect_one(client.list_vms(&options).await) }
                })
                .buffer_unordered(k)
                .try_for_each(|()| async { Ok(()) })
                .await?;
            par.push(started.elapsed().as_secs_f64());
        }
        Ok::<_, BenchError>((median(&seq), median(&par)))
    })?;

    let recorded = ctx.block_on(async {
        let client = recording_client(&url)?;
        expect_one(client.list_vms(&ListOptions::default()).await)?;
        client.transport().last()
    })?;
    let curl = match ctx.tools.curl.clone() {
        Some(curl) => Some(curl_runs(ctx, &curl, &recorded, n, k)?),
        None => None,
    };
    // (package sequential, package concurrent, fetch sequential, fetch concurrent)
    let node = match node::node_and_package(&ctx.tools, &ctx.repo) {
        Ok((node, package)) if ctx.node => {
            eprintln!("[requests] npm package in Node");
            let args: Vec<OsString> = vec![
                package.into(),
                url.clone().into(),
                n.to_string().into(),
                k.to_string().into(),
                reps.to_string().into(),
            ];
            let out = node::run_script(&node, &ctx.repo, "requests.mjs", &args)?;
            Ok([
                node::number(&out, "/sequential_s")?,
                node::number(&out, "/concurrent_s")?,
                node::number(&out, "/fetch_sequential_s")?,
                node::number(&out, "/fetch_concurrent_s")?,
            ])
        }
        Ok(_) => Err("the Node figures are turned off".to_owned()),
        Err(reason) => Err(reason),
    };

    let count = n as u64;
    let figure = |secs: f64| Figure::rate(count, secs, "req/s");
    let seq_label = format!("list_vms, {} sequential", thousands(count));
    let par_label = format!("list_vms, {} with {k} in flight", thousands(count));
    let curl_seq = "curl keep-alive (one process, all URLs)".to_owned();
    let curl_par = format!("curl --parallel --parallel-max {k}");
    let node_at = |i: usize| node.as_ref().map(|t| t[i]).map_err(Clone::clone);
    let no_curl = "curl is not installed";
    let rows = [
        (
            format!("native client: {seq_label} — vs {curl_seq}"),
            Ok(seq),
            curl.map(|c| c.0).ok_or(no_curl),
        ),
        (
            format!("native client: {par_label} — vs {curl_par}"),
            Ok(par),
            curl.map(|c| c.1).ok_or(no_curl),
        ),
        (
            format!("npm package in Node: {seq_label} — vs {curl_seq}"),
            node_at(0),
            curl.map(|c| c.0).ok_or(no_curl),
        ),
        (
            format!("npm package in Node: {par_label} — vs {curl_par}"),
            node_at(1),
            curl.map(|c| c.1).ok_or(no_curl),
        ),
        (
            format!("npm package in Node: {seq_label} — vs Node's own fetch, same GETs"),
            node_at(0),
            node_at(2).map_err(|_| "no Node"),
        ),
        (
            format!("npm package in Node: {par_label} — vs Node's own fetch, same GETs"),
            node_at(1),
            node_at(3).map_err(|_| "no Node"),
        ),
    ];
    for (name, ours, reference) in rows {
        let row = match (ours, reference) {
            (Err(reason), _) => Row::skipped(name, reason),
            (Ok(ours), Ok(r)) => Row::compare(name, figure(ours), figure(r), Better::Higher),
            (Ok(ours), Err(why)) => Row::reference_skipped(name, figure(ours), why, Better::Higher),
        };
        report.push(GROUP, row);
    }
    report.note(format!(
        "requests: every side reuses connections; the native client and Node time their loops \
         in-process after one warm-up call, curl is timed as a whole process (`curl -sS -K \
         CONFIG` with one `url`/`output = /dev/null` pair per request, plus the client's \
         headers: {}). Node's own fetch is timed in the same script on `fetch(URL/nodes)` \
         then `json()`.",
        recorded.shown()
    ));
    Ok(())
}

/// curl's median seconds for `n` requests, sequential and `k` at a time.
fn curl_runs(
    ctx: &Ctx,
    curl: &Path,
    request: &RecordedRequest,
    n: usize,
    k: usize,
) -> BenchResult<(f64, f64)> {
    let config = ctx.work().join("curl-requests.cfg");
    let mut text = String::new();
    for _ in 0..n {
        writeln!(text, "url = \"{}\"\noutput = \"/dev/null\"", request.uri).expect("String");
    }
    std::fs::write(&config, text).context(|| format!("write {}", config.display()))?;
    let self_exe = ctx.self_exe()?;
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..ctx.sizes.reps {
        for (i, parallel) in [false, true].into_iter().enumerate() {
            let mut argv: Vec<OsString> = vec![curl.into(), "-sS".into()];
            if parallel {
                argv.extend([
                    "--parallel".into(),
                    "--parallel-max".into(),
                    k.to_string().into(),
                ]);
            }
            argv.extend([
                "-w".into(),
                "%{http_code}\\n".into(),
                "-K".into(),
                config.clone().into(),
            ]);
            for (name, value) in &request.headers {
                argv.push("-H".into());
                argv.push(format!("{name}: {value}").into());
            }
            let run = measured(&self_exe, &ctx.scratch(), &argv, true)?;
            let out = String::from_utf8_lossy(&run.stdout).into_owned();
            let ok = out.lines().filter(|l| *l == "200").count();
            if ok != n {
                return Err(BenchError::new(format!(
                    "curl got {ok} answers 200 out of {n}: {:?}",
                    out.lines().find(|l| *l != "200")
                )));
            }
            times[i].push(run.usage.wall_s);
        }
    }
    let _ = std::fs::remove_file(&config);
    Ok((median(&times[0]), median(&times[1])))
}

fn expect_one(result: slicer::Result<Vec<slicer::Node>>) -> BenchResult<()> {
    let nodes = result.context(|| "list_vms".to_owned())?;
    if nodes.len() == 1 {
        Ok(())
    } else {
        Err(BenchError::new(format!(
            "list_vms returned {} VMs, not 1",
            nodes.len()
        )))
    }
}
