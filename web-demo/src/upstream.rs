//! The Slicer daemon `/api` requests are relayed to.

use std::fmt;
use std::time::Duration;

use slicer::{Timeouts, Transport};

use crate::config::ConfigError;

/// How long the relay waits to connect to the daemon. Once connected it
/// waits for the response head without limit: create with `wait`, buffered
/// exec and `wait-exit` legitimately take minutes, and the browser decides
/// when to give up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Slicer daemon: its base URL, the token to inject, and a transport that
/// streams bodies both ways (HTTP, HTTPS or a UNIX socket).
pub struct Upstream {
    transport: Transport,
    /// Absolute URL prefix requests are built on: `http(s)://host[/prefix]`
    /// or [`slicer::UNIX_BASE_URL`] for a socket.
    request_base: String,
    token: Option<String>,
    label: String,
}

impl Upstream {
    /// An upstream for `base_url` (an `http(s)` URL, optionally with a path
    /// prefix, or a UNIX socket path by the SDK-wide rules) with an optional
    /// token. An empty token counts as none.
    ///
    /// # Errors
    /// The base URL is empty, not a URL, uses another scheme, or is a socket
    /// path with `~/` while `HOME` is unset; or the HTTP client cannot be
    /// set up.
    ///
    /// ```
    /// use web_demo::Upstream;
    /// let up = Upstream::new("unix:///run/slicer/api.sock", None).unwrap();
    /// assert_eq!(up.label(), "UNIX socket /run/slicer/api.sock");
    /// assert!(Upstream::new("ftp://example.com", None).is_err());
    /// ```
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, ConfigError> {
        let timeouts = Timeouts::new(CONNECT_TIMEOUT, None);
        let invalid = |e: slicer::Error| match e {
            slicer::Error::InvalidInput(why) => {
                ConfigError::new(format!("invalid Slicer URL: {why}"))
            }
            other => ConfigError::new(format!("cannot reach Slicer through {base_url:?}: {other}")),
        };
        let (transport, request_base) =
            slicer::transport_for(base_url, timeouts).map_err(invalid)?;
        let label = match &transport {
            Transport::Http(_) => without_userinfo(&request_base),
            Transport::UnixSocket(socket) => format!("UNIX socket {}", socket.path().display()),
            _ => request_base.clone(),
        };
        Ok(Upstream {
            transport,
            request_base,
            token: token.filter(|t| !t.is_empty()),
            label,
        })
    }

    /// A human description of the daemon (URL without credentials, or the
    /// socket path). Never contains the token.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether requests carry a bearer token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The absolute URL for `path_and_query` (which starts with `/`).
    pub(crate) fn url_for(&self, path_and_query: &str) -> String {
        format!("{}{}", self.request_base, path_and_query)
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("label", &self.label)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// `url` with any `user:password@` removed, for messages and the page.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_carry_credentials_or_tokens() {
        let up = Upstream::new(
            "https://me:pw@slicer.example.com/api",
            Some("s3cr3t-t0ken".into()),
        )
        .unwrap();
        assert_eq!(up.label(), "https://slicer.example.com/api");
        assert!(!format!("{up:?}").contains("s3cr3t-t0ken"));
        assert!(up.has_token());
    }

    #[test]
    fn path_prefixes_are_kept() {
        let up = Upstream::new("http://127.0.0.1:9/slicer/", None).unwrap();
        assert_eq!(
            up.url_for("/nodes?tag=a"),
            "http://127.0.0.1:9/slicer/nodes?tag=a"
        );
        assert!(!up.has_token());
    }

    #[test]
    fn sockets_use_the_unix_host() {
        let up = Upstream::new("./slicer.sock", Some(String::new())).unwrap();
        assert_eq!(up.url_for("/info"), "http://unix/info");
        assert_eq!(up.label(), "UNIX socket ./slicer.sock");
        assert!(!up.has_token(), "an empty token counts as none");
    }

    #[test]
    fn bad_urls_are_explained() {
        let err = Upstream::new("ftp://host", None).unwrap_err();
        assert!(err.message().starts_with("invalid Slicer URL"), "{err}");
        assert!(err.message().contains("http://"), "{err}");
        assert!(Upstream::new("  ", None).is_err());
    }
}
