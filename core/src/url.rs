//! Base URLs, path segments and query strings, built the way the daemon
//! expects them.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, Result};

/// Where the daemon listens, decided from one configuration string by the
/// rules both official SDKs share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUrl {
    /// An `http://` or `https://` URL, without a trailing slash. A path prefix
    /// such as `https://host/slicer` is kept for every call.
    Http(String),
    /// A UNIX socket path, as given (a leading `~/` is left for the native
    /// backend to expand, since only it knows the home directory).
    UnixSocket(String),
}

impl BaseUrl {
    /// Parses a base URL.
    ///
    /// A string is a socket path when, after trimming and removing a
    /// `unix://` prefix, it starts with `/`, `./`, `../` or `~/`, or ends with
    /// `.sock`. Anything else must be an `http(s)://` URL with a host.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty string, a URL with another scheme
    /// or no host, or one carrying a query or fragment.
    ///
    /// ```
    /// use slicer_core::BaseUrl;
    /// assert_eq!(BaseUrl::parse("unix:///srv/slicer.sock").unwrap(),
    ///            BaseUrl::UnixSocket("/srv/slicer.sock".into()));
    /// assert_eq!(BaseUrl::parse("http://127.0.0.1:8080/").unwrap(),
    ///            BaseUrl::Http("http://127.0.0.1:8080".into()));
    /// assert!(BaseUrl::parse("ftp://host").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("the Slicer base URL is empty"));
        }
        let stripped = trimmed.strip_prefix("unix://").unwrap_or(trimmed);
        let is_socket = ["/", "./", "../", "~/"]
            .iter()
            .any(|p| stripped.starts_with(p))
            || stripped.ends_with(".sock");
        if is_socket {
            return Ok(BaseUrl::UnixSocket(stripped.to_owned()));
        }
        let uri: http::Uri = trimmed.parse().map_err(|e| {
            Error::invalid(format!("the Slicer base URL {trimmed:?} is not a URL: {e}"))
        })?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(Error::invalid(format!(
                    "the Slicer base URL {trimmed:?} must start with http:// or https://, or be a UNIX socket path"
                )))
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::invalid(format!(
                "the Slicer base URL {trimmed:?} has no host"
            )));
        }
        if uri.query().is_some() || trimmed.contains('#') {
            return Err(Error::invalid(format!(
                "the Slicer base URL {trimmed:?} must not carry a query or fragment"
            )));
        }
        Ok(BaseUrl::Http(trimmed.trim_end_matches('/').to_owned()))
    }
}

/// Characters escaped in a path segment: everything but unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Builds `/a/b/c` from segments, percent-escaping each and rejecting empty
/// ones, so a caller's hostname can never add or remove path levels.
pub(crate) fn path(kind_and_segments: &[(&str, &str)]) -> Result<String> {
    let mut out = String::new();
    for (what, seg) in kind_and_segments {
        if seg.is_empty() {
            return Err(Error::invalid(format!("{what} must not be empty")));
        }
        if what.is_empty() {
            // Literal route text, such as `vm` or `tags`.
            out.push('/');
            out.push_str(seg);
            continue;
        }
        if seg.trim() != *seg || *seg == "." || *seg == ".." {
            return Err(Error::invalid(format!(
                "{what} {seg:?} is not a valid name"
            )));
        }
        out.push('/');
        out.extend(utf8_percent_encode(seg, SEGMENT));
    }
    Ok(out)
}

/// A query string in the form Go's `url.Values.Encode` produces: keys sorted,
/// repeated keys in insertion order, spaces as `+`, everything but
/// `A-Za-z0-9-_.~` escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(&'static str, String)>,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Query::default()
    }

    /// Appends `key=value`; a key may repeat.
    pub fn push(&mut self, key: &'static str, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key, value.into()));
        self
    }

    /// Appends `key=value` when `value` is `Some`.
    pub fn push_opt<V: Into<String>>(&mut self, key: &'static str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// Whether `key` was added at least once.
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| *k == key)
    }

    /// Whether no pair was added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The encoded query, without a leading `?`.
    pub fn encode(&self) -> String {
        let mut sorted: Vec<&(&str, String)> = self.pairs.iter().collect();
        // A stable sort keeps repeated keys (args, env) in the caller's order.
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (key, value) in sorted {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&escape(key));
            out.push('=');
            out.push_str(&escape(value));
        }
        out
    }
}

/// Go's `url.QueryEscape`.
fn escape(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT)
        .to_string()
        .replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        let socket = |s: &str| BaseUrl::UnixSocket(s.to_owned());
        let cases = [
            (
                "/var/run/slicer/api.sock",
                socket("/var/run/slicer/api.sock"),
            ),
            ("./slicer.sock", socket("./slicer.sock")),
            ("../slicer.sock", socket("../slicer.sock")),
            ("slicer.sock", socket("slicer.sock")),
            (
                "~/slicer-mac/slicer.sock",
                socket("~/slicer-mac/slicer.sock"),
            ),
            ("unix:///srv/slicer.sock", socket("/srv/slicer.sock")),
            ("unix://~/slicer.sock", socket("~/slicer.sock")),
            (
                "  http://127.0.0.1:8080  ",
                BaseUrl::Http("http://127.0.0.1:8080".into()),
            ),
            (
                "https://box.example.com/slicer/",
                BaseUrl::Http("https://box.example.com/slicer".into()),
            ),
            ("https://host/x.sock", socket("https://host/x.sock")),
        ];
        for (input, want) in cases {
            assert_eq!(BaseUrl::parse(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "   ",
            "ftp://x",
            "localhost:8080",
            "http://",
            "http://h/?a=b",
        ] {
            let err = BaseUrl::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn query_matches_go_encoding() {
        let mut q = Query::new();
        q.push("cmd", "echo")
            .push("args", "a b")
            .push("args", "x&y=z")
            .push("cwd", "~/dir*")
            .push("args", "ü");
        assert_eq!(
            q.encode(),
            "args=a+b&args=x%26y%3Dz&args=%C3%BC&cmd=echo&cwd=~%2Fdir%2A"
        );
    }

    #[test]
    fn path_segments_are_escaped_and_checked() {
        assert_eq!(
            path(&[("", "vm"), ("hostname", "sbox-1"), ("", "tags")]).unwrap(),
            "/vm/sbox-1/tags"
        );
        assert_eq!(
            path(&[("", "secrets"), ("secret name", "a b/c")]).unwrap(),
            "/secrets/a%20b%2Fc"
        );
        assert!(path(&[("", "vm"), ("hostname", "")]).is_err());
        assert!(path(&[("", "vm"), ("hostname", "..")]).is_err());
    }
}
