//! Streams handed to JavaScript, cancellation, and the NDJSON and SSE
//! decoders behind `vm.exec`, `vm.bg.logs` and `vm.fs.watch`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::future::{select, Either};
use futures_util::{Stream, StreamExt};
use js_sys::{Function, Promise, Reflect};
use serde::Deserialize;
use slicer_core::exec::WireFrame;
use slicer_core::ResponseBody;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::convert::{js_bytes, Obj};
use crate::errors::{plain, to_js};
use crate::js;

/// Items of a stream handed to JavaScript.
pub(crate) type Items = Pin<Box<dyn Stream<Item = Result<JsValue, JsValue>>>>;

/// Watches the call's `signal` and the client's; listeners are removed when
/// this is dropped.
pub(crate) struct AbortWatch {
    promise: Promise,
    dispose: Option<Function>,
}

impl AbortWatch {
    /// A watch over up to two signals (`undefined` for none); `None` when
    /// there is nothing to watch.
    ///
    /// # Errors
    /// A `TypeError` when a signal is not an `AbortSignal`.
    pub(crate) fn new(call: &JsValue, client: &JsValue) -> Result<Option<Self>, JsValue> {
        let watch = js::watch_abort(call, client)?;
        if watch.is_null() || watch.is_undefined() {
            return Ok(None);
        }
        let promise = Reflect::get(&watch, &"promise".into())?.unchecked_into::<Promise>();
        let dispose = Reflect::get(&watch, &"dispose".into())?
            .dyn_into::<Function>()
            .ok();
        Ok(Some(AbortWatch { promise, dispose }))
    }

    /// Resolves with the abort reason once a signal fires.
    fn fired(&self) -> JsFuture {
        JsFuture::from(self.promise.clone())
    }
}

impl Drop for AbortWatch {
    fn drop(&mut self) {
        if let Some(dispose) = self.dispose.take() {
            let _ = dispose.call0(&JsValue::UNDEFINED);
        }
    }
}

/// Runs `fut` until it finishes or a watched signal fires; on abort `fut` is
/// dropped, which aborts its fetch, and the call rejects with the reason.
pub(crate) async fn guarded<T>(
    watch: Option<AbortWatch>,
    fut: impl Future<Output = Result<T, JsValue>>,
) -> Result<T, JsValue> {
    let Some(watch) = watch else {
        return fut.await;
    };
    let fut = std::pin::pin!(fut);
    match select(fut, watch.fired()).await {
        Either::Left((result, _)) => result,
        Either::Right((reason, _)) => Err(reason.unwrap_or_else(|e| e)),
    }
}

struct Slot {
    items: Option<Items>,
    waker: Option<Waker>,
    watch: Option<AbortWatch>,
}

/// A stream of plain objects for JavaScript: `next()` resolves with the next
/// item or `undefined` at the end; `close()` drops the stream, which aborts
/// its request. The package wraps it in an async generator.
#[wasm_bindgen]
pub struct JsStream {
    slot: Rc<RefCell<Slot>>,
}

impl JsStream {
    pub(crate) fn new(items: Items, watch: Option<AbortWatch>) -> Self {
        JsStream {
            slot: Rc::new(RefCell::new(Slot {
                items: Some(items),
                waker: None,
                watch,
            })),
        }
    }
}

fn close_slot(slot: &RefCell<Slot>) {
    let (items, watch, waker) = {
        let mut s = slot.borrow_mut();
        (s.items.take(), s.watch.take(), s.waker.take())
    };
    // Dropped outside the borrow: dropping aborts the fetch, which runs
    // JavaScript.
    drop(items);
    drop(watch);
    if let Some(w) = waker {
        w.wake();
    }
}

#[wasm_bindgen]
impl JsStream {
    /// The next item, or `undefined` once the stream has ended. Rejects with
    /// the stream's error, or the abort reason when the call's signal fired.
    pub fn next(&self) -> Promise {
        let slot = self.slot.clone();
        future_to_promise(async move {
            let abort = slot.borrow().watch.as_ref().map(AbortWatch::fired);
            let next = std::future::poll_fn(|cx| {
                let mut s = slot.borrow_mut();
                let Some(items) = s.items.as_mut() else {
                    return Poll::Ready(None);
                };
                match items.poll_next_unpin(cx) {
                    Poll::Pending => {
                        s.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    ready => ready,
                }
            });
            let result = match abort {
                None => next.await,
                Some(abort) => match select(std::pin::pin!(next), abort).await {
                    Either::Left((r, _)) => r,
                    Either::Right((reason, _)) => Some(Err(reason.unwrap_or_else(|e| e))),
                },
            };
            match result {
                Some(Ok(item)) => Ok(item),
                Some(Err(e)) => {
                    close_slot(&slot);
                    Err(e)
                }
                None => {
                    close_slot(&slot);
                    Ok(JsValue::UNDEFINED)
                }
            }
        })
    }

    /// Ends the stream early: the request is aborted and a pending `next()`
    /// resolves with `undefined`.
    pub fn close(&self) {
        close_slot(&self.slot);
    }
}

/// Splits bytes into `\n`-terminated lines across chunk boundaries.
#[derive(Default)]
struct Lines {
    buf: BytesMut,
}

impl Lines {
    fn push(&mut self, chunk: &[u8], out: &mut VecDeque<Bytes>) {
        self.buf.extend_from_slice(chunk);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line = self.buf.split_to(nl + 1).freeze();
            line.truncate(nl);
            out.push_back(line);
        }
    }

    fn finish(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf).freeze())
    }
}

/// Turns a response body into items, one decoded line at a time; `decode`
/// returns `None` for lines that produce no item. At the end of the body a
/// last unterminated line is decoded when `keep_last` is set, and `end` is
/// called for anything pending.
fn line_items<D>(body: ResponseBody, keep_last: bool, decode: D) -> Items
where
    D: FnMut(Option<&[u8]>) -> Option<Result<JsValue, JsValue>> + 'static,
{
    struct State<D> {
        body: ResponseBody,
        lines: Lines,
        queue: VecDeque<Bytes>,
        eof: bool,
        ended: bool,
        decode: D,
    }
    let state = State {
        body,
        lines: Lines::default(),
        queue: VecDeque::new(),
        eof: false,
        ended: false,
        decode,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        move |mut s| async move {
            loop {
                if let Some(line) = s.queue.pop_front() {
                    match (s.decode)(Some(&line)) {
                        Some(item) => return Some((item, s)),
                        None => continue,
                    }
                }
                if s.eof {
                    if s.ended {
                        return None;
                    }
                    s.ended = true;
                    // The end of the body: lets the decoder flush or drop state.
                    return (s.decode)(None).map(|item| (item, s));
                }
                match s.body.next().await {
                    Some(Ok(chunk)) => s.lines.push(&chunk, &mut s.queue),
                    Some(Err(e)) => {
                        s.eof = true;
                        s.ended = true;
                        return Some((Err(to_js(e.into(), None)), s));
                    }
                    None => {
                        s.eof = true;
                        if keep_last {
                            s.queue.extend(s.lines.finish());
                        }
                    }
                }
            }
        },
    ))
}

/// Exec or background-log frames (NDJSON) as the official SDK shapes them.
///
/// Blank and unparsable lines are skipped, a last unterminated line is
/// parsed, and nothing is interpreted: the caller sees `type: 'exit'` or the
/// end of iteration.
pub(crate) fn exec_frames(body: ResponseBody) -> Items {
    line_items(body, true, |line| {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let frame: WireFrame = serde_json::from_slice(line).ok()?;
        Some(frame_object(frame))
    })
}

/// One wire frame as an `ExecFrame` object: wire keys renamed to camelCase,
/// `id` and gap counters dropped, and a decoded `…Bytes` companion for each
/// non-empty output string of a base64 frame.
pub(crate) fn frame_object(f: WireFrame) -> Result<JsValue, JsValue> {
    let base64 = f.encoding.as_deref() == Some("base64");
    let mut obj = Obj::new()
        .opt("timestamp", f.timestamp)
        .opt("type", f.kind)
        .opt("pid", f.pid)
        .opt("encoding", f.encoding)
        .opt("startedAt", f.started_at)
        .opt("endedAt", f.ended_at)
        .opt("signal", f.signal)
        .set("exitCode", f.exit_code)
        .opt("error", f.error);
    for (key, bytes_key, value) in [
        ("data", "dataBytes", f.data),
        ("stdout", "stdoutBytes", f.stdout),
        ("stderr", "stderrBytes", f.stderr),
    ] {
        let Some(text) = value else { continue };
        if base64 && !text.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| plain(format!("exec frame field {key} is not valid base64: {e}")))?;
            obj = obj.set(bytes_key, js_bytes(&decoded));
        }
        obj = obj.set(key, text);
    }
    Ok(obj.build())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WatchPayload {
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    path: String,
    timestamp: String,
    size: i64,
    #[serde(rename = "isDir")]
    is_dir: bool,
    message: Option<String>,
}

/// `fs.watch` events from Server-Sent Events text.
///
/// `data:` lines are joined with `\n` until a blank line; the last `id:`
/// line stands in for a payload id of 0; `event:` lines and `:` comments are
/// ignored; `\r\n` is accepted. An unterminated final event is dropped, as
/// the official SDK does.
pub(crate) fn watch_events(body: ResponseBody) -> Items {
    let mut data: Option<String> = None;
    let mut last_id: u64 = 0;
    line_items(body, false, move |line| {
        let line = line?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let payload = data.take()?;
            let event: WatchPayload = match serde_json::from_str(&payload) {
                Ok(e) => e,
                Err(e) => return Some(Err(plain(format!("bad fs.watch event {payload:?}: {e}")))),
            };
            let id = if event.id == 0 { last_id } else { event.id };
            return Some(Ok(Obj::new()
                .set("id", id as f64)
                .set("type", event.kind)
                .set("path", event.path)
                .set("timestamp", event.timestamp)
                .set("size", event.size as f64)
                .set("isDir", event.is_dir)
                .opt("message", event.message)
                .build()));
        }
        let text = String::from_utf8_lossy(line);
        if let Some(rest) = text.strip_prefix("data:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(rest);
                }
                None => data = Some(rest.to_owned()),
            }
        } else if let Some(rest) = text.strip_prefix("id:") {
            if let Ok(id) = rest.trim().parse() {
                last_id = id;
            }
        }
        None
    })
}
