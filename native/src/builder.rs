//! Building a [`Client`] from a base URL or from the environment.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use slicer_core::{BaseUrl, ClientConfig, Error, Result, SlicerClient};

use crate::{Client, ReqwestTransport, Timeouts, Transport};

/// Reads one environment variable; tests pass a map instead of the process
/// environment.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// Configures and builds a [`Client`].
///
/// The base URL follows the SDK-wide rules: a path (`/…`, `./…`, `../…`,
/// `~/…`, anything ending in `.sock`, optionally after `unix://`) selects the
/// UNIX-socket transport; an `http://` or `https://` URL selects reqwest.
///
/// ```no_run
/// use std::time::Duration;
/// use slicer::{ClientBuilder, Timeouts};
///
/// # fn main() -> slicer::Result<()> {
/// let client = ClientBuilder::new("https://slicer.example.com")
///     .with_token("s3cret")
///     .with_user_agent("my-tool/1.2")
///     .with_timeouts(Timeouts::default().with_request(Some(Duration::from_secs(30))))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    token: Option<String>,
    user_agent: Option<String>,
    timeouts: Timeouts,
    http_client: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// A builder for `base_url` with no token, the default user agent and
    /// default [`Timeouts`].
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientBuilder {
            base_url: base_url.into(),
            token: None,
            user_agent: None,
            timeouts: Timeouts::default(),
            http_client: None,
        }
    }

    /// A builder configured from the environment.
    ///
    /// | variable | use |
    /// | --- | --- |
    /// | `SLICER_URL` | base URL or socket path, required, whitespace-trimmed |
    /// | `SLICER_TOKEN` | bearer token, whitespace-trimmed; wins when non-empty |
    /// | `SLICER_TOKEN_FILE` | file holding the token; a leading `~/` means `$HOME`; contents trimmed |
    /// | `SLICER_USER_AGENT` | replaces the default `User-Agent` |
    ///
    /// Unlike the Go SDK, having neither token variable is not an error: a
    /// daemon on a UNIX socket usually runs without authentication. The
    /// builder's methods can still override anything read here.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `SLICER_URL` is unset or blank, a variable
    /// is not valid UTF-8, or the token file cannot be read or is empty (the
    /// message names the file).
    ///
    /// ```no_run
    /// # fn main() -> slicer::Result<()> {
    /// let client = slicer::ClientBuilder::from_env()?.with_user_agent("ci-runner").build()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(&|name| std::env::var_os(name))
    }

    fn from_lookup(lookup: Lookup<'_>) -> Result<Self> {
        let settings = EnvSettings::from_lookup(lookup)?.ok_or_else(|| {
            Error::InvalidInput(
                "SLICER_URL is not set or is blank; set it to the daemon's URL \
                 (such as http://127.0.0.1:8080) or its UNIX socket path"
                    .into(),
            )
        })?;
        let mut builder = ClientBuilder::new(settings.url);
        builder.token = settings.token;
        builder.user_agent = settings.user_agent;
        Ok(builder)
    }

    /// Sets the bearer token. An empty token sends no `Authorization` header.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the `User-Agent`; an empty string sends none. The default is
    /// [`DEFAULT_USER_AGENT`](slicer_core::DEFAULT_USER_AGENT).
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets the connect and response-head limits.
    ///
    /// With [`with_reqwest_client`](Self::with_reqwest_client) only the
    /// response-head limit applies; the connect timeout is the client's own.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sends through a caller-configured `reqwest::Client` (proxies, custom
    /// roots, client certificates). Only `http(s)` base URLs can use it.
    pub fn with_reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Builds the client. No connection is opened until the first call.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed base URL, a token or user agent
    /// that cannot be sent in a header, a `~/` socket path without `$HOME`, a
    /// socket path combined with a reqwest client, or a socket path on a
    /// platform without UNIX sockets; [`Error::Transport`] when TLS cannot be
    /// initialised.
    pub fn build(self) -> Result<Client> {
        let home = std::env::var_os("HOME");
        self.build_with_home(home.as_deref())
    }

    fn build_with_home(self, home: Option<&OsStr>) -> Result<Client> {
        let mut config = ClientConfig::new("");
        config.token = self.token;
        config.user_agent = self.user_agent;
        let (transport, base) =
            choose_transport(&self.base_url, self.timeouts, self.http_client, home)?;
        config.base_url = base;
        SlicerClient::new(transport, config)
    }
}

/// The transport for `base_url` and the base URL requests are then built on
/// (`http://unix` for a socket), by the same rules as [`ClientBuilder`]. For
/// programs that send their own requests, such as a relay.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed base URL or a `~/` path without
/// `HOME`; [`Error::Transport`] when TLS cannot be initialised.
///
/// ```
/// let (_, base) = slicer::transport_for("unix:///run/slicer/api.sock", slicer::Timeouts::default()).unwrap();
/// assert_eq!(base, "http://unix");
/// ```
pub fn transport_for(base_url: &str, timeouts: Timeouts) -> Result<(Transport, String)> {
    let home = std::env::var_os("HOME");
    choose_transport(base_url, timeouts, None, home.as_deref())
}

fn choose_transport(
    base_url: &str,
    timeouts: Timeouts,
    http_client: Option<reqwest::Client>,
    home: Option<&OsStr>,
) -> Result<(Transport, String)> {
    match BaseUrl::parse(base_url)? {
        BaseUrl::Http(url) => {
            let transport = match http_client {
                Some(client) => {
                    ReqwestTransport::from(client).with_request_timeout(timeouts.request)
                }
                None => ReqwestTransport::new(timeouts)?,
            };
            tracing::debug!(base_url = %url, "using the reqwest transport");
            Ok((Transport::Http(transport), url))
        }
        BaseUrl::UnixSocket(raw) => {
            if http_client.is_some() {
                return Err(Error::InvalidInput(format!(
                    "{raw:?} is a UNIX socket path, which a reqwest client cannot reach; \
                     give an http(s) URL or leave out with_reqwest_client"
                )));
            }
            let path = expand_home(OsStr::new(&raw), home)?;
            tracing::debug!(path = %path.display(), "using the UNIX-socket transport");
            socket_transport(path, timeouts)
        }
    }
}

#[cfg(unix)]
fn socket_transport(path: PathBuf, timeouts: Timeouts) -> Result<(Transport, String)> {
    let transport = crate::UnixSocketTransport::new(path, timeouts);
    Ok((
        Transport::UnixSocket(transport),
        crate::UNIX_BASE_URL.to_owned(),
    ))
}

#[cfg(not(unix))]
fn socket_transport(path: PathBuf, _: Timeouts) -> Result<(Transport, String)> {
    Err(Error::InvalidInput(format!(
        "{} is a UNIX socket path, and this platform has no UNIX sockets; use an http(s) URL",
        path.display()
    )))
}

/// The connection settings the environment gives: `SLICER_URL`, then
/// `SLICER_TOKEN` or else `SLICER_TOKEN_FILE`, and `SLICER_USER_AGENT`.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvSettings {
    /// `SLICER_URL`, trimmed: an `http(s)` URL or a UNIX socket path.
    pub url: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The token file the token was read from, when it came from one.
    pub token_file: Option<PathBuf>,
    /// `SLICER_USER_AGENT`, trimmed.
    pub user_agent: Option<String>,
}

impl EnvSettings {
    /// Reads the process environment; `Ok(None)` when `SLICER_URL` is unset
    /// or blank.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a variable is not valid UTF-8 or the token
    /// file cannot be read or is empty (the message names the file).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(&|name| std::env::var_os(name))
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    ///
    /// ```
    /// use std::ffi::OsString;
    /// let env = |name: &str| match name {
    ///     "SLICER_URL" => Some(OsString::from(" http://127.0.0.1:8080 ")),
    ///     "SLICER_TOKEN" => Some(OsString::from("s3cret\n")),
    ///     _ => None,
    /// };
    /// let settings = slicer::EnvSettings::from_lookup(&env).unwrap().unwrap();
    /// assert_eq!((settings.url.as_str(), settings.token.as_deref()), ("http://127.0.0.1:8080", Some("s3cret")));
    /// assert!(slicer::EnvSettings::from_lookup(&|_: &str| None).unwrap().is_none());
    /// ```
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>> {
        let Some(url) = env_text(lookup, "SLICER_URL")? else {
            return Ok(None);
        };
        let (token, token_file) = match env_text(lookup, "SLICER_TOKEN")? {
            Some(token) => (Some(token), None),
            None => match lookup("SLICER_TOKEN_FILE") {
                Some(raw) if !trim_os(&raw).is_empty() => {
                    let path = expand_home(trim_os(&raw), lookup("HOME").as_deref())?;
                    (Some(read_token_file(&path)?), Some(path))
                }
                _ => (None, None),
            },
        };
        Ok(Some(EnvSettings {
            url,
            token,
            token_file,
            user_agent: env_text(lookup, "SLICER_USER_AGENT")?,
        }))
    }
}

impl fmt::Debug for EnvSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSettings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user_agent", &self.user_agent)
            .field("timeouts", &self.timeouts)
            .field("http_client", &self.http_client.is_some())
            .finish()
    }
}

/// A client for `base_url` (an `http(s)` URL or a UNIX socket path) with an
/// optional bearer token and default settings.
///
/// Shorthand for [`ClientBuilder::new`] plus
/// [`with_token`](ClientBuilder::with_token). No connection is opened here.
///
/// # Errors
/// As [`ClientBuilder::build`].
///
/// ```no_run
/// # async fn demo() -> slicer::Result<()> {
/// let tcp = slicer::connect("http://127.0.0.1:8080", Some("s3cret"))?;
/// let socket = slicer::connect("~/slicer-mac/slicer.sock", None)?;
/// println!("{}", socket.get_info().await?.version);
/// # Ok(()) }
/// ```
pub fn connect(base_url: &str, token: Option<&str>) -> Result<Client> {
    let mut builder = ClientBuilder::new(base_url);
    if let Some(token) = token {
        builder = builder.with_token(token);
    }
    builder.build()
}

/// A client configured from `SLICER_URL`, `SLICER_TOKEN` or
/// `SLICER_TOKEN_FILE`, and `SLICER_USER_AGENT`.
///
/// See [`ClientBuilder::from_env`] for the rules; a missing token is allowed.
///
/// # Errors
/// As [`ClientBuilder::from_env`] and [`ClientBuilder::build`].
pub fn from_env() -> Result<Client> {
    ClientBuilder::from_env()?.build()
}

/// The trimmed value of `name`; `None` when unset or blank.
fn env_text(lookup: Lookup<'_>, name: &str) -> Result<Option<String>> {
    let Some(raw) = lookup(name) else {
        return Ok(None);
    };
    let text = raw
        .into_string()
        .map_err(|_| Error::InvalidInput(format!("{name} is not valid UTF-8")))?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// `raw` trimmed; a value that is not UTF-8 is used exactly as given.
fn trim_os(raw: &OsStr) -> &OsStr {
    raw.to_str().map_or(raw, |text| OsStr::new(text.trim()))
}

/// Replaces a leading `~/` with `home`.
fn expand_home(raw: &OsStr, home: Option<&OsStr>) -> Result<PathBuf> {
    if !raw.as_encoded_bytes().starts_with(b"~/") {
        return Ok(PathBuf::from(raw));
    }
    let rest = Path::new(raw).strip_prefix("~").unwrap_or(Path::new(raw));
    match home {
        Some(home) if !home.is_empty() => Ok(Path::new(home).join(rest)),
        _ => Err(Error::InvalidInput(format!(
            "cannot expand ~/ in {}: HOME is not set",
            Path::new(raw).display()
        ))),
    }
}

fn read_token_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot read the token file {} named by SLICER_TOKEN_FILE: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the token file {} named by SLICER_TOKEN_FILE is empty",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::test_server::{read_head, respond};

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn invalid_message(err: Error) -> String {
        match err {
            Error::InvalidInput(msg) => msg,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<ClientBuilder> {
        ClientBuilder::from_lookup(&env(pairs))
    }

    #[test]
    fn env_requires_a_url() {
        for pairs in [&[][..], &[("SLICER_URL", " \n")][..]] {
            let msg = invalid_message(from_pairs(pairs).unwrap_err());
            assert!(msg.contains("SLICER_URL is not set or is blank"), "{msg}");
        }
    }

    #[test]
    fn env_trims_url_token_and_user_agent() {
        let b = from_pairs(&[
            ("SLICER_URL", "  http://127.0.0.1:8080 \n"),
            ("SLICER_TOKEN", "\ttok-1 \n"),
            ("SLICER_TOKEN_FILE", "/definitely/not/read"),
            ("SLICER_USER_AGENT", " my-tool/2 "),
        ])
        .unwrap();
        assert_eq!(b.base_url, "http://127.0.0.1:8080");
        assert_eq!(b.token.as_deref(), Some("tok-1"));
        assert_eq!(b.user_agent.as_deref(), Some("my-tool/2"));
    }

    #[test]
    fn env_without_token_is_allowed() {
        let b = from_pairs(&[("SLICER_URL", "/run/slicer.sock"), ("SLICER_TOKEN", " ")]).unwrap();
        assert_eq!(b.token, None);
        assert_eq!(b.user_agent, None);
    }

    #[test]
    fn env_reads_token_file_under_home() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".slicer")).unwrap();
        std::fs::write(home.path().join(".slicer/token"), "  file-token\n\n").unwrap();
        let b = from_pairs(&[
            ("SLICER_URL", "http://h:1"),
            ("SLICER_TOKEN", ""),
            ("SLICER_TOKEN_FILE", " ~/.slicer/token "),
            ("HOME", home.path().to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(b.token.as_deref(), Some("file-token"));
    }

    #[test]
    fn env_token_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n\t").unwrap();
        let path = empty.to_str().unwrap();
        let msg = invalid_message(
            from_pairs(&[("SLICER_URL", "http://h:1"), ("SLICER_TOKEN_FILE", path)]).unwrap_err(),
        );
        assert!(msg.contains(path) && msg.contains("is empty"), "{msg}");

        let missing = dir.path().join("missing");
        let path = missing.to_str().unwrap();
        let msg = invalid_message(
            from_pairs(&[("SLICER_URL", "http://h:1"), ("SLICER_TOKEN_FILE", path)]).unwrap_err(),
        );
        assert!(msg.contains(path) && msg.contains("cannot read"), "{msg}");

        // A directory exists but cannot be read as a file.
        let path = dir.path().to_str().unwrap();
        let msg = invalid_message(
            from_pairs(&[("SLICER_URL", "http://h:1"), ("SLICER_TOKEN_FILE", path)]).unwrap_err(),
        );
        assert!(msg.contains(path) && msg.contains("cannot read"), "{msg}");

        let msg = invalid_message(
            from_pairs(&[
                ("SLICER_URL", "http://h:1"),
                ("SLICER_TOKEN_FILE", "~/token"),
            ])
            .unwrap_err(),
        );
        assert!(msg.contains("~/token") && msg.contains("HOME"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn env_rejects_non_utf8_values() {
        use std::os::unix::ffi::OsStringExt;
        let lookup = |name: &str| (name == "SLICER_URL").then(|| OsString::from_vec(vec![0xff]));
        let msg = invalid_message(ClientBuilder::from_lookup(&lookup).unwrap_err());
        assert_eq!(msg, "SLICER_URL is not valid UTF-8");
    }

    #[test]
    fn home_expansion() {
        let home = Some(OsStr::new("/home/ann"));
        let expand = |raw: &str| expand_home(OsStr::new(raw), home).unwrap();
        assert_eq!(
            expand("~/slicer-mac/slicer.sock"),
            Path::new("/home/ann/slicer-mac/slicer.sock")
        );
        assert_eq!(expand("./slicer.sock"), Path::new("./slicer.sock"));
        assert_eq!(expand("~other/x.sock"), Path::new("~other/x.sock"));
        assert_eq!(expand("/abs/~/x"), Path::new("/abs/~/x"));
        let msg = invalid_message(expand_home(OsStr::new("~/a.sock"), None).unwrap_err());
        assert!(msg.contains("~/a.sock") && msg.contains("HOME"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn socket_paths_choose_the_socket_transport() {
        let home = Some(OsStr::new("/home/ann"));
        let cases = [
            (
                "~/slicer-mac/slicer.sock",
                "/home/ann/slicer-mac/slicer.sock",
            ),
            ("unix://~/slicer.sock", "/home/ann/slicer.sock"),
            ("unix:///srv/slicer.sock", "/srv/slicer.sock"),
            ("../slicer.sock", "../slicer.sock"),
            ("slicer.sock", "slicer.sock"),
        ];
        for (raw, want) in cases {
            let client = ClientBuilder::new(raw).build_with_home(home).unwrap();
            assert_eq!(client.base_url(), "http://unix", "{raw}");
            match client.transport() {
                Transport::UnixSocket(t) => assert_eq!(t.path(), Path::new(want), "{raw}"),
                other => panic!("{raw}: expected a socket transport, got {other:?}"),
            }
        }
    }

    #[test]
    fn urls_choose_reqwest_and_keep_settings() {
        let timeouts = Timeouts::default().with_request(None);
        let client = ClientBuilder::new("https://box.example.com/slicer/")
            .with_timeouts(timeouts)
            .build_with_home(None)
            .unwrap();
        assert_eq!(client.base_url(), "https://box.example.com/slicer");
        match client.transport() {
            Transport::Http(t) => assert_eq!(t.request_timeout(), None),
            #[allow(unreachable_patterns)]
            other => panic!("expected reqwest, got {other:?}"),
        }
    }

    #[test]
    fn build_rejects_bad_combinations() {
        let msg = invalid_message(
            ClientBuilder::new("/run/slicer.sock")
                .with_reqwest_client(reqwest::Client::new())
                .build_with_home(None)
                .unwrap_err(),
        );
        assert!(
            msg.contains("/run/slicer.sock") && msg.contains("reqwest"),
            "{msg}"
        );

        let msg = invalid_message(
            ClientBuilder::new("ftp://host")
                .build_with_home(None)
                .unwrap_err(),
        );
        assert!(msg.contains("ftp://host"), "{msg}");

        let msg = invalid_message(connect("http://h:1", Some("bad\ntoken")).unwrap_err());
        assert!(msg.contains("token") && !msg.contains("bad"), "{msg}");
    }

    #[test]
    fn debug_redacts_the_token() {
        let b = ClientBuilder::new("http://h:1").with_token("s3cret-token");
        let text = format!("{b:?}");
        assert!(
            !text.contains("s3cret-token") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error_without_url_or_token() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);

        let client = connect(&format!("http://127.0.0.1:{port}"), Some("tok-SECRET-42")).unwrap();
        let err = client.get_info().await.unwrap_err();
        let Error::Transport(transport) = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        assert_eq!(
            transport.kind(),
            slicer_core::TransportErrorKind::Connect,
            "{err}"
        );

        let mut texts = vec![err.to_string(), format!("{err:?}")];
        let mut level: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = level {
            texts.push(e.to_string());
            level = e.source();
        }
        for text in texts {
            assert!(!text.contains("127.0.0.1"), "URL leaked: {text}");
            assert!(!text.contains(&format!(":{port}")), "port leaked: {text}");
            assert!(!text.contains("tok-SECRET-42"), "token leaked: {text}");
        }
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn missing_socket_is_a_connect_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.sock");
        let client = connect(path.to_str().unwrap(), None).unwrap();
        let err = client.healthz().await.unwrap_err();
        let Error::Transport(transport) = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        assert_eq!(transport.kind(), slicer_core::TransportErrorKind::Connect);
        let text = err.to_string();
        assert!(text.contains(path.to_str().unwrap()), "{text}");
        assert!(text.contains("No such file"), "{text}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn socket_client_speaks_http_on_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let mut conn = tokio::io::BufStream::new(listener.accept().await.unwrap().0);
            let head = read_head(&mut conn).await.unwrap();
            let body =
                br#"{"version":"0.1.212","git_commit":"abc123","platform":"linux","arch":"amd64"}"#;
            respond(
                &mut conn,
                "200 OK",
                &[("content-type", "application/json")],
                body,
            )
            .await;
            head
        });

        let client = connect(path.to_str().unwrap(), None).unwrap();
        let info = client.get_info().await.unwrap();
        assert_eq!(
            (info.version.as_str(), info.arch.as_str()),
            ("0.1.212", "amd64")
        );

        let head = server.await.unwrap();
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("GET", "/info")
        );
        assert_eq!(head.header("host"), Some("unix"));
        assert_eq!(head.header("authorization"), None);
        assert_eq!(
            head.header("user-agent"),
            Some(slicer_core::DEFAULT_USER_AGENT)
        );
    }

    #[tokio::test]
    async fn tcp_client_sends_token_and_user_agent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut conn = tokio::io::BufStream::new(listener.accept().await.unwrap().0);
            let head = read_head(&mut conn).await.unwrap();
            respond(
                &mut conn,
                "401 Unauthorized",
                &[],
                br#"{"error":"bad token"}"#,
            )
            .await;
            head
        });

        let lookup = env(&[
            ("SLICER_URL", &url),
            ("SLICER_TOKEN", "s3cret"),
            ("SLICER_USER_AGENT", "quick/1"),
        ]);
        let client = ClientBuilder::from_lookup(&lookup)
            .unwrap()
            .build()
            .unwrap();
        let err = client.get_info().await.unwrap_err();
        assert!(err.is_unauthorized(), "{err}");
        assert!(err.to_string().contains("bad token"), "{err}");

        let head = server.await.unwrap();
        assert_eq!(head.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(head.header("user-agent"), Some("quick/1"));
    }
}
