//! Background exec (PROTOCOL §9): detached processes whose output is kept
//! in a per-process ring buffer, with the registry the agent keeps per VM.
//!
//! Choices where the protocol is silent:
//! - Frame ids start at 1; a ring evicts whole frames from the front. Ring
//!   sizes count output bytes (`started` and `exit` frames count zero).
//! - A `gap` frame carries the id of the last evicted frame, the number of
//!   frames the reader missed, and the bytes it missed; for a `from_id`
//!   inside evicted history other than 1 the byte count covers all evicted
//!   history, since the sizes of evicted frames are not kept.
//! - Reaping a running process answers 409 (as the newest Go SDK expects):
//!   a reaped entry would leave a process nobody can stop.
//! - An id that never existed answers 404; a reaped one 410, until the VM
//!   reboots (which empties the registry and kills every process).
//! - A launch that cannot start (no such program, missing working
//!   directory) answers 400 with the reason; a sandbox failure 500.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use base64::Engine as _;
use slicer_core::background::{
    BackgroundExec, BackgroundExecInfo, KillBody, KillResponse, ReapResponse, WaitExitResponse,
};
use slicer_core::exec::WireFrame;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use super::exec::{encode, ndjson, prepare_blocking, rfc3339, ExecParams, Output, READ_CHUNK};
use super::paths::random_hex;
use super::sandbox::{parse_signal, supervise, Exit, GuestProcess, ProcessGroup, Sandbox};
use super::stream::{body_channel, channel_body, Utf8Text};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::vm::Vm;

/// Ring size when a launch gives none.
pub(crate) const DEFAULT_RING_BYTES: u64 = 1 << 20;

/// The agent-wide cap on the rings of all background processes of a VM.
pub(crate) const RING_BUDGET: u64 = 256 << 20;

/// `wait-exit` timeout when none is given, and the longest allowed.
const DEFAULT_WAIT_SECS: u64 = 30;
const MAX_WAIT_SECS: u64 = 600;

/// SIGTERM grace before SIGKILL when a kill gives none.
const DEFAULT_GRACE_MS: u64 = 5000;

/// How long a kill waits to report whether the process already ended.
const KILL_SETTLE: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The background processes of one VM.
#[derive(Debug, Default)]
pub(crate) struct BackgroundTable {
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    incarnation: u64,
    entries: BTreeMap<String, Arc<BgExec>>,
    reaped: HashSet<String>,
    reserved: u64,
}

impl Table {
    /// A reboot loses the registry; its processes were killed with it.
    fn for_incarnation(&mut self, incarnation: u64) -> &mut Self {
        if self.incarnation != incarnation {
            *self = Table {
                incarnation,
                ..Table::default()
            };
        }
        self
    }
}

impl BackgroundTable {
    fn table(&self, vm: &Vm) -> MutexGuard<'_, Table> {
        let incarnation = vm.state().boot.incarnation;
        let mut table = lock(&self.inner);
        table.for_incarnation(incarnation);
        table
    }

    /// Reserves `bytes` of the ring budget.
    fn reserve(&self, vm: &Vm, bytes: u64) -> Result<(), ApiError> {
        let mut table = self.table(vm);
        if table.reserved + bytes > RING_BUDGET {
            return Err(ApiError::unavailable(format!(
                "the background ring budget is exhausted: {} of {RING_BUDGET} bytes are held \
                 by other background execs and {bytes} more were asked for; reap finished ones",
                table.reserved
            )));
        }
        table.reserved += bytes;
        Ok(())
    }

    fn release(&self, vm: &Vm, bytes: u64) {
        let mut table = self.table(vm);
        table.reserved = table.reserved.saturating_sub(bytes);
    }

    /// An entry, 404 when it never existed, 410 once reaped.
    pub fn get(&self, vm: &Vm, id: &str) -> Result<Arc<BgExec>, ApiError> {
        let table = self.table(vm);
        if let Some(entry) = table.entries.get(id) {
            return Ok(entry.clone());
        }
        if table.reaped.contains(id) {
            return Err(ApiError::new(
                StatusCode::GONE,
                format!("background exec {id:?} was reaped"),
            ));
        }
        Err(ApiError::not_found(format!(
            "background exec {id:?} not found on VM {:?}",
            vm.hostname()
        )))
    }

    /// Every entry, oldest first.
    pub fn list(&self, vm: &Vm) -> Vec<BackgroundExecInfo> {
        let mut entries: Vec<_> = self.table(vm).entries.values().cloned().collect();
        entries.sort_by_key(|e| (e.started_at, e.id.clone()));
        entries.iter().map(|e| e.info()).collect()
    }

    /// Frees an exited entry and its ring.
    pub fn reap(&self, vm: &Vm, id: &str) -> Result<ReapResponse, ApiError> {
        let entry = self.get(vm, id)?;
        if entry.running() {
            return Err(ApiError::conflict(format!(
                "background exec {id:?} is still running; kill it or wait for it to exit \
                 before reaping"
            )));
        }
        let mut table = self.table(vm);
        if table.entries.remove(id).is_some() {
            table.reserved = table.reserved.saturating_sub(entry.ring_bytes);
            table.reaped.insert(id.to_owned());
        }
        drop(table);
        lock(&entry.ring).reaped = true;
        entry.changed.send_modify(|_| {});
        Ok(ReapResponse {
            exec_id: id.to_owned(),
            reaped: true,
        })
    }
}

/// One background process and its ring.
#[derive(Debug)]
pub(crate) struct BgExec {
    id: String,
    pid: u32,
    command: String,
    args: Vec<String>,
    cwd: String,
    uid: u32,
    started_at: OffsetDateTime,
    ring_bytes: u64,
    base64: bool,
    group: ProcessGroup,
    ring: Mutex<Ring>,
    changed: watch::Sender<()>,
}

#[derive(Debug)]
struct Ring {
    frames: VecDeque<Stored>,
    used: u64,
    next_id: u64,
    written: u64,
    dropped_bytes: u64,
    dropped_frames: u64,
    exit: Option<(Exit, OffsetDateTime)>,
    reaped: bool,
}

#[derive(Debug)]
struct Stored {
    id: u64,
    at: OffsetDateTime,
    /// Output bytes produced before this frame.
    offset: u64,
    payload: Payload,
}

#[derive(Debug)]
enum Payload {
    Started,
    Output(Output, Bytes),
    Exit(Exit),
}

impl Stored {
    fn size(&self) -> u64 {
        match &self.payload {
            Payload::Output(_, data) => data.len() as u64,
            _ => 0,
        }
    }
}

/// Where a log reader is: the next frame id it wants and, when known, the
/// output offset of that frame.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    next: u64,
    offset: Option<u64>,
}

impl BgExec {
    fn running(&self) -> bool {
        lock(&self.ring).exit.is_none()
    }

    /// Appends a frame, evicting from the front past the ring's size.
    fn push(&self, payload: Payload) {
        let mut ring = lock(&self.ring);
        let id = ring.next_id;
        ring.next_id += 1;
        let stored = Stored {
            id,
            at: OffsetDateTime::now_utc(),
            offset: ring.written,
            payload,
        };
        let size = stored.size();
        if let Payload::Exit(exit) = &stored.payload {
            ring.exit = Some((*exit, stored.at));
        }
        ring.written += size;
        ring.used += size;
        ring.frames.push_back(stored);
        while ring.used > self.ring_bytes {
            let Some(old) = ring.frames.pop_front() else {
                break;
            };
            ring.used -= old.size();
            ring.dropped_bytes += old.size();
            ring.dropped_frames += 1;
        }
        drop(ring);
        self.changed.send_modify(|_| {});
    }

    fn wire(&self, stored: &Stored) -> WireFrame {
        let mut frame = WireFrame {
            id: Some(stored.id),
            timestamp: Some(rfc3339(stored.at)),
            pid: Some(self.pid),
            ..Default::default()
        };
        match &stored.payload {
            Payload::Started => {
                frame.kind = Some("started".to_owned());
                frame.started_at = Some(rfc3339(self.started_at));
            }
            Payload::Output(which, data) => {
                frame.kind = Some(
                    match which {
                        Output::Stdout => "stdout",
                        Output::Stderr => "stderr",
                    }
                    .to_owned(),
                );
                frame.pid = None;
                if self.base64 {
                    frame.data = Some(base64::engine::general_purpose::STANDARD.encode(data));
                    frame.encoding = Some("base64".to_owned());
                } else {
                    frame.data = Some(String::from_utf8_lossy(data).into_owned());
                }
            }
            Payload::Exit(exit) => {
                frame.kind = Some("exit".to_owned());
                frame.exit_code = exit.code;
                frame.signal = exit.signal.map(str::to_owned);
                frame.ended_at = Some(rfc3339(stored.at));
            }
        }
        frame
    }

    /// The frames from `cursor` on (a `gap` first when some were evicted),
    /// and whether the log is complete for this reader.
    fn read(&self, cursor: &mut Cursor) -> (Vec<Bytes>, bool) {
        let ring = lock(&self.ring);
        let first = ring.frames.front().map_or(ring.next_id, |f| f.id);
        let first_offset = ring.frames.front().map_or(ring.written, |f| f.offset);
        let mut out = Vec::new();
        if cursor.next < first && ring.dropped_frames > 0 {
            let missed_bytes = first_offset - cursor.offset.unwrap_or(0).min(first_offset);
            out.push(encode(&WireFrame {
                kind: Some("gap".to_owned()),
                id: Some(first - 1),
                timestamp: Some(rfc3339(OffsetDateTime::now_utc())),
                dropped_bytes: Some(missed_bytes),
                dropped_frames: Some(first - cursor.next),
                message: Some("ring buffer evicted history".to_owned()),
                ..Default::default()
            }));
            cursor.next = first;
            cursor.offset = Some(first_offset);
        }
        let from = cursor.next;
        for stored in ring.frames.iter().filter(|f| f.id >= from) {
            out.push(encode(&self.wire(stored)));
            cursor.next = stored.id + 1;
            cursor.offset = Some(stored.offset + stored.size());
        }
        if cursor.offset.is_none() && cursor.next == ring.next_id {
            cursor.offset = Some(ring.written);
        }
        let complete = ring.reaped || (ring.exit.is_some() && cursor.next >= ring.next_id);
        (out, complete)
    }

    /// The info object.
    pub fn info(&self) -> BackgroundExecInfo {
        let ring = lock(&self.ring);
        BackgroundExecInfo {
            exec_id: self.id.clone(),
            pid: self.pid,
            command: self.command.clone(),
            args: self.args.clone(),
            cwd: self.cwd.clone(),
            uid: self.uid,
            started_at: Some(self.started_at),
            running: ring.exit.is_none(),
            exit_code: ring.exit.map(|(e, _)| e.code),
            signal: ring
                .exit
                .and_then(|(e, _)| e.signal)
                .unwrap_or_default()
                .to_owned(),
            ended_at: ring.exit.map(|(_, at)| at),
            bytes_written: ring.written,
            bytes_dropped: ring.dropped_bytes,
            frames_dropped: ring.dropped_frames,
            next_id: ring.next_id,
            ring_bytes: self.ring_bytes,
        }
    }

    /// Waits until the process exits or `limit` passes; whether it exited.
    async fn wait_exit(&self, limit: Duration) -> bool {
        let mut rx = self.changed.subscribe();
        let exited = async {
            loop {
                if !self.running() {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(limit, exited).await.is_ok()
    }

    /// `GET …/logs`: replays the ring and, with `follow`, streams until the
    /// exit frame.
    pub fn logs(self: &Arc<Self>, query: &QueryParams) -> Result<Response, ApiError> {
        let follow = query.bool("follow")?.unwrap_or(false);
        let from = match query.get("from_id") {
            None => 1,
            Some(text) => text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid from_id {text:?}: expected a frame id (1 or more)"
                ))
            })?,
        }
        .max(1);
        let mut cursor = Cursor {
            next: from,
            offset: (from == 1).then_some(0),
        };
        let (tx, rx) = body_channel();
        let entry = self.clone();
        tokio::spawn(async move {
            let mut changes = entry.changed.subscribe();
            loop {
                changes.mark_unchanged();
                let (frames, complete) = entry.read(&mut cursor);
                for frame in frames {
                    if tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
                if !follow || complete {
                    return;
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(ndjson(channel_body(rx)))
    }

    /// `POST …/kill`.
    pub async fn kill(&self, body: KillBody) -> Result<KillResponse, ApiError> {
        let requested = if body.signal.is_empty() {
            "TERM"
        } else {
            body.signal.as_str()
        };
        let (signal, name) = parse_signal(requested).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid signal {requested:?}: expected TERM, KILL, INT, HUP, QUIT, USR1 or USR2"
            ))
        })?;
        if !self.running() {
            return Ok(KillResponse {
                exec_id: self.id.clone(),
                pid: self.pid,
                running: false,
                signal_sent: String::new(),
            });
        }
        self.group.signal(signal).await;
        if name == "TERM" {
            let grace = Duration::from_millis(body.grace_ms.unwrap_or(DEFAULT_GRACE_MS));
            let group = self.group.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                group.kill();
            });
        }
        let exited = self.wait_exit(KILL_SETTLE).await;
        Ok(KillResponse {
            exec_id: self.id.clone(),
            pid: self.pid,
            running: !exited,
            signal_sent: name.to_owned(),
        })
    }

    /// `GET …/wait-exit?timeout=<seconds>`.
    pub async fn wait(&self, query: &QueryParams) -> Result<WaitExitResponse, ApiError> {
        let secs = match query.get("timeout") {
            None => DEFAULT_WAIT_SECS,
            Some(text) => text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid timeout {text:?}: expected whole seconds (0 to {MAX_WAIT_SECS})"
                ))
            })?,
        };
        if secs > MAX_WAIT_SECS {
            return Err(ApiError::bad_request(format!(
                "invalid timeout {secs}: at most {MAX_WAIT_SECS} seconds"
            )));
        }
        let exited = self.wait_exit(Duration::from_secs(secs)).await;
        let exit = lock(&self.ring).exit;
        Ok(match (exited, exit) {
            (true, Some((exit, at))) => WaitExitResponse {
                exec_id: self.id.clone(),
                running: false,
                exit_code: Some(exit.code),
                signal: exit.signal.unwrap_or_default().to_owned(),
                ended_at: Some(at),
                timed_out: false,
            },
            _ => WaitExitResponse {
                exec_id: self.id.clone(),
                running: true,
                timed_out: true,
                ..Default::default()
            },
        })
    }
}

/// `POST /vm/{h}/exec?background=true`.
pub(crate) async fn launch(
    vm: Arc<Vm>,
    sandbox: Arc<Sandbox>,
    params: ExecParams,
) -> Result<(StatusCode, Json<BackgroundExec>), ApiError> {
    let ring_bytes = match params.ring_bytes {
        None | Some(0) => DEFAULT_RING_BYTES,
        Some(n) if n < 0 => {
            return Err(ApiError::bad_request(format!(
                "invalid ring_bytes {n}: it must not be negative"
            )))
        }
        Some(n) if n as u64 > RING_BUDGET => {
            return Err(ApiError::bad_request(format!(
                "invalid ring_bytes {n}: it exceeds the agent-wide budget of {RING_BUDGET} bytes"
            )))
        }
        Some(n) => n as u64,
    };
    vm.background.reserve(&vm, ring_bytes)?;
    let started = start(&vm, &sandbox, &params, ring_bytes).await;
    let entry = match started {
        Ok(entry) => entry,
        Err(err) => {
            vm.background.release(&vm, ring_bytes);
            return Err(err);
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(BackgroundExec {
            exec_id: entry.id.clone(),
            pid: entry.pid,
            started_at: Some(entry.started_at),
            ring_bytes,
        }),
    ))
}

async fn start(
    vm: &Arc<Vm>,
    sandbox: &Arc<Sandbox>,
    params: &ExecParams,
    ring_bytes: u64,
) -> Result<Arc<BgExec>, ApiError> {
    let launch = prepare_blocking(vm.clone(), params.clone())
        .await?
        .map_err(|f| ApiError::bad_request(f.message))?;
    let process = sandbox
        .spawn(vm, &launch)
        .map_err(|f| ApiError::internal("cannot start the background exec", f.message))?;
    let entry = Arc::new(BgExec {
        id: format!("ex_{}", random_hex(8)),
        pid: process.pid(),
        command: params.cmd.clone(),
        args: params.args.clone(),
        cwd: launch.cwd.clone(),
        uid: launch.user.uid,
        started_at: OffsetDateTime::now_utc(),
        ring_bytes,
        base64: params.base64,
        group: process.group(),
        ring: Mutex::new(Ring {
            frames: VecDeque::new(),
            used: 0,
            next_id: 1,
            written: 0,
            dropped_bytes: 0,
            dropped_frames: 0,
            exit: None,
            reaped: false,
        }),
        changed: watch::Sender::new(()),
    });
    entry.push(Payload::Started);
    vm.background
        .table(vm)
        .entries
        .insert(entry.id.clone(), entry.clone());
    tracing::debug!(hostname = vm.hostname(), exec_id = %entry.id, pid = entry.pid, "background exec started");
    tokio::spawn(drive(vm.clone(), entry.clone(), process));
    Ok(entry)
}

/// Records a background process's output and exit.
async fn drive(vm: Arc<Vm>, entry: Arc<BgExec>, mut process: GuestProcess) {
    let group = process.group();
    let (out, err) = (process.stdout.take(), process.stderr.take());
    // A small ring gets small frames, so eviction can keep the newest output.
    let chunk = usize::try_from(entry.ring_bytes)
        .unwrap_or(READ_CHUNK)
        .clamp(1, READ_CHUNK);
    let work = async {
        tokio::join!(
            record(out, Output::Stdout, &entry, chunk),
            record(err, Output::Stderr, &entry, chunk)
        );
        process.wait().await
    };
    let exit = tokio::select! {
        exit = work => exit,
        never = supervise(&vm, &group) => match never {},
    };
    let exit = exit.unwrap_or(Exit {
        code: 1,
        signal: None,
    });
    entry.push(Payload::Exit(exit));
    tracing::debug!(hostname = vm.hostname(), exec_id = %entry.id, code = exit.code, "background exec exited");
}

async fn record(pipe: Option<impl AsyncRead + Unpin>, which: Output, entry: &BgExec, chunk: usize) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut text = Utf8Text::default();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = if entry.base64 {
            Bytes::copy_from_slice(&buf[..n])
        } else {
            Bytes::from(text.push(&buf[..n]))
        };
        if !data.is_empty() {
            entry.push(Payload::Output(which, data));
        }
    }
    let rest = text.finish();
    if !rest.is_empty() {
        entry.push(Payload::Output(which, Bytes::from(rest)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ring_bytes: u64) -> BgExec {
        BgExec {
            id: "ex_test".into(),
            pid: 42,
            command: "x".into(),
            args: vec![],
            cwd: "/".into(),
            uid: 1000,
            started_at: OffsetDateTime::UNIX_EPOCH,
            ring_bytes,
            base64: true,
            group: super::super::sandbox::tests_support::dead_group(),
            ring: Mutex::new(Ring {
                frames: VecDeque::new(),
                used: 0,
                next_id: 1,
                written: 0,
                dropped_bytes: 0,
                dropped_frames: 0,
                exit: None,
                reaped: false,
            }),
            changed: watch::Sender::new(()),
        }
    }

    fn frames(bytes: Vec<Bytes>) -> Vec<serde_json::Value> {
        bytes
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect()
    }

    #[test]
    fn the_ring_evicts_whole_frames_and_reports_gaps() {
        let e = entry(10);
        e.push(Payload::Started);
        for chunk in ["aaaa", "bbbb", "cccc"] {
            e.push(Payload::Output(Output::Stdout, Bytes::from(chunk)));
        }
        // 12 bytes > 10: `started` and "aaaa" went.
        let info = e.info();
        assert_eq!(
            (info.bytes_written, info.bytes_dropped, info.frames_dropped),
            (12, 4, 2)
        );
        assert_eq!(info.next_id, 5);
        let mut cursor = Cursor {
            next: 1,
            offset: Some(0),
        };
        let (out, complete) = e.read(&mut cursor);
        let out = frames(out);
        assert!(!complete);
        assert_eq!(out[0]["type"], "gap");
        assert_eq!(
            (out[0]["id"].as_u64(), out[0]["dropped_frames"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(out[0]["dropped_bytes"], 4);
        assert_eq!(out[1]["id"], 3);
        assert_eq!(out[1]["data"], "YmJiYg==");
        assert_eq!(out.len(), 3);
        // A follower that fell behind gets exactly what it missed.
        for chunk in ["dddd", "eeee", "ffff"] {
            e.push(Payload::Output(Output::Stderr, Bytes::from(chunk)));
        }
        e.push(Payload::Exit(Exit {
            code: 3,
            signal: None,
        }));
        let (out, complete) = e.read(&mut cursor);
        let out = frames(out);
        assert!(complete);
        assert_eq!(out[0]["type"], "gap");
        assert_eq!(
            (
                out[0]["dropped_frames"].as_u64(),
                out[0]["dropped_bytes"].as_u64()
            ),
            (Some(1), Some(4))
        );
        assert_eq!(out.last().unwrap()["type"], "exit");
        assert_eq!(out.last().unwrap()["exit_code"], 3);
        // from_id inside the ring: no gap; beyond it: nothing yet.
        let mut c = Cursor {
            next: 7,
            offset: None,
        };
        let out = frames(e.read(&mut c).0);
        assert_eq!(out[0]["id"], 7);
        let mut c = Cursor {
            next: 99,
            offset: None,
        };
        assert!(e.read(&mut c).0.is_empty());
    }
}
