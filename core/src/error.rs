//! The SDK's one error type.

use std::error::Error as StdError;
use std::fmt;

use http::{Method, StatusCode};

use crate::models::ErrorBody;

/// A boxed cause, `Send + Sync` so errors cross threads on native targets.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything a Slicer call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request never got an HTTP response, or its body broke off.
    #[error(transparent)]
    Transport(#[from] TransportError),

    /// The daemon answered with a non-success status. Boxed to keep
    /// `Result`s small.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// `create_secret` named a secret that already exists (HTTP 409).
    #[error("secret {name:?} already exists")]
    SecretExists {
        /// The secret's name.
        name: String,
    },

    /// A response body could not be understood.
    #[error("could not decode the response to {context}: {message}")]
    Decode {
        /// Which call's response, such as `GET /nodes`.
        context: String,
        /// What was wrong with it.
        message: String,
    },

    /// The caller's input was rejected before any request was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A response stream ended before its final frame: output may be missing.
    #[error("the {0} stream ended before its final frame; output may be incomplete")]
    StreamTruncated(String),

    /// A tar archive could not be built, read or filtered: a bad entry
    /// name, a corrupt or truncated archive, a bad exclude pattern.
    #[error(transparent)]
    Tar(#[from] crate::tar::TarError),

    /// The guest could not start the command, or aborted it (a frame or
    /// buffered result carried an `error`). A non-zero exit is not this: it
    /// is a normal result.
    #[error("the command failed in the guest (exit code {exit_code}): {message}")]
    ExecFailed {
        /// The agent's message.
        message: String,
        /// The reported exit code, or 1 when the agent reported none.
        exit_code: i32,
    },

    /// The background exec was reaped (HTTP 410): its output and status are gone.
    #[error("background exec {exec_id:?} was reaped")]
    ExecReaped {
        /// The exec id.
        exec_id: String,
    },

    /// Reading or writing a local file or directory failed (a copy's source
    /// or destination on this machine).
    #[error("local path {path}: {source}")]
    Io {
        /// The local path, as text (lossy for non-UTF-8 paths).
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::SecretExists { .. } => Some(StatusCode::CONFLICT),
            Error::ExecReaped { .. } => Some(StatusCode::GONE),
            _ => None,
        }
    }

    /// Whether the daemon answered 404 (unknown VM, group, secret or path).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the daemon rejected the credentials (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// Whether the daemon answered 409 (paused VM, existing secret, running VM).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(StatusCode::CONFLICT)
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    pub(crate) fn decode(context: impl Into<String>, err: impl fmt::Display) -> Self {
        Error::Decode {
            context: context.into(),
            message: err.to_string(),
        }
    }
}

/// A non-success HTTP answer from the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Request method.
    pub method: Method,
    /// Request path, without the query string.
    pub path: String,
    /// Response status.
    pub status: StatusCode,
    /// The message: the JSON body's `error` field, or the trimmed body text.
    pub message: String,
    /// The JSON body's `code` field, when present.
    pub code: Option<String>,
    /// The raw body, as text (lossy for non-UTF-8).
    pub body: String,
}

impl ApiError {
    /// Builds the error from a response, parsing `{"error","code"}` bodies and
    /// falling back to the trimmed text.
    pub fn from_response(
        method: Method,
        path: impl Into<String>,
        status: StatusCode,
        body: &[u8],
    ) -> Self {
        let text = String::from_utf8_lossy(body).into_owned();
        let (message, code) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) if !parsed.error.is_empty() => (parsed.error, parsed.code),
            _ => (text.trim().to_owned(), None),
        };
        ApiError {
            method,
            path: path.into(),
            status,
            message,
            code,
            body: text,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} failed with {}",
            self.method, self.path, self.status
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl StdError for ApiError {}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS, TLS handshake, missing socket). Safe
    /// to retry: the daemon saw nothing.
    Connect,
    /// The client-side timeout elapsed. The daemon may have acted.
    Timeout,
    /// The caller cancelled the request (dropped future, aborted signal).
    Aborted,
    /// The connection broke while sending or receiving. The daemon may have
    /// acted.
    Io,
    /// The request could not be built or its body could not be read.
    Request,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "could not connect to the Slicer API",
            TransportErrorKind::Timeout => "the request to the Slicer API timed out",
            TransportErrorKind::Aborted => "the request to the Slicer API was aborted",
            TransportErrorKind::Io => "the connection to the Slicer API broke",
            TransportErrorKind::Request => "the request to the Slicer API could not be sent",
            TransportErrorKind::Other => "the request to the Slicer API failed",
        }
    }
}

/// A failure below HTTP: connecting, sending, or reading a body.
///
/// `Display` says what this layer was doing; the cause is in
/// [`source`](StdError::source). Neither ever contains the token.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<BoxError>,
}

impl TransportError {
    /// A transport error of `kind` caused by `source`.
    pub fn new(kind: TransportErrorKind, source: impl Into<BoxError>) -> Self {
        TransportError {
            kind,
            source: Some(source.into()),
        }
    }

    /// A transport error with no further cause.
    pub fn from_kind(kind: TransportErrorKind) -> Self {
        TransportError { kind, source: None }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        // The cause goes on the same line too: most callers print only
        // `Display`, and "could not connect" without why is not enough.
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_prefers_json_message_and_keeps_code() {
        let e = ApiError::from_response(
            Method::GET,
            "/vm/sbox-9",
            StatusCode::NOT_FOUND,
            br#"{"error":"vm not found","code":"not_found"}"#,
        );
        assert_eq!(e.message, "vm not found");
        assert_eq!(e.code.as_deref(), Some("not_found"));
        assert_eq!(
            e.to_string(),
            "GET /vm/sbox-9 failed with 404 Not Found: vm not found"
        );
    }

    #[test]
    fn api_error_falls_back_to_trimmed_text() {
        let e = ApiError::from_response(
            Method::GET,
            "/x",
            StatusCode::NOT_FOUND,
            b"404 page not found\n",
        );
        assert_eq!(e.message, "404 page not found");
        assert_eq!(e.code, None);
        let e = ApiError::from_response(Method::GET, "/x", StatusCode::BAD_GATEWAY, b"");
        assert_eq!(e.to_string(), "GET /x failed with 502 Bad Gateway");
    }

    #[test]
    fn transport_error_display_includes_cause() {
        let e = TransportError::new(TransportErrorKind::Connect, "connection refused");
        assert_eq!(
            e.to_string(),
            "could not connect to the Slicer API: connection refused"
        );
        assert!(e.source().is_some());
    }
}
