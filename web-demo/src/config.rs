//! Reading the Slicer URL and token from the environment.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// A configuration problem, with a message that names the variable or file
/// at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where the token came from, for the startup message (the token itself is
/// never printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `SLICER_TOKEN`.
    Env,
    /// The file named by `SLICER_TOKEN_FILE`.
    File(PathBuf),
    /// Neither variable: requests go out without `Authorization`, as a
    /// daemon on a UNIX socket usually expects.
    None,
}

/// A Slicer daemon chosen through the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct SlicerSettings {
    /// `SLICER_URL`, trimmed: an `http(s)` URL or a UNIX socket path.
    pub url: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// Where the token came from.
    pub token_source: TokenSource,
}

impl fmt::Debug for SlicerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlicerSettings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_source", &self.token_source)
            .finish()
    }
}

/// Reads `SLICER_URL`, then `SLICER_TOKEN` or else `SLICER_TOKEN_FILE`, the
/// way the Slicer SDKs do. `lookup` is `std::env::var_os` in the binary.
///
/// Returns `Ok(None)` when `SLICER_URL` is unset or blank: the demo then
/// runs the emulator. A non-blank `SLICER_TOKEN` wins over the file; the
/// file's contents are trimmed and a leading `~/` in its name means
/// `$HOME`.
///
/// # Errors
/// A variable that is not UTF-8, or a token file that cannot be read or is
/// empty; the message names the variable or the file.
///
/// ```
/// use std::ffi::OsString;
/// use web_demo::settings_from_env;
///
/// let env = |name: &str| match name {
///     "SLICER_URL" => Some(OsString::from(" http://127.0.0.1:8080 ")),
///     "SLICER_TOKEN" => Some(OsString::from("s3cret\n")),
///     _ => None,
/// };
/// let settings = settings_from_env(&env).unwrap().unwrap();
/// assert_eq!(settings.url, "http://127.0.0.1:8080");
/// assert_eq!(settings.token.as_deref(), Some("s3cret"));
/// assert!(settings_from_env(&|_: &str| None).unwrap().is_none());
/// ```
pub fn settings_from_env(
    lookup: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Option<SlicerSettings>, ConfigError> {
    // The `slicer` crate reads the variables exactly as its own clients do.
    let settings = slicer::EnvSettings::from_lookup(lookup).map_err(|e| match e {
        slicer::Error::InvalidInput(why) => ConfigError::new(why),
        other => ConfigError::new(other.to_string()),
    })?;
    Ok(settings.map(|s| {
        let token_source = match (&s.token, s.token_file) {
            (None, _) => TokenSource::None,
            (Some(_), Some(file)) => TokenSource::File(file),
            (Some(_), None) => TokenSource::Env,
        };
        SlicerSettings {
            url: s.url,
            token: s.token,
            token_source,
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_url_means_the_emulator() {
        assert_eq!(settings_from_env(&env(&[])).unwrap(), None);
        let blank = env(&[("SLICER_URL", "  "), ("SLICER_TOKEN", "t")]);
        assert_eq!(settings_from_env(&blank).unwrap(), None);
    }

    #[test]
    fn token_variable_wins_over_the_file() {
        let lookup = env(&[
            ("SLICER_URL", "http://h:1"),
            ("SLICER_TOKEN", " abc "),
            ("SLICER_TOKEN_FILE", "/nonexistent/token"),
        ]);
        let s = settings_from_env(&lookup).unwrap().unwrap();
        assert_eq!(s.token.as_deref(), Some("abc"));
        assert_eq!(s.token_source, TokenSource::Env);
    }

    #[test]
    fn token_file_is_read_trimmed_and_home_expanded() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("token"), "  from-file\n").unwrap();
        let lookup = env(&[
            ("SLICER_URL", "/run/slicer.sock"),
            ("SLICER_TOKEN_FILE", "~/token"),
            ("HOME", home.path().to_str().unwrap()),
        ]);
        let s = settings_from_env(&lookup).unwrap().unwrap();
        assert_eq!(s.token.as_deref(), Some("from-file"));
        assert_eq!(s.token_source, TokenSource::File(home.path().join("token")));
        assert!(!format!("{s:?}").contains("from-file"), "Debug must redact");
    }

    #[test]
    fn bad_token_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let lookup = env(&[
            ("SLICER_URL", "http://h:1"),
            ("SLICER_TOKEN_FILE", empty.to_str().unwrap()),
        ]);
        let err = settings_from_env(&lookup).unwrap_err();
        assert!(err.message().contains("is empty"), "{err}");
        assert!(err.message().contains(empty.to_str().unwrap()), "{err}");

        let missing = dir.path().join("missing");
        let lookup = env(&[
            ("SLICER_URL", "http://h:1"),
            ("SLICER_TOKEN_FILE", missing.to_str().unwrap()),
        ]);
        let err = settings_from_env(&lookup).unwrap_err();
        assert!(err.message().contains("cannot read"), "{err}");
    }

    #[test]
    fn no_token_at_all_is_allowed() {
        let lookup = env(&[("SLICER_URL", "/run/slicer.sock")]);
        let s = settings_from_env(&lookup).unwrap().unwrap();
        assert_eq!((s.token, s.token_source), (None, TokenSource::None));
    }
}
