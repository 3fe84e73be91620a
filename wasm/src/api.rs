//! The internal `Core` class: every call of the JavaScript API, in Rust.
//!
//! The package's JavaScript layer (`wasm/npm/api.js`) gives these methods
//! the official SDK's class shapes (`client.vms.create`, `vm.fs.readFile`,
//! async generators for streams). Each method takes its options object last;
//! its `signal` (and the client's) aborts the call. Invalid input rejects
//! the returned promise before anything is sent.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine as _;
use js_sys::Promise;
use slicer_core::exec::BufferedExecResult;
use slicer_core::http::{self, HeaderName, HeaderValue, Method};
use slicer_core::tar::{unpacked_size, Excludes};
use slicer_core::{
    AgentHealth, ApiError, BackgroundExec, BackgroundExecInfo, BaseUrl, Body, ClientConfig,
    CreateSecretRequest, CreateVmOptions, CreateVmRequest, CreateVmResponse, DownloadMode,
    DownloadRequest, Error, ExecRequest, FsEntry, HostGroup, HttpTransport, KillOptions,
    ListOptions, MkdirRequest, Node, NodeStats, Query, ResponseBody, Secret, Signal, SlicerClient,
    Stdio, UpdateSecretRequest, Upload, UploadSource, WaitFor, WriteFileOptions,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::convert::{array, js_bytes, json_value, timestamp, Obj, Opts};
use crate::errors::{plain, to_js, type_error};
use crate::js;
use crate::streams::{exec_frames, guarded, watch_events, AbortWatch, JsStream};
use crate::transport::FetchTransport;

/// The `User-Agent` sent by default from server-side runtimes.
pub const DEFAULT_USER_AGENT: &str = concat!("slicer-sdk-wasm/", env!("CARGO_PKG_VERSION"));

/// Built at compile time: a header named by `&str` is parsed at run time,
/// which links the `http` crate's large table of standard names.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// Rejects the method's promise with the error of a failed input check.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Promise::reject(&e),
        }
    };
}

pub(crate) struct State {
    pub(crate) client: SlicerClient<FetchTransport>,
    pub(crate) config: ClientConfig,
    signal: JsValue,
}

impl State {
    /// A client like this one whose transport reports body progress.
    pub(crate) fn with_progress(
        &self,
        progress: crate::transport::ProgressFn,
    ) -> Result<SlicerClient<FetchTransport>, JsValue> {
        let transport = self.client.transport().with_progress(progress);
        SlicerClient::new(transport, self.config.clone()).map_err(|e| to_js(e, None))
    }

    /// Sends a request with extra headers, as the core's `send_raw` does
    /// with only a content type (`fs.watch` needs `Accept` and
    /// `Last-Event-ID`).
    async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Vec<(HeaderName, String)>,
    ) -> Result<http::Response<ResponseBody>, JsValue> {
        let mut uri = format!("{}{}", self.client.base_url(), path);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.encode());
        }
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(token) = self
            .config
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ua) = self.config.user_agent.as_deref().filter(|u| !u.is_empty()) {
            builder = builder.header(http::header::USER_AGENT, ua);
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(&value).map_err(|_| {
                type_error(format!("{value:?} cannot be sent as the {name} header"))
            })?;
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Body::Empty)
            .map_err(|e| plain(format!("cannot build a request for {path}: {e}")))?;
        self.client
            .transport()
            .send(request)
            .await
            .map_err(|e| to_js(e.into(), None))
    }
}

/// The engine of one `SlicerClient`: configuration, transport and every
/// API call. Not part of the public API; the package's classes wrap it.
#[wasm_bindgen]
pub struct Core {
    state: Rc<State>,
}

/// A path of `/`-joined segments, each escaped as `encodeURIComponent`
/// does; names are checked to be non-empty.
fn route(parts: &[(&str, &str)]) -> Result<String, JsValue> {
    let mut out = String::new();
    for (what, seg) in parts {
        out.push('/');
        if what.is_empty() {
            out.push_str(seg);
            continue;
        }
        if seg.is_empty() {
            return Err(plain(format!("{what} must not be empty")));
        }
        out.push_str(&String::from(js_sys::encode_uri_component(seg)));
    }
    Ok(out)
}

fn string_arg(value: &JsValue, what: &str) -> Result<String, JsValue> {
    value
        .as_string()
        .ok_or_else(|| type_error(format!("{what} must be a string")))
}

/// Fails with `SlicerAPIError` unless the status is 2xx.
async fn check_status(
    method: &Method,
    path: &str,
    res: http::Response<ResponseBody>,
) -> Result<ResponseBody, JsValue> {
    let status = res.status();
    if status.is_success() {
        return Ok(res.into_body());
    }
    let body = res.into_body().collect().await.unwrap_or_default();
    let err = ApiError::from_response(method.clone(), path, status, &body);
    Err(to_js(err.into(), None))
}

fn core_err(e: Error) -> JsValue {
    to_js(e, None)
}

impl Core {
    /// Runs `f` as a promise that the call's and the client's signals abort.
    fn spawn<F, Fut>(&self, opts: &JsValue, f: F) -> Promise
    where
        F: FnOnce(Rc<State>) -> Fut,
        Fut: Future<Output = Result<JsValue, JsValue>> + 'static,
    {
        let signal = signal_of(opts);
        let watch = tri!(AbortWatch::new(&signal, &self.state.signal));
        // Boxed so the promise glue is instantiated once, not per method:
        // that keeps the module small.
        let fut: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> =
            Box::pin(f(self.state.clone()));
        future_to_promise(guarded(watch, fut))
    }
}

fn signal_of(opts: &JsValue) -> JsValue {
    if opts.is_object() {
        js_sys::Reflect::get(opts, &"signal".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

// ---- result objects --------------------------------------------------------

fn host_group(g: &HostGroup) -> JsValue {
    Obj::new()
        .set("name", g.name.as_str())
        .set("count", g.count)
        .set("ramBytes", g.ram_bytes as f64)
        .set("cpus", g.cpus)
        .set("arch", g.arch.as_str())
        .set("gpuCount", g.gpu_count)
        .build()
}

fn vm_info(n: &Node) -> JsValue {
    let mut o = Obj::new()
        .set("hostname", n.hostname.as_str())
        .set("ip", n.ip.as_str())
        .set("createdAt", timestamp(&n.created_at).unwrap_or_default())
        .non_empty("hostGroup", &n.hostgroup)
        .set("ramBytes", n.ram_bytes as f64)
        .set("cpus", n.cpus)
        .non_empty("arch", &n.arch)
        .non_empty("status", n.status.as_str());
    if !n.tags.is_empty() {
        o = o.strings("tags", &n.tags);
    }
    if n.persistent {
        o = o.set("persistent", true);
    }
    o.build()
}

fn create_response(r: &CreateVmResponse) -> JsValue {
    Obj::new()
        .set("hostname", r.hostname.as_str())
        .set("ip", r.ip.as_str())
        .set("createdAt", timestamp(&r.created_at).unwrap_or_default())
        .non_empty("hostGroup", &r.hostgroup)
        .non_empty("arch", &r.arch)
        .build()
}

fn vm_stat(s: &NodeStats) -> Result<JsValue, JsValue> {
    let snapshot = match &s.snapshot {
        Some(snap) => json_value(snap)?,
        None => JsValue::NULL,
    };
    Ok(Obj::new()
        .set("hostname", s.hostname.as_str())
        .set("ip", s.ip.as_str())
        .set("createdAt", timestamp(&s.created_at).unwrap_or_default())
        .set("snapshot", snapshot)
        .non_empty("error", &s.error)
        .build())
}

fn health(h: &AgentHealth) -> JsValue {
    Obj::new()
        .non_empty("hostname", &h.hostname)
        .set("agentUptime", h.agent_uptime.as_nanos() as f64)
        .non_empty("agentVersion", &h.agent_version)
        .set("systemUptime", h.system_uptime.as_nanos() as f64)
        .set("userdataRan", h.userdata_ran)
        .build()
}

fn secret(s: &Secret) -> JsValue {
    Obj::new()
        .set("name", s.name.as_str())
        .set("size", s.size as f64)
        .set("permissions", s.permissions.as_str())
        .set("uid", s.uid)
        .set("gid", s.gid)
        .opt("modifiedAt", timestamp(&s.modified_at))
        .build()
}

fn fs_entry(e: &FsEntry) -> JsValue {
    Obj::new()
        .set("name", e.name.as_str())
        .set("type", e.file_type.as_str())
        .set("size", e.size as f64)
        .set("mtime", timestamp(&e.mtime).unwrap_or_default())
        .set("mode", e.mode.as_str())
        .build()
}

fn bg_response(b: &BackgroundExec) -> JsValue {
    Obj::new()
        .set("execId", b.exec_id.as_str())
        .set("pid", b.pid)
        .set("startedAt", timestamp(&b.started_at).unwrap_or_default())
        .set("ringBytes", b.ring_bytes as f64)
        .build()
}

fn bg_info(i: &BackgroundExecInfo) -> JsValue {
    let mut o = Obj::new()
        .set("execId", i.exec_id.as_str())
        .set("pid", i.pid)
        .set("command", i.command.as_str())
        .set("startedAt", timestamp(&i.started_at).unwrap_or_default())
        .set("running", i.running)
        .set("bytesWritten", i.bytes_written as f64)
        .set("bytesDropped", i.bytes_dropped as f64)
        .set("nextId", i.next_id as f64)
        .set("ringBytes", i.ring_bytes as f64);
    if !i.args.is_empty() {
        o = o.strings("args", &i.args);
    }
    o.non_empty("cwd", &i.cwd)
        .set("uid", i.uid)
        .opt("exitCode", i.exit_code)
        .non_empty("signal", &i.signal)
        .opt("endedAt", timestamp(&i.ended_at))
        .build()
}

// ---- request parsing -------------------------------------------------------

fn list_options(value: &JsValue) -> Result<ListOptions, JsValue> {
    let o = Opts::new(value, "ListOptions")?;
    Ok(ListOptions {
        tag: o.string("tag")?.filter(|s| !s.is_empty()),
        tag_prefix: o.string("tagPrefix")?.filter(|s| !s.is_empty()),
    })
}

fn create_request(value: &JsValue) -> Result<CreateVmRequest, JsValue> {
    let o = Opts::new(value, "CreateVMRequest")?;
    Ok(CreateVmRequest {
        ram_bytes: o.uint("ramBytes", 9_007_199_254_740_991.0)?,
        cpus: o.u32("cpus")?,
        gpu_count: o.u32("gpuCount")?,
        persistent: o.boolean("persistent")?.unwrap_or(false),
        disk_image: o.string("diskImage")?,
        import_user: o.string("importUser")?,
        ssh_keys: o.strings("sshKeys")?.unwrap_or_default(),
        userdata: o.string("userdata")?,
        ip: o.string("ip")?,
        tags: o.strings("tags")?.unwrap_or_default(),
        secrets: o.strings("secrets")?.unwrap_or_default(),
        ..Default::default()
    })
}

fn create_options(value: &JsValue) -> Result<CreateVmOptions, JsValue> {
    let o = Opts::new(value, "CreateVMOptions")?;
    let wait = match o.string("wait")?.as_deref() {
        None => None,
        Some("agent") => Some(WaitFor::Agent),
        Some("userdata") => Some(WaitFor::Userdata),
        Some(other) => {
            return Err(type_error(format!(
                "CreateVMOptions.wait must be 'agent' or 'userdata', not {other:?}"
            )))
        }
    };
    let timeout = o
        .uint("waitTimeoutSec", 9_007_199_254_740_991.0)?
        .filter(|&s| s > 0)
        .map(Duration::from_secs);
    Ok(CreateVmOptions { wait, timeout })
}

/// The foreground exec query: keys as the official SDK sends them, with
/// `stdio` only when the caller set it (so text-mode callers see text).
struct ExecQuery {
    query: Query,
    base64: bool,
    stdin: Option<Vec<u8>>,
}

fn exec_query(value: &JsValue) -> Result<ExecQuery, JsValue> {
    let o = Opts::new(value, "ExecRequest")?;
    let command = o.string("command")?.unwrap_or_default();
    if command.is_empty() {
        return Err(plain("ExecRequest.command must not be empty"));
    }
    let mut q = Query::new();
    q.push("cmd", command);
    for a in o.strings("args")?.unwrap_or_default() {
        q.push("args", a);
    }
    for e in o.strings("env")?.unwrap_or_default() {
        if e.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
            return Err(plain(format!(
                "ExecRequest.env entry {e:?} must look like KEY=VALUE"
            )));
        }
        q.push("env", e);
    }
    q.push_opt("uid", o.u32("uid")?.map(|v| v.to_string()))
        .push_opt("gid", o.u32("gid")?.map(|v| v.to_string()))
        .push_opt("cwd", o.string("cwd")?.filter(|s| !s.is_empty()))
        .push_opt("shell", o.string("shell")?.filter(|s| !s.is_empty()))
        .push_opt(
            "permissions",
            o.string("permissions")?.filter(|s| !s.is_empty()),
        );
    let stdio = o.string("stdio")?;
    let base64 = match stdio.as_deref() {
        None => false,
        Some("text") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(type_error(format!(
                "ExecRequest.stdio must be 'text' or 'base64', not {other:?}"
            )))
        }
    };
    q.push_opt("stdio", stdio);
    Ok(ExecQuery {
        query: q,
        base64,
        stdin: o.bytes("stdin")?,
    })
}

fn bg_request(value: &JsValue) -> Result<(ExecRequest, Option<u64>), JsValue> {
    let o = Opts::new(value, "BgExecRequest")?;
    let command = o.string("command")?.unwrap_or_default();
    if command.is_empty() {
        return Err(plain("BgExecRequest.command is required"));
    }
    let req = ExecRequest {
        command,
        args: o.strings("args")?.unwrap_or_default(),
        env: o.strings("env")?.unwrap_or_default(),
        uid: o.u32("uid")?,
        gid: o.u32("gid")?,
        cwd: o.string("cwd")?.filter(|s| !s.is_empty()),
        shell: o.string("shell")?.filter(|s| !s.is_empty()),
        stdio: Stdio::Base64,
        ..Default::default()
    };
    let ring = o
        .uint("ringBytes", 9_007_199_254_740_991.0)?
        .filter(|&n| n > 0);
    Ok((req, ring))
}

/// The fields a secret create and update share; `data` is required.
fn secret_fields(o: &Opts<'_>) -> Result<UpdateSecretRequest, JsValue> {
    let data = o
        .bytes("data")?
        .ok_or_else(|| type_error("the secret's data is required (a string or a Uint8Array)"))?;
    Ok(UpdateSecretRequest {
        data: Some(data),
        permissions: o.string("permissions")?,
        uid: o.u32("uid")?,
        gid: o.u32("gid")?,
    })
}

// ---- the exported class ----------------------------------------------------

#[wasm_bindgen]
impl Core {
    /// Checks the options and builds the client; nothing is sent.
    ///
    /// Options: `baseURL` (required), `token`, `userAgent`, `fetch`,
    /// `signal`. A UNIX-socket base URL needs `fetch`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Core, JsValue> {
        let o = Opts::new(&options, "SlicerClientOptions")?;
        let raw = o.string("baseURL")?.unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(plain("SlicerClient: baseURL is required"));
        }
        let fetch = o.function("fetch")?;
        let base = match BaseUrl::parse(&raw) {
            Ok(BaseUrl::Http(url)) => url,
            Ok(BaseUrl::UnixSocket(_)) if fetch.is_some() => {
                // The caller's fetch carries requests to the socket; the
                // host name is only a placeholder, as in the official SDK.
                "http://localhost".to_owned()
            }
            Ok(BaseUrl::UnixSocket(path)) => {
                return Err(plain(format!(
                    "UNIX sockets are not available in this runtime: {path:?} is a socket path. \
                     Pass a `fetch` bound to the socket in the options, or an http(s) base URL \
                     (in a browser, a same-origin relay)"
                )))
            }
            Err(e) => return Err(type_error(e.to_string())),
        };
        let signal = o.signal();
        // Checked now so a bad signal fails the constructor, not every call.
        AbortWatch::new(&signal, &JsValue::UNDEFINED)?;
        let user_agent = match o.string("userAgent")? {
            Some(ua) => ua,
            None if js::is_server_runtime() => DEFAULT_USER_AGENT.to_owned(),
            None => String::new(),
        };
        let config = ClientConfig {
            base_url: base,
            token: o.string("token")?,
            user_agent: Some(user_agent),
        };
        let transport = match fetch {
            Some(f) => FetchTransport::with_fetch(f),
            None => FetchTransport::new(),
        };
        let client = SlicerClient::new(transport, config.clone()).map_err(core_err)?;
        Ok(Core {
            state: Rc::new(State {
                client,
                config,
                signal,
            }),
        })
    }

    /// The base URL requests go to.
    #[wasm_bindgen(getter, js_name = baseURL)]
    pub fn base_url(&self) -> String {
        self.state.client.base_url().to_owned()
    }

    /// `GET /info`, raw (`git_commit` keeps its wire name).
    #[wasm_bindgen(js_name = getInfo)]
    pub fn get_info(&self, opts: JsValue) -> Promise {
        self.spawn(&opts, |s| async move {
            let info = s.client.get_info().await.map_err(core_err)?;
            json_value(&info)
        })
    }

    /// `GET /hostgroup`.
    #[wasm_bindgen(js_name = hostGroupsList)]
    pub fn host_groups_list(&self, opts: JsValue) -> Promise {
        self.spawn(&opts, |s| async move {
            let groups = s.client.get_host_groups().await.map_err(core_err)?;
            Ok(array(&groups, host_group))
        })
    }

    /// `GET /hostgroup/{name}/nodes`, filtered by `tag` or `tagPrefix`.
    #[wasm_bindgen(js_name = hostGroupNodes)]
    pub fn host_group_nodes(&self, name: JsValue, opts: JsValue) -> Promise {
        let name = tri!(string_arg(&name, "the host group name"));
        let list = tri!(list_options(&opts));
        self.spawn(&opts, |s| async move {
            let nodes = s
                .client
                .get_host_group_nodes(&name, &list)
                .await
                .map_err(core_err)?;
            Ok(array(&nodes, vm_info))
        })
    }

    /// `GET /nodes`, filtered by `tag` or `tagPrefix`.
    #[wasm_bindgen(js_name = vmsList)]
    pub fn vms_list(&self, opts: JsValue) -> Promise {
        let list = tri!(list_options(&opts));
        self.spawn(&opts, |s| async move {
            let nodes = s.client.list_vms(&list).await.map_err(core_err)?;
            Ok(array(&nodes, vm_info))
        })
    }

    /// `GET /nodes/stats`.
    #[wasm_bindgen(js_name = vmsStats)]
    pub fn vms_stats(&self, opts: JsValue) -> Promise {
        self.spawn(&opts, |s| async move {
            let stats = s.client.get_vm_stats(None).await.map_err(core_err)?;
            let out = js_sys::Array::new();
            for st in &stats {
                out.push(&vm_stat(st)?);
            }
            Ok(out.into())
        })
    }

    /// `POST /hostgroup/{group}/nodes`, optionally waiting for the agent or
    /// userdata (`wait`, `waitTimeoutSec` in `opts`).
    #[wasm_bindgen(js_name = vmsCreate)]
    pub fn vms_create(&self, group: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let group = tri!(string_arg(&group, "the host group name"));
        let req = tri!(create_request(&req));
        let options = tri!(create_options(&opts));
        self.spawn(&opts, |s| async move {
            let res = s
                .client
                .create_vm_with_options(&group, &req, options)
                .await
                .map_err(core_err)?;
            Ok(create_response(&res))
        })
    }

    /// `GET /secrets`.
    #[wasm_bindgen(js_name = secretsList)]
    pub fn secrets_list(&self, opts: JsValue) -> Promise {
        self.spawn(&opts, |s| async move {
            let list = s.client.list_secrets().await.map_err(core_err)?;
            Ok(array(&list, secret))
        })
    }

    /// `POST /secrets`; `data` (text or bytes) travels as base64.
    #[wasm_bindgen(js_name = secretsCreate)]
    pub fn secrets_create(&self, req: JsValue, opts: JsValue) -> Promise {
        let o = tri!(Opts::new(&req, "CreateSecretRequest"));
        let name = tri!(o.string("name")).unwrap_or_default();
        let fields = tri!(secret_fields(&o));
        let req = CreateSecretRequest {
            name,
            data: fields.data.unwrap_or_default(),
            permissions: fields.permissions,
            uid: fields.uid,
            gid: fields.gid,
        };
        self.spawn(&opts, |s| async move {
            s.client.create_secret(&req).await.map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `PATCH /secrets/{name}`; `data` is always sent.
    #[wasm_bindgen(js_name = secretsPatch)]
    pub fn secrets_patch(&self, name: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let name = tri!(string_arg(&name, "the secret name"));
        let o = tri!(Opts::new(&req, "UpdateSecretRequest"));
        let req = tri!(secret_fields(&o));
        self.spawn(&opts, |s| async move {
            s.client.patch_secret(&name, &req).await.map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `DELETE /secrets/{name}`.
    #[wasm_bindgen(js_name = secretsDelete)]
    pub fn secrets_delete(&self, name: JsValue, opts: JsValue) -> Promise {
        let name = tri!(string_arg(&name, "the secret name"));
        self.spawn(&opts, |s| async move {
            s.client.delete_secret(&name).await.map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `DELETE /hostgroup/{group}/nodes/{hostname}`.
    #[wasm_bindgen(js_name = vmDelete)]
    pub fn vm_delete(&self, group: JsValue, hostname: JsValue, opts: JsValue) -> Promise {
        let group = tri!(string_arg(&group, "the VM's host group"));
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        self.spawn(&opts, |s| async move {
            s.client
                .delete_vm(&group, &hostname)
                .await
                .map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `GET /vm/{hostname}/health`.
    #[wasm_bindgen(js_name = vmHealth)]
    pub fn vm_health(&self, hostname: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        self.spawn(&opts, |s| async move {
            let h = s
                .client
                .get_agent_health(&hostname)
                .await
                .map_err(core_err)?;
            Ok(health(&h))
        })
    }

    /// `GET /vm/{hostname}/logs`, raw.
    #[wasm_bindgen(js_name = vmLogs)]
    pub fn vm_logs(&self, hostname: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        self.spawn(&opts, |s| async move {
            let logs = s
                .client
                .get_vm_logs(&hostname, None)
                .await
                .map_err(core_err)?;
            json_value(&logs)
        })
    }

    /// Polls health until the agent answers (or, with `userdata`, until
    /// userdata has run); `timeoutMs` (120000) and `intervalMs` (500) in
    /// `opts`. The deadline rejects with a plain `Error`.
    #[wasm_bindgen(js_name = vmWait)]
    pub fn vm_wait(&self, hostname: JsValue, userdata: bool, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let o = tri!(Opts::new(&opts, "WaitOptions"));
        let timeout = tri!(o.number("timeoutMs")).unwrap_or(120_000.0).max(0.0);
        let interval = tri!(o.number("intervalMs")).unwrap_or(500.0).max(1.0);
        self.spawn(&opts, move |s| async move {
            let deadline = js_sys::Date::now() + timeout;
            let what = if userdata { "userdata to run" } else { "its agent" };
            loop {
                let last = match s.client.get_agent_health(&hostname).await {
                    Ok(h) if !userdata || h.userdata_ran => return Ok(health(&h)),
                    Ok(_) => "userdata has not run yet".to_owned(),
                    Err(e) => e.to_string(),
                };
                let left = deadline - js_sys::Date::now();
                if left <= 0.0 {
                    return Err(plain(format!(
                        "timed out after {} ms waiting for {what} on VM {hostname:?} (last: {last})",
                        timeout as u64
                    )));
                }
                JsFuture::from(js::sleep(interval.min(left))).await?;
            }
        })
    }

    /// `POST /vm/{hostname}/shutdown`: the action travels in the query,
    /// which the daemon reads, and in a JSON body as the official SDK sends
    /// it; unset leaves the daemon's default.
    #[wasm_bindgen(js_name = vmShutdown)]
    pub fn vm_shutdown(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let o = tri!(Opts::new(&req, "ShutdownRequest"));
        let action = tri!(o.string("action"));
        if let Some(a) = action
            .as_deref()
            .filter(|a| !matches!(*a, "shutdown" | "reboot"))
        {
            return Promise::reject(&type_error(format!(
                "ShutdownRequest.action must be 'shutdown' or 'reboot', not {a:?}"
            )));
        }
        let path = tri!(route(&[
            ("", "vm"),
            ("hostname", &hostname),
            ("", "shutdown")
        ]));
        self.spawn(&opts, |s| async move {
            let mut query = Query::new();
            query.push_opt("action", action.clone());
            let body = match &action {
                Some(a) => serde_json::json!({ "action": a }),
                None => serde_json::json!({}),
            };
            let res = s
                .client
                .send_raw(
                    Method::POST,
                    &path,
                    &query,
                    Body::Bytes(body.to_string().into()),
                    Some("application/json"),
                )
                .await
                .map_err(core_err)?;
            check_status(&Method::POST, &path, res).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The power calls: `pause`, `resume`, `suspend`, `restore`, `relaunch`.
    #[wasm_bindgen(js_name = vmPower)]
    pub fn vm_power(&self, hostname: JsValue, action: String, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        if !matches!(
            action.as_str(),
            "pause" | "resume" | "suspend" | "restore" | "relaunch"
        ) {
            return Promise::reject(&type_error(format!("unknown VM power action {action:?}")));
        }
        self.spawn(&opts, |s| async move {
            let c = &s.client;
            let result = match action.as_str() {
                "pause" => c.pause_vm(&hostname).await,
                "resume" => c.resume_vm(&hostname).await,
                "suspend" => c.suspend_vm(&hostname).await,
                "restore" => c.restore_vm(&hostname).await,
                _ => c.relaunch_vm(&hostname).await.map(|_| ()),
            };
            result.map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `POST /vm/{hostname}/exec`: resolves with a stream of frames once the
    /// response head has arrived.
    pub fn exec(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let mut q = tri!(exec_query(&req));
        let path = tri!(route(&[("", "vm"), ("hostname", &hostname), ("", "exec")]));
        let signal = signal_of(&opts);
        let client_signal = self.state.signal.clone();
        self.spawn(&opts, |s| async move {
            let (body, ct) = match q.stdin.take() {
                Some(bytes) => {
                    q.query.push("stdin", "true");
                    (Body::Bytes(bytes.into()), Some("application/octet-stream"))
                }
                None => (Body::Empty, None),
            };
            let res = s
                .client
                .send_raw(Method::POST, &path, &q.query, body, ct)
                .await
                .map_err(core_err)?;
            let body = check_status(&Method::POST, &path, res).await?;
            let watch = AbortWatch::new(&signal, &client_signal)?;
            Ok(JsStream::new(exec_frames(body), watch).into())
        })
    }

    /// `POST /vm/{hostname}/exec?buffered=true`: one result once the command
    /// exits. Output is bytes when base64 was asked for or the answer is
    /// base64 (decoded only when the answer says so).
    #[wasm_bindgen(js_name = execBuffered)]
    pub fn exec_buffered(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let mut q = tri!(exec_query(&req));
        if q.stdin.is_some() {
            return Promise::reject(&plain(
                "execBuffered does not accept stdin; use exec() to send standard input",
            ));
        }
        let path = tri!(route(&[("", "vm"), ("hostname", &hostname), ("", "exec")]));
        q.query.push("buffered", "true");
        self.spawn(&opts, |s| async move {
            let res = s
                .client
                .send_raw(Method::POST, &path, &q.query, Body::Empty, None)
                .await
                .map_err(core_err)?;
            let body = check_status(&Method::POST, &path, res).await?;
            let bytes = body.collect().await.map_err(|e| core_err(e.into()))?;
            let raw: BufferedExecResult = serde_json::from_slice(&bytes)
                .map_err(|e| plain(format!("could not decode the buffered exec result: {e}")))?;
            buffered_result(raw, q.base64)
        })
    }

    /// `POST /vm/{hostname}/exec?background=true` (always `stdio=base64`).
    #[wasm_bindgen(js_name = bgExec)]
    pub fn bg_exec(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let (req, ring) = tri!(bg_request(&req));
        self.spawn(&opts, |s| async move {
            let res = s
                .client
                .exec_background(&hostname, &req, ring)
                .await
                .map_err(core_err)?;
            Ok(bg_response(&res))
        })
    }

    /// `GET /vm/{hostname}/exec`.
    #[wasm_bindgen(js_name = bgList)]
    pub fn bg_list(&self, hostname: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        self.spawn(&opts, |s| async move {
            let list = s.client.exec_list(&hostname).await.map_err(core_err)?;
            Ok(array(&list, bg_info))
        })
    }

    /// `GET /vm/{hostname}/exec/{id}`.
    #[wasm_bindgen(js_name = bgInfo)]
    pub fn bg_info(&self, hostname: JsValue, id: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let id = tri!(string_arg(&id, "the exec id"));
        let path = tri!(exec_route(&hostname, &id, None));
        self.spawn(&opts, |s| async move {
            let info = s.client.exec_info(&hostname, &id).await;
            let info = info.map_err(|e| to_js(e, Some(("GET", &path))))?;
            Ok(bg_info(&info))
        })
    }

    /// `GET /vm/{hostname}/exec/{id}/logs`: resolves with a stream of frames.
    #[wasm_bindgen(js_name = bgLogs)]
    pub fn bg_logs(&self, hostname: JsValue, id: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let id = tri!(string_arg(&id, "the exec id"));
        let o = tri!(Opts::new(&opts, "BgLogOptions"));
        let follow = tri!(o.boolean("follow")).unwrap_or(false);
        let from_id = tri!(o.uint("fromId", 9_007_199_254_740_991.0)).filter(|&n| n > 0);
        let path = tri!(exec_route(&hostname, &id, Some("logs")));
        let signal = signal_of(&opts);
        let client_signal = self.state.signal.clone();
        self.spawn(&opts, |s| async move {
            let mut query = Query::new();
            if follow {
                query.push("follow", "true");
            }
            query.push_opt("from_id", from_id.map(|n| n.to_string()));
            let res = s
                .client
                .send_raw(Method::GET, &path, &query, Body::Empty, None)
                .await
                .map_err(core_err)?;
            let body = check_status(&Method::GET, &path, res).await?;
            let watch = AbortWatch::new(&signal, &client_signal)?;
            Ok(JsStream::new(exec_frames(body), watch).into())
        })
    }

    /// `POST /vm/{hostname}/exec/{id}/kill` with `signal` (`TERM`, `KILL`,
    /// `INT`, `HUP`, `QUIT`, `USR1`, `USR2`) and `graceMs`.
    #[wasm_bindgen(js_name = bgKill)]
    pub fn bg_kill(&self, hostname: JsValue, id: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let id = tri!(string_arg(&id, "the exec id"));
        let o = tri!(Opts::new(&opts, "BgKillOptions"));
        // `signal` is the Unix signal's name here when it is a string.
        let sig = match o.raw("signal") {
            Some(v) if v.is_string() => {
                let name = v.as_string().unwrap_or_default();
                Some(tri!(Signal::parse(&name).ok_or_else(|| type_error(format!(
                    "BgKillOptions.signal {name:?} is not one of TERM, KILL, INT, HUP, QUIT, USR1, USR2"
                )))))
            }
            _ => None,
        };
        // An AbortSignal in `signal` aborts the call, as everywhere else.
        let abort_opts = if o.raw("signal").is_some_and(|v| v.is_object()) {
            opts.clone()
        } else {
            JsValue::UNDEFINED
        };
        let grace = tri!(o.uint("graceMs", 9_007_199_254_740_991.0)).map(Duration::from_millis);
        let path = tri!(exec_route(&hostname, &id, Some("kill")));
        self.spawn(&abort_opts, |s| async move {
            let options = KillOptions { signal: sig, grace };
            let res = s.client.exec_kill(&hostname, &id, options).await;
            let res = res.map_err(|e| to_js(e, Some(("POST", &path))))?;
            Ok(Obj::new()
                .set("execId", res.exec_id.as_str())
                .set("pid", res.pid)
                .set("running", res.running)
                .set("signalSent", res.signal_sent.as_str())
                .build())
        })
    }

    /// `GET /vm/{hostname}/exec/{id}/wait-exit`: `timeoutSec` 1 to 600; 0
    /// asks for the daemon's default of 30 s.
    #[wasm_bindgen(js_name = bgWait)]
    pub fn bg_wait(
        &self,
        hostname: JsValue,
        id: JsValue,
        timeout_sec: f64,
        opts: JsValue,
    ) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let id = tri!(string_arg(&id, "the exec id"));
        if !(timeout_sec.is_finite() && timeout_sec >= 0.0 && timeout_sec.fract() == 0.0) {
            return Promise::reject(&type_error("timeoutSec must be a whole number of seconds"));
        }
        let secs = if timeout_sec == 0.0 {
            30
        } else {
            timeout_sec as u64
        };
        let path = tri!(exec_route(&hostname, &id, Some("wait-exit")));
        self.spawn(&opts, |s| async move {
            let res = s
                .client
                .exec_wait_exit(&hostname, &id, Duration::from_secs(secs))
                .await
                .map_err(|e| to_js(e, Some(("GET", &path))))?;
            Ok(Obj::new()
                .set("execId", res.exec_id.as_str())
                .set("running", res.running)
                .set("timedOut", res.timed_out)
                .opt("exitCode", res.exit_code)
                .non_empty("signal", &res.signal)
                .opt("endedAt", timestamp(&res.ended_at))
                .build())
        })
    }

    /// `DELETE /vm/{hostname}/exec/{id}`.
    #[wasm_bindgen(js_name = bgRemove)]
    pub fn bg_remove(&self, hostname: JsValue, id: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let id = tri!(string_arg(&id, "the exec id"));
        let path = tri!(exec_route(&hostname, &id, None));
        self.spawn(&opts, |s| async move {
            let res = s.client.exec_delete(&hostname, &id).await;
            let res = res.map_err(|e| to_js(e, Some(("DELETE", &path))))?;
            Ok(Obj::new()
                .set("execId", res.exec_id.as_str())
                .set("reaped", res.reaped)
                .build())
        })
    }

    /// `GET /vm/{hostname}/fs/readdir`.
    #[wasm_bindgen(js_name = fsReadDir)]
    pub fn fs_read_dir(&self, hostname: JsValue, path: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            let list = s
                .client
                .read_dir(&hostname, &path)
                .await
                .map_err(core_err)?;
            Ok(array(&list, fs_entry))
        })
    }

    /// `GET /vm/{hostname}/fs/stat`: the entry, or `null` on 404.
    #[wasm_bindgen(js_name = fsStat)]
    pub fn fs_stat(&self, hostname: JsValue, path: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            let entry = s.client.stat(&hostname, &path).await.map_err(core_err)?;
            Ok(entry.as_ref().map_or(JsValue::NULL, fs_entry))
        })
    }

    /// `POST /vm/{hostname}/fs/mkdir` with `{path, recursive?, mode?}`.
    #[wasm_bindgen(js_name = fsMkdir)]
    pub fn fs_mkdir(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let o = tri!(Opts::new(&req, "FSMkdirRequest"));
        let req = MkdirRequest {
            path: tri!(o.string("path")).unwrap_or_default(),
            recursive: tri!(o.boolean("recursive")).unwrap_or(false),
            mode: tri!(o.string("mode")),
        };
        self.spawn(&opts, |s| async move {
            s.client.mkdir(&hostname, &req).await.map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `DELETE /vm/{hostname}/fs/remove`.
    #[wasm_bindgen(js_name = fsRemove)]
    pub fn fs_remove(
        &self,
        hostname: JsValue,
        path: JsValue,
        recursive: bool,
        opts: JsValue,
    ) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            s.client
                .remove(&hostname, &path, recursive)
                .await
                .map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Reads a whole file (`GET /vm/{hostname}/cp`, binary).
    #[wasm_bindgen(js_name = fsReadFile)]
    pub fn fs_read_file(&self, hostname: JsValue, path: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            let file = s
                .client
                .read_file(&hostname, &path)
                .await
                .map_err(core_err)?;
            Ok(js_bytes(&file.data))
        })
    }

    /// Writes a whole file (`POST /vm/{hostname}/cp`, binary); `content` is
    /// bytes or UTF-8 text; `uid`, `gid`, `permissions` in `opts`.
    #[wasm_bindgen(js_name = fsWriteFile)]
    pub fn fs_write_file(
        &self,
        hostname: JsValue,
        path: JsValue,
        content: JsValue,
        opts: JsValue,
    ) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        let data = tri!(crate::convert::bytes_of(&content).ok_or_else(|| type_error(
            "writeFile content must be a Uint8Array, an ArrayBuffer or a string"
        )));
        let o = tri!(Opts::new(&opts, "writeFile options"));
        let options = WriteFileOptions {
            uid: tri!(o.u32("uid")),
            gid: tri!(o.u32("gid")),
            permissions: tri!(o.string("permissions")),
        };
        self.spawn(&opts, |s| async move {
            s.client
                .write_file(&hostname, &path, data, &options)
                .await
                .map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Uploads a tar (bytes, a `ReadableStream` or an async iterable of
    /// chunks, collected first) and extracts it under `path`, which is
    /// created when missing.
    #[wasm_bindgen(js_name = fsTarTo)]
    pub fn fs_tar_to(
        &self,
        hostname: JsValue,
        path: JsValue,
        tar: JsValue,
        opts: JsValue,
    ) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            let archive = crate::folder::collect_bytes(&tar).await?;
            let mut upload = Upload::directory(path, "");
            upload.copy_contents = true;
            upload.unpacked_size = unpacked_size(&archive[..], &Excludes::default()).ok();
            let source = UploadSource::from_bytes(archive);
            s.client
                .cp_upload(&hostname, &upload, &source)
                .await
                .map_err(core_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Downloads a directory's contents as a tar.
    #[wasm_bindgen(js_name = fsTarFrom)]
    pub fn fs_tar_from(&self, hostname: JsValue, path: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let path = tri!(string_arg(&path, "the path"));
        self.spawn(&opts, |s| async move {
            let request = DownloadRequest::new(path, DownloadMode::Tar);
            let download = s
                .client
                .cp_download(&hostname, &request)
                .await
                .map_err(core_err)?;
            let bytes = download
                .body
                .collect()
                .await
                .map_err(|e| core_err(e.into()))?;
            Ok(js_bytes(&bytes))
        })
    }

    /// Uploads in-memory files as one tar; see `folder::upload`.
    #[wasm_bindgen(js_name = fsUploadFolder)]
    pub fn fs_upload_folder(
        &self,
        hostname: JsValue,
        remote: JsValue,
        files: JsValue,
        opts: JsValue,
    ) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let remote = tri!(string_arg(&remote, "the remote path"));
        let progress = tri!(tri!(Opts::new(&opts, "uploadFolder options")).function("onProgress"));
        self.spawn(&opts, |s| {
            crate::folder::upload(s, hostname, remote, files, progress)
        })
    }

    /// Downloads a directory as `[{path, type, data, mode, mtime}]`.
    #[wasm_bindgen(js_name = fsDownloadFolder)]
    pub fn fs_download_folder(&self, hostname: JsValue, remote: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let remote = tri!(string_arg(&remote, "the remote path"));
        let progress =
            tri!(tri!(Opts::new(&opts, "downloadFolder options")).function("onProgress"));
        self.spawn(&opts, |s| {
            crate::folder::download(s, hostname, remote, progress)
        })
    }

    /// `GET /vm/{hostname}/fs/watch`: resolves with a stream of events.
    #[wasm_bindgen(js_name = fsWatch)]
    pub fn fs_watch(&self, hostname: JsValue, req: JsValue, opts: JsValue) -> Promise {
        let hostname = tri!(string_arg(&hostname, "the hostname"));
        let (query, last_id) = tri!(watch_query(&req));
        let path = tri!(route(&[
            ("", "vm"),
            ("hostname", &hostname),
            ("", "fs"),
            ("", "watch")
        ]));
        let signal = signal_of(&opts);
        let client_signal = self.state.signal.clone();
        self.spawn(&opts, |s| async move {
            let mut headers = vec![(http::header::ACCEPT, "text/event-stream".to_owned())];
            if let Some(id) = last_id {
                headers.push((LAST_EVENT_ID, id));
            }
            let res = s
                .send_with_headers(Method::GET, &path, &query, headers)
                .await?;
            let body = check_status(&Method::GET, &path, res).await?;
            let watch = AbortWatch::new(&signal, &client_signal)?;
            Ok(JsStream::new(watch_events(body), watch).into())
        })
    }
}

fn exec_route(hostname: &str, id: &str, tail: Option<&str>) -> Result<String, JsValue> {
    let mut parts = vec![
        ("", "vm"),
        ("hostname", hostname),
        ("", "exec"),
        ("exec id", id),
    ];
    parts.extend(tail.map(|t| ("", t)));
    route(&parts)
}

fn watch_query(value: &JsValue) -> Result<(Query, Option<String>), JsValue> {
    let o = Opts::new(value, "FSWatchRequest")?;
    let paths = o.strings("paths")?.unwrap_or_default();
    if paths.is_empty() {
        return Err(plain("FSWatchRequest.paths must name at least one path"));
    }
    let mut q = Query::new();
    for p in paths {
        q.push("paths", p);
    }
    for p in o.strings("patterns")?.unwrap_or_default() {
        q.push("patterns", p);
    }
    for e in o.strings("events")?.unwrap_or_default() {
        q.push("events", e);
    }
    if let Some(uid) = o.u32("uid")?.filter(|&u| u != 0) {
        q.push("uid", uid.to_string());
    }
    if o.boolean("recursive")? == Some(true) {
        q.push("recursive", "true");
    }
    if o.boolean("oneShot")? == Some(true) {
        q.push("one_shot", "true");
    }
    q.push_opt("debounce", o.string("debounce")?.filter(|s| !s.is_empty()))
        .push_opt("timeout", o.string("timeout")?.filter(|s| !s.is_empty()));
    if let Some(n) = o
        .uint("maxEvents", 9_007_199_254_740_991.0)?
        .filter(|&n| n > 0)
    {
        q.push("max_events", n.to_string());
    }
    Ok((q, o.string("lastEventId")?.filter(|s| !s.is_empty())))
}

/// A buffered exec answer as `ExecResult` or `ExecResultBinary`.
fn buffered_result(raw: BufferedExecResult, asked_base64: bool) -> Result<JsValue, JsValue> {
    let answered_base64 = raw.encoding.as_deref() == Some("base64");
    let binary = asked_base64 || answered_base64;
    let output = |text: &str, key: &str| -> Result<JsValue, JsValue> {
        if !binary {
            return Ok(JsValue::from_str(text));
        }
        if !answered_base64 {
            // An agent that ignored `stdio` answered in text: its bytes are
            // the text's, not a base64 decoding of it.
            return Ok(js_bytes(text.as_bytes()));
        }
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(|b| js_bytes(&b))
            .map_err(|e| plain(format!("buffered exec {key} is not valid base64: {e}")))
    };
    let encoding = if binary {
        Some("base64".to_owned())
    } else {
        raw.encoding.clone()
    };
    Ok(Obj::new()
        .set("stdout", output(&raw.stdout, "stdout")?)
        .set("stderr", output(&raw.stderr, "stderr")?)
        .set("exitCode", raw.exit_code)
        .opt("encoding", encoding)
        .opt("pid", raw.pid)
        .opt("startedAt", raw.started_at)
        .opt("endedAt", raw.ended_at)
        .opt("signal", raw.signal.filter(|s| !s.is_empty()))
        .opt("error", raw.error.filter(|s| !s.is_empty()))
        .build())
}

/// `resolveTransport(baseURL)`: `{kind: 'socket', socketPath}` or
/// `{kind: 'net', url}` (the URL as text; the package makes it a `URL`).
#[wasm_bindgen(js_name = resolveTransport)]
pub fn resolve_transport(base_url: JsValue) -> Result<JsValue, JsValue> {
    let raw = string_arg(&base_url, "baseURL")?;
    if raw.trim().is_empty() {
        return Err(plain("resolveTransport: baseURL is required"));
    }
    match BaseUrl::parse(&raw) {
        Ok(BaseUrl::UnixSocket(path)) => Ok(Obj::new()
            .set("kind", "socket")
            .set("socketPath", path)
            .build()),
        Ok(BaseUrl::Http(url)) => Ok(Obj::new().set("kind", "net").set("url", url).build()),
        Err(e) => Err(type_error(e.to_string())),
    }
}
