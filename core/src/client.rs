//! [`SlicerClient`]: the Slicer API over any [`HttpTransport`].

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, Error, Result};
use crate::models::*;
use crate::transport::{Body, HttpTransport, LongRunning, ResponseBody};
use crate::url::{path, BaseUrl, Query};
use crate::wire::format_go_duration;

/// The `User-Agent` sent when the caller sets none.
pub const DEFAULT_USER_AGENT: &str = concat!("slicer-sdk-rust/", env!("CARGO_PKG_VERSION"));

/// How a client reaches the daemon, minus the transport.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// `http(s)://` base URL. Backends map a UNIX socket to `http://unix`.
    pub base_url: String,
    /// Bearer token; `None` or empty sends no `Authorization` header.
    pub token: Option<String>,
    /// `User-Agent`; `None` sends [`DEFAULT_USER_AGENT`], an empty string
    /// sends none.
    pub user_agent: Option<String>,
}

impl ClientConfig {
    /// A configuration for `base_url` with no token.
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            ..Default::default()
        }
    }

    /// Sets the bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

struct Inner<T> {
    transport: T,
    base: String,
    auth: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// A Slicer API client over the transport `T`.
///
/// Cheap to clone: clones share the transport and its connection pool.
/// Method names follow the official Go SDK in snake case, so `GetHostGroups`
/// is [`get_host_groups`](Self::get_host_groups).
pub struct SlicerClient<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for SlicerClient<T> {
    fn clone(&self) -> Self {
        SlicerClient {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for SlicerClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlicerClient")
            .field("base_url", &self.inner.base)
            .field("token", &self.inner.auth.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl<T: HttpTransport> SlicerClient<T> {
    /// A client sending through `transport` as `config` says.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the base URL is not an `http(s)` URL or the
    /// token or user agent cannot travel in a header.
    pub fn new(transport: T, config: ClientConfig) -> Result<Self> {
        let base = match BaseUrl::parse(&config.base_url)? {
            BaseUrl::Http(url) => url,
            BaseUrl::UnixSocket(p) => {
                return Err(Error::invalid(format!(
                    "{p:?} is a UNIX socket path; use a transport that speaks to sockets \
                     and give this client http://unix as its base URL"
                )))
            }
        };
        let auth = match config.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    Error::invalid("the token contains characters not allowed in a header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        };
        let user_agent = match config.user_agent.as_deref() {
            None => Some(HeaderValue::from_static(DEFAULT_USER_AGENT)),
            Some("") => None,
            Some(ua) => Some(HeaderValue::from_str(ua).map_err(|_| {
                Error::invalid(format!("user agent {ua:?} is not a valid header value"))
            })?),
        };
        Ok(SlicerClient {
            inner: Arc::new(Inner {
                transport,
                base,
                auth,
                user_agent,
            }),
        })
    }

    /// The transport this client sends through.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The base URL requests are built on, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Sends one request and returns the response whatever its status.
    ///
    /// This is the building block of every method; use it for endpoints this
    /// SDK does not wrap. `path` starts with `/` and is appended to the base
    /// URL; `query` is encoded as Go does.
    ///
    /// # Errors
    /// Only [`Error::Transport`]: statuses are the caller's to interpret.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: Body,
        content_type: Option<&'static str>,
    ) -> Result<Response<ResponseBody>> {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        self.dispatch(method, path, query, body, headers, false)
            .await
    }

    /// Sends one request with extra headers; `long_running` lifts the
    /// transport's request timeout (see [`LongRunning`]).
    pub(crate) async fn dispatch(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: Body,
        headers: HeaderMap,
        long_running: bool,
    ) -> Result<Response<ResponseBody>> {
        let mut uri = format!("{}{}", self.inner.base, path);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.encode());
        }
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(body)
            .map_err(|e| Error::invalid(format!("cannot build a request for {path:?}: {e}")))?;
        let request_headers = request.headers_mut();
        if let Some(auth) = &self.inner.auth {
            request_headers.insert(AUTHORIZATION, auth.clone());
        }
        if let Some(ua) = &self.inner.user_agent {
            request_headers.insert(USER_AGENT, ua.clone());
        }
        request_headers.extend(headers);
        if long_running {
            request.extensions_mut().insert(LongRunning);
        }

        #[cfg(feature = "tracing")]
        let result = Self::send_traced(&self.inner.transport, request, &method, path).await;
        #[cfg(not(feature = "tracing"))]
        let result = self.inner.transport.send(request).await;
        Ok(result?)
    }

    /// Sends `request` inside a `slicer.request` span that records the
    /// status and duration.
    #[cfg(feature = "tracing")]
    async fn send_traced(
        transport: &T,
        request: Request<Body>,
        method: &Method,
        path: &str,
    ) -> std::result::Result<Response<ResponseBody>, crate::error::TransportError> {
        use tracing::Instrument as _;

        let span = tracing::info_span!(
            "slicer.request",
            method = %method,
            path = %path,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        // web-time is std's clock on native and `performance.now()` on wasm32,
        // where std's clock panics; the lint cannot tell the two apart.
        #[allow(clippy::disallowed_methods)]
        let started = web_time::Instant::now();
        let result = transport.send(request).instrument(span.clone()).await;
        span.record("duration_ms", started.elapsed().as_secs_f64() * 1000.0);
        match &result {
            Ok(res) => {
                span.record("status", res.status().as_u16());
                span.in_scope(|| tracing::debug!("response head received"));
            }
            Err(e) => span.in_scope(|| tracing::debug!(error = %e, "request failed")),
        }
        result
    }

    /// Sends a request and reads the whole body, mapping any status outside
    /// `ok` to [`Error::Api`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: Option<Vec<u8>>,
        ok: &[StatusCode],
    ) -> Result<(StatusCode, Bytes)> {
        let (body, ct) = match body {
            Some(b) => (Body::Bytes(b.into()), Some("application/json")),
            None => (Body::Empty, None),
        };
        // A wait or timeout in the query means the daemon holds the answer.
        let long = query.has("wait") || query.has("timeout");
        let mut headers = HeaderMap::new();
        if let Some(ct) = ct {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let res = self
            .dispatch(method.clone(), path, query, body, headers, long)
            .await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?;
        let accepted = if ok.is_empty() {
            status.is_success()
        } else {
            ok.contains(&status)
        };
        if !accepted {
            return Err(ApiError::from_response(method, path, status, &bytes).into());
        }
        Ok((status, bytes))
    }

    pub(crate) async fn get_json<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<R> {
        let (_, bytes) = self
            .call(Method::GET, path, query, None, &[StatusCode::OK])
            .await?;
        decode(&Method::GET, path, &bytes)
    }

    pub(crate) async fn send_json<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: Option<&(impl Serialize + ?Sized)>,
        ok: &[StatusCode],
    ) -> Result<R> {
        let body = body.map(encode_json).transpose()?;
        let (_, bytes) = self.call(method.clone(), path, query, body, ok).await?;
        decode(&method, path, &bytes)
    }

    pub(crate) async fn post_empty(&self, path: &str, query: &Query) -> Result<()> {
        self.call(Method::POST, path, query, None, &[StatusCode::OK])
            .await?;
        Ok(())
    }

    // ---- server ---------------------------------------------------------

    /// `GET /healthz`: whether the daemon is alive. Needs no token.
    ///
    /// # Errors
    /// [`Error::Api`] for any non-2xx status, [`Error::Transport`] when the
    /// daemon cannot be reached.
    pub async fn healthz(&self) -> Result<()> {
        self.call(Method::GET, "/healthz", &Query::new(), None, &[])
            .await?;
        Ok(())
    }

    /// `GET /info`: the daemon's version, commit, platform and architecture.
    ///
    /// # Errors
    /// [`Error::Api`] (401 without a valid token), [`Error::Transport`],
    /// [`Error::Decode`].
    pub async fn get_info(&self) -> Result<ServerInfo> {
        self.get_json("/info", &Query::new()).await
    }

    // ---- host groups and listings --------------------------------------

    /// `GET /hostgroup`: every configured host group.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Transport`], [`Error::Decode`].
    pub async fn get_host_groups(&self) -> Result<Vec<HostGroup>> {
        self.get_json::<Option<Vec<HostGroup>>>("/hostgroup", &Query::new())
            .await
            .map(Option::unwrap_or_default)
    }

    /// `GET /hostgroup/{group}/nodes`: the VMs of one group, optionally
    /// filtered by tag.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty group or both filters set;
    /// [`Error::Api`] with 404 for an unknown group.
    pub async fn get_host_group_nodes(
        &self,
        group: &str,
        options: &ListOptions,
    ) -> Result<Vec<Node>> {
        let path = path(&[("", "hostgroup"), ("host group name", group), ("", "nodes")])?;
        self.list_nodes(&path, options).await
    }

    /// `GET /nodes`: every VM, optionally filtered by tag.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for both filters set; [`Error::Api`],
    /// [`Error::Transport`], [`Error::Decode`].
    pub async fn list_vms(&self, options: &ListOptions) -> Result<Vec<Node>> {
        self.list_nodes("/nodes", options).await
    }

    async fn list_nodes(&self, path: &str, options: &ListOptions) -> Result<Vec<Node>> {
        let mut query = Query::new();
        match (&options.tag, &options.tag_prefix) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "tag and tag_prefix filters cannot be combined; set one",
                ))
            }
            (Some(tag), None) => query.push("tag", tag.as_str()),
            (None, Some(prefix)) => query.push("tag_prefix", prefix.as_str()),
            (None, None) => &mut query,
        };
        self.get_json::<Option<Vec<Node>>>(path, &query)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Finds the VM whose friendly name (`name=<label>` tag) is `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty name; [`Error::Api`] with status
    /// 404 when no VM, or more than one, carries the name.
    pub async fn find_vm_by_name(&self, name: &str) -> Result<Node> {
        if name.is_empty() {
            return Err(Error::invalid("VM name must not be empty"));
        }
        let mut nodes = self
            .list_vms(&ListOptions::tag(format!("name={name}")))
            .await?;
        if nodes.len() == 1 {
            return Ok(nodes.remove(0));
        }
        let message = format!(
            "{} VMs are named {name:?}; expected exactly one",
            nodes.len()
        );
        Err(ApiError {
            method: Method::GET,
            path: "/nodes".into(),
            status: StatusCode::NOT_FOUND,
            body: message.clone(),
            message,
            code: None,
        }
        .into())
    }

    // ---- VM lifecycle ---------------------------------------------------

    /// `POST /hostgroup/{group}/nodes`: creates a VM and returns at once.
    ///
    /// An empty `group` picks the only configured group, as the Go SDK does.
    ///
    /// # Errors
    /// [`Error::Api`]: 400 for limits exceeded, 404 for an unknown group.
    pub async fn create_vm(
        &self,
        group: &str,
        request: &CreateVmRequest,
    ) -> Result<CreateVmResponse> {
        self.create_vm_with_options(group, request, CreateVmOptions::default())
            .await
    }

    /// Creates a VM, optionally holding the response until its agent is up
    /// or its userdata has run.
    ///
    /// # Errors
    /// As [`create_vm`](Self::create_vm), plus 408 when the wait timed out
    /// (the daemon deletes the VM first) and [`Error::InvalidInput`] for a
    /// zero timeout.
    pub async fn create_vm_with_options(
        &self,
        group: &str,
        request: &CreateVmRequest,
        options: CreateVmOptions,
    ) -> Result<CreateVmResponse> {
        let mut query = Query::new();
        query.push_opt("wait", options.wait.map(WaitFor::as_str));
        if let Some(timeout) = options.timeout {
            if timeout.is_zero() {
                return Err(Error::invalid("create timeout must be greater than zero"));
            }
            query.push("timeout", format_go_duration(timeout));
        }
        let group = match group.trim() {
            "" => self.default_host_group().await?,
            g => g.to_owned(),
        };
        let path = path(&[
            ("", "hostgroup"),
            ("host group name", &group),
            ("", "nodes"),
        ])?;
        self.send_json(
            Method::POST,
            &path,
            &query,
            Some(request),
            &[StatusCode::OK, StatusCode::CREATED],
        )
        .await
    }

    async fn default_host_group(&self) -> Result<String> {
        let groups = self.get_host_groups().await?;
        match groups.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(Error::invalid(
                "no host group given and the daemon has none configured",
            )),
            many => {
                let names: Vec<&str> = many.iter().map(|g| g.name.as_str()).collect();
                Err(Error::invalid(format!(
                    "a host group is required when more than one is configured (have: {})",
                    names.join(", ")
                )))
            }
        }
    }

    /// `DELETE /hostgroup/{group}/nodes/{hostname}`.
    ///
    /// # Errors
    /// [`Error::Api`]: 404 unknown VM or group, 403 protected VM; also when the
    /// daemon reports an `error` inside a 200 body.
    pub async fn delete_vm(&self, group: &str, hostname: &str) -> Result<DeleteVmResponse> {
        let path = path(&[
            ("", "hostgroup"),
            ("host group name", group),
            ("", "nodes"),
            ("hostname", hostname),
        ])?;
        let res: DeleteVmResponse = self
            .send_json(
                Method::DELETE,
                &path,
                &Query::new(),
                None::<&()>,
                &[StatusCode::OK],
            )
            .await?;
        if !res.error.is_empty() {
            return Err(ApiError {
                method: Method::DELETE,
                path,
                status: StatusCode::OK,
                message: res.error.clone(),
                code: None,
                body: res.error,
            }
            .into());
        }
        Ok(res)
    }

    /// `GET /vm/{hostname}`: configuration, lineage and network policy.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn describe_vm(&self, hostname: &str) -> Result<VmDescription> {
        let path = vm_path(hostname, &[])?;
        self.get_json(&path, &Query::new()).await
    }

    /// `POST /vm/{hostname}/pause`: stops the vCPUs, keeping memory.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn pause_vm(&self, hostname: &str) -> Result<()> {
        self.post_empty(&vm_path(hostname, &["pause"])?, &Query::new())
            .await
    }

    /// `POST /vm/{hostname}/resume`: runs a paused VM again.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn resume_vm(&self, hostname: &str) -> Result<()> {
        self.post_empty(&vm_path(hostname, &["resume"])?, &Query::new())
            .await
    }

    /// `POST /vm/{hostname}/suspend`: snapshots the VM and stops it.
    ///
    /// # Errors
    /// [`Error::Api`]: 404 unknown VM, 501 where the platform cannot snapshot.
    pub async fn suspend_vm(&self, hostname: &str) -> Result<()> {
        self.post_empty(&vm_path(hostname, &["suspend"])?, &Query::new())
            .await
    }

    /// `POST /vm/{hostname}/restore`: resumes a suspended VM; returns once
    /// the daemon has scheduled it.
    ///
    /// # Errors
    /// [`Error::Api`]: 404 unknown VM, 501 unsupported.
    pub async fn restore_vm(&self, hostname: &str) -> Result<()> {
        self.restore_vm_with_options(hostname, RestoreVmOptions::default())
            .await
    }

    /// Restores a suspended VM, optionally waiting for its agent.
    ///
    /// # Errors
    /// As [`restore_vm`](Self::restore_vm).
    pub async fn restore_vm_with_options(
        &self,
        hostname: &str,
        options: RestoreVmOptions,
    ) -> Result<()> {
        let mut query = Query::new();
        if options.wait_for_agent {
            query.push("wait", "agent");
            query.push_opt("timeout", options.timeout.map(format_go_duration));
        }
        self.post_empty(&vm_path(hostname, &["restore"])?, &query)
            .await
    }

    /// `POST /vm/{hostname}/relaunch`: boots a stopped persistent VM from its
    /// disk.
    ///
    /// # Errors
    /// [`Error::Api`]: 404 unknown VM, 409 already running.
    pub async fn relaunch_vm(&self, hostname: &str) -> Result<CreateVmResponse> {
        let path = vm_path(hostname, &["relaunch"])?;
        self.send_json(
            Method::POST,
            &path,
            &Query::new(),
            None::<&()>,
            &[StatusCode::OK, StatusCode::CREATED],
        )
        .await
    }

    /// `POST /vm/{hostname}/shutdown?action=...`: reboots or powers off the
    /// guest. An ephemeral VM is then removed; a persistent one is `Stopped`.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn shutdown(&self, hostname: &str, action: ShutdownAction) -> Result<()> {
        let mut query = Query::new();
        query.push("action", action.as_str());
        self.post_empty(&vm_path(hostname, &["shutdown"])?, &query)
            .await
    }

    // ---- tags -----------------------------------------------------------

    /// `GET /vm/{hostname}/tags`.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn get_vm_tags(&self, hostname: &str) -> Result<VmTags> {
        self.get_json(&vm_path(hostname, &["tags"])?, &Query::new())
            .await
    }

    /// `PATCH /vm/{hostname}/tags`: one atomic add/remove or replace.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `replace` is combined with `add` or
    /// `remove`, or nothing is asked for; [`Error::Api`] with 400 for changes
    /// to the `name=` tag.
    pub async fn update_vm_tags(&self, hostname: &str, update: &VmTagUpdate) -> Result<VmTags> {
        let combined = !update.add.is_empty() || !update.remove.is_empty();
        if update.replace.is_some() && combined {
            return Err(Error::invalid(
                "a tag replace cannot be combined with add or remove",
            ));
        }
        if update.replace.is_none() && !combined {
            return Err(Error::invalid("a tag update needs add, remove or replace"));
        }
        let path = vm_path(hostname, &["tags"])?;
        self.send_json(Method::PATCH, &path, &Query::new(), Some(update), &[])
            .await
    }

    /// Adds tags to a VM.
    ///
    /// # Errors
    /// As [`update_vm_tags`](Self::update_vm_tags).
    pub async fn add_vm_tags(&self, hostname: &str, tags: &[&str]) -> Result<VmTags> {
        let update = VmTagUpdate {
            add: owned(tags),
            ..Default::default()
        };
        self.update_vm_tags(hostname, &update).await
    }

    /// Removes tags from a VM.
    ///
    /// # Errors
    /// As [`update_vm_tags`](Self::update_vm_tags).
    pub async fn remove_vm_tags(&self, hostname: &str, tags: &[&str]) -> Result<VmTags> {
        let update = VmTagUpdate {
            remove: owned(tags),
            ..Default::default()
        };
        self.update_vm_tags(hostname, &update).await
    }

    /// Replaces every mutable tag of a VM (the `name=` tag stays).
    ///
    /// # Errors
    /// As [`update_vm_tags`](Self::update_vm_tags).
    pub async fn replace_vm_tags(&self, hostname: &str, tags: &[&str]) -> Result<VmTags> {
        let update = VmTagUpdate {
            replace: Some(owned(tags)),
            ..Default::default()
        };
        self.update_vm_tags(hostname, &update).await
    }

    // ---- observability --------------------------------------------------

    /// `GET /vm/{hostname}/logs`: the serial console's last `lines` lines;
    /// `Some(0)` for the whole log, `None` for the daemon's default (20).
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn get_vm_logs(&self, hostname: &str, lines: Option<u32>) -> Result<VmLogs> {
        let mut query = Query::new();
        query.push_opt("lines", lines.map(|n| n.to_string()));
        self.get_json(&vm_path(hostname, &["logs"])?, &query).await
    }

    /// Resource statistics: of every VM (`None`, `GET /nodes/stats`) or of
    /// one (`GET /node/{hostname}/stats`). The one-VM route is read whether
    /// the daemon answers an object or a one-element array.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown VM.
    pub async fn get_vm_stats(&self, hostname: Option<&str>) -> Result<Vec<NodeStats>> {
        let Some(hostname) = hostname else {
            return self
                .get_json::<Option<Vec<NodeStats>>>("/nodes/stats", &Query::new())
                .await
                .map(Option::unwrap_or_default);
        };
        let path = path(&[("", "node"), ("hostname", hostname), ("", "stats")])?;
        match self
            .get_json::<OneOrMany<NodeStats>>(&path, &Query::new())
            .await?
        {
            OneOrMany::One(s) => Ok(vec![s]),
            OneOrMany::Many(v) => Ok(v),
        }
    }

    /// `GET /vm/{hostname}/health`: the guest agent's version, uptimes and
    /// userdata state.
    ///
    /// # Errors
    /// [`Error::Api`]: 404 unknown VM; other statuses while the agent is not
    /// up yet.
    pub async fn get_agent_health(&self, hostname: &str) -> Result<AgentHealth> {
        self.get_json(&vm_path(hostname, &["health"])?, &Query::new())
            .await
    }

    /// `HEAD /vm/{hostname}/health`: the cheap readiness probe. `Ok(true)`
    /// when the agent answers, `Ok(false)` while it does not yet.
    ///
    /// # Errors
    /// [`Error::Api`] for 401 and for 404 (unknown VM), which no amount of
    /// waiting fixes; [`Error::Transport`].
    pub async fn check_agent_health(&self, hostname: &str) -> Result<bool> {
        let path = vm_path(hostname, &["health"])?;
        let res = self
            .send_raw(Method::HEAD, &path, &Query::new(), Body::Empty, None)
            .await?;
        let status = res.status();
        if status.is_success() {
            return Ok(true);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::UNAUTHORIZED {
            let body = res.into_body().collect().await.unwrap_or_default();
            return Err(ApiError::from_response(Method::HEAD, path, status, &body).into());
        }
        Ok(false)
    }

    // ---- secrets --------------------------------------------------------

    /// `GET /secrets`: metadata of every secret (never the values).
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Transport`], [`Error::Decode`].
    pub async fn list_secrets(&self) -> Result<Vec<Secret>> {
        self.get_json::<Option<Vec<Secret>>>("/secrets", &Query::new())
            .await
            .map(Option::unwrap_or_default)
    }

    /// `POST /secrets`: stores a new secret. The bytes are base64-encoded on
    /// the wire.
    ///
    /// # Errors
    /// [`Error::SecretExists`] when the name is taken; [`Error::InvalidInput`]
    /// for a name that is not a file name or a non-octal mode.
    pub async fn create_secret(&self, request: &CreateSecretRequest) -> Result<()> {
        check_secret_name(&request.name)?;
        check_mode(request.permissions.as_deref())?;
        let body = SecretBody {
            name: request.name.clone(),
            data: base64::engine::general_purpose::STANDARD.encode(&request.data),
            permissions: request.permissions.clone(),
            uid: request.uid,
            gid: request.gid,
        };
        let result = self
            .call(
                Method::POST,
                "/secrets",
                &Query::new(),
                Some(encode_json(&body)?),
                &[StatusCode::CREATED],
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(StatusCode::CONFLICT) => Err(Error::SecretExists {
                name: request.name.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /secrets/{name}`: changes a secret's value or metadata.
    ///
    /// As in the Go SDK, `data` is always sent: an unset value travels as
    /// `""`, which daemons read as "unchanged".
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown secret; [`Error::InvalidInput`]
    /// for a bad name or mode.
    pub async fn patch_secret(&self, name: &str, request: &UpdateSecretRequest) -> Result<()> {
        check_secret_name(name)?;
        check_mode(request.permissions.as_deref())?;
        let body = SecretBody {
            name: String::new(),
            data: request
                .data
                .as_deref()
                .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
                .unwrap_or_default(),
            permissions: request.permissions.clone(),
            uid: request.uid,
            gid: request.gid,
        };
        let path = path(&[("", "secrets"), ("secret name", name)])?;
        self.call(
            Method::PATCH,
            &path,
            &Query::new(),
            Some(encode_json(&body)?),
            &[StatusCode::OK],
        )
        .await?;
        Ok(())
    }

    /// `DELETE /secrets/{name}`.
    ///
    /// # Errors
    /// [`Error::Api`] with 404 for an unknown secret.
    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        check_secret_name(name)?;
        let path = path(&[("", "secrets"), ("secret name", name)])?;
        self.call(
            Method::DELETE,
            &path,
            &Query::new(),
            None,
            &[StatusCode::OK],
        )
        .await?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

/// `/vm/{hostname}/rest...`, with the hostname checked and escaped.
pub(crate) fn vm_path(hostname: &str, rest: &[&str]) -> Result<String> {
    let mut segments = vec![("", "vm"), ("hostname", hostname)];
    segments.extend(rest.iter().map(|r| ("", *r)));
    path(&segments)
}

pub(crate) fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn encode_json(value: &(impl Serialize + ?Sized)) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::invalid(format!("cannot encode the request body: {e}")))
}

pub(crate) fn decode<R: DeserializeOwned>(method: &Method, path: &str, bytes: &[u8]) -> Result<R> {
    serde_json::from_slice(bytes).map_err(|e| Error::decode(format!("{method} {path}"), e))
}

fn check_secret_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::invalid(format!(
            "secret name {name:?} must be a file name: not empty, no '/', not '.' or '..'"
        )));
    }
    Ok(())
}

/// Checks an octal permission string such as `0600`.
pub(crate) fn check_mode(mode: Option<&str>) -> Result<()> {
    if let Some(m) = mode {
        let ok =
            !m.is_empty() && m.len() <= 5 && u32::from_str_radix(m, 8).is_ok_and(|v| v <= 0o7777);
        if !ok {
            return Err(Error::invalid(format!(
                "permissions {m:?} must be an octal file mode such as 0644"
            )));
        }
    }
    Ok(())
}
