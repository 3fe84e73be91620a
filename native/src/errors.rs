//! Turning reqwest, hyper and socket errors into [`TransportError`]s.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;

use slicer_core::{TransportError, TransportErrorKind};

/// A read error from the caller's upload stream, marked so it maps to
/// [`TransportErrorKind::Request`] rather than to a broken connection.
#[derive(Debug)]
pub(crate) struct UploadError(pub(crate) io::Error);

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the request body failed: {}", self.0)
    }
}

impl StdError for UploadError {}

/// Connecting to a UNIX socket failed; the message names the path.
#[derive(Debug)]
pub(crate) struct SocketConnectError {
    pub(crate) path: PathBuf,
    pub(crate) source: io::Error,
}

impl fmt::Display for SocketConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot connect to UNIX socket {}: {}",
            self.path.display(),
            self.source
        )
    }
}

impl StdError for SocketConnectError {}

/// Maps a reqwest error, dropping the URL it carries first.
pub(crate) fn from_reqwest(err: reqwest::Error) -> TransportError {
    from_error(&err.without_url())
}

/// The cause of a reqwest error as one line, without its URL.
pub(crate) fn describe_reqwest(err: reqwest::Error) -> String {
    summarize(&err.without_url())
}

/// Maps any error by walking its source chain.
///
/// The cause is kept as one line of text: `TransportError`'s `Display` shows
/// its source's `Display`, and for reqwest that top level alone ("error
/// sending request") never says why.
pub(crate) fn from_error(err: &(dyn StdError + 'static)) -> TransportError {
    TransportError::new(classify(err), summarize(err))
}

fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// Joins the messages of the chain, skipping levels whose text the level
/// above already showed and the stacks' generic wrappers ("error sending
/// request", "client error (Connect)") when a cause follows them.
fn summarize(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    for level in chain(err) {
        let wrapper =
            level.is::<reqwest::Error>() || level.is::<hyper_util::client::legacy::Error>();
        if wrapper && level.source().is_some() {
            continue;
        }
        let text = level.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    if out.is_empty() {
        out = err.to_string();
    }
    out
}

fn classify(err: &(dyn StdError + 'static)) -> TransportErrorKind {
    use TransportErrorKind::*;

    // Definite answers return at once; weaker hints wait in `fallback` in case
    // a deeper level is more specific.
    let mut fallback = None;
    for level in chain(err) {
        if level.is::<UploadError>() {
            return Request;
        }
        if level.is::<SocketConnectError>() {
            return Connect;
        }
        if let Some(e) = level.downcast_ref::<reqwest::Error>() {
            if e.is_connect() {
                return Connect;
            }
            if e.is_timeout() {
                return Timeout;
            }
            if e.is_builder() {
                fallback.get_or_insert(Request);
            } else if e.is_body() || e.is_decode() {
                fallback.get_or_insert(Io);
            }
        }
        if let Some(e) = level.downcast_ref::<hyper_util::client::legacy::Error>() {
            if e.is_connect() {
                return Connect;
            }
        }
        if let Some(e) = level.downcast_ref::<hyper::Error>() {
            if e.is_timeout() {
                return Timeout;
            }
            fallback.get_or_insert(if e.is_user() { Request } else { Io });
        }
        if let Some(e) = level.downcast_ref::<io::Error>() {
            if e.kind() == io::ErrorKind::TimedOut {
                return Timeout;
            }
            fallback.get_or_insert(Io);
        }
    }
    fallback.unwrap_or(Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);

    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    #[test]
    fn chain_is_walked_for_kind_and_message() {
        let upload = Wrap("outer", Box::new(UploadError(io::Error::other("gone"))));
        let e = from_error(&upload);
        assert_eq!(e.kind(), TransportErrorKind::Request);
        assert!(
            e.to_string()
                .ends_with("outer: reading the request body failed: gone"),
            "{e}"
        );

        let socket = SocketConnectError {
            path: "/run/x.sock".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        let e = from_error(&Wrap("client error (Connect)", Box::new(socket)));
        assert_eq!(e.kind(), TransportErrorKind::Connect);
        assert!(e.to_string().contains("/run/x.sock"), "{e}");

        let timed_out = Wrap("x", Box::new(io::Error::from(io::ErrorKind::TimedOut)));
        assert_eq!(from_error(&timed_out).kind(), TransportErrorKind::Timeout);

        let reset = Wrap(
            "x",
            Box::new(io::Error::from(io::ErrorKind::ConnectionReset)),
        );
        assert_eq!(from_error(&reset).kind(), TransportErrorKind::Io);

        assert_eq!(
            from_error(&io::Error::other("?")).kind(),
            TransportErrorKind::Io
        );
        let plain = Wrap("plain", Box::from("cause"));
        assert_eq!(from_error(&plain).kind(), TransportErrorKind::Other);
    }

    #[test]
    fn repeated_messages_are_shown_once() {
        let e = from_error(&Wrap("a: b", Box::from("b")));
        assert_eq!(e.to_string(), "the request to the Slicer API failed: a: b");
    }
}
