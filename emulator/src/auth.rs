//! Bearer-token authentication: the token's source, and the middleware that
//! checks it on protected endpoints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::config::Auth;
use crate::error::{ApiError, StartError};
use crate::state::AppState;

/// File name of the token inside the data directory.
pub(crate) const TOKEN_FILE: &str = "token";

/// The token clients must present, and the file it can be read from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// Resolves the configured auth into a token, writing `<data_dir>/token`
/// (mode 0600) for generated and explicit tokens.
pub(crate) fn resolve(auth: &Auth, data_dir: &Path) -> Result<Credentials, StartError> {
    let written = data_dir.join(TOKEN_FILE);
    let token = match auth {
        Auth::Disabled => return Ok(Credentials::default()),
        Auth::TokenFile(path) => {
            let token = read_token_file(path)?;
            return Ok(Credentials {
                token: Some(token),
                token_file: Some(path.clone()),
            });
        }
        Auth::Token(token) => {
            let token = token.trim();
            if token.is_empty() {
                return Err(StartError::Config("the token is empty".to_owned()));
            }
            token.to_owned()
        }
        Auth::Generated => match read_token_file(&written) {
            Ok(existing) => existing,
            Err(_) => generate_token(),
        },
    };
    write_token_file(&written, &token)?;
    Ok(Credentials {
        token: Some(token),
        token_file: Some(written),
    })
}

/// Reads and trims a token file; an empty file is an error.
fn read_token_file(path: &Path) -> Result<String, StartError> {
    // A token file the user named but that cannot be read is a bad setting.
    let text = fs::read_to_string(path).map_err(|e| {
        StartError::Config(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(StartError::Config(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

/// 32 random bytes, hex-encoded.
fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the token atomically with mode 0600, so it is never readable by
/// others, even briefly.
fn write_token_file(path: &Path, token: &str) -> Result<(), StartError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let context = || format!("cannot write the token file {}", path.display());
    // NamedTempFile is created with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(StartError::io(context()))?;
    writeln!(file, "{token}").map_err(StartError::io(context()))?;
    file.persist(path)
        .map_err(|e| StartError::io(context())(e.error))?;
    Ok(())
}

/// Whether the `Authorization` header carries `token`. `Bearer` with no
/// token counts as missing; the comparison takes constant time.
fn check(header: Option<&str>, token: &str) -> Result<(), ApiError> {
    let presented = header
        .and_then(|value| {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized(
            "missing bearer token: send an Authorization: Bearer <token> header",
        ));
    };
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("invalid bearer token"))
    }
}

/// Middleware for protected routes: 401 unless the request carries the token.
pub(crate) async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(token) = state.token.as_deref() {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(err) = check(header, token) {
            return err.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn header_forms() {
        assert!(check(Some("Bearer s3cret"), "s3cret").is_ok());
        assert!(check(Some("bearer  s3cret "), "s3cret").is_ok());
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic s3cret"),
        ] {
            let err = check(bad, "s3cret").unwrap_err();
            assert!(err.message.contains("missing"), "{bad:?}: {err}");
        }
        assert_eq!(
            check(Some("Bearer s3cre"), "s3cret").unwrap_err().message,
            "invalid bearer token"
        );
    }

    #[test]
    fn generated_token_is_written_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(&Auth::Generated, dir.path()).unwrap();
        let token = first.token.unwrap();
        assert_eq!(token.len(), 64);
        let path = first.token_file.unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), token);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let second = resolve(&Auth::Generated, dir.path()).unwrap();
        assert_eq!(second.token.unwrap(), token);
    }

    #[test]
    fn token_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("given");
        fs::write(&file, "  abc \n").unwrap();
        let creds = resolve(&Auth::TokenFile(file.clone()), dir.path()).unwrap();
        assert_eq!(
            (creds.token.as_deref(), creds.token_file),
            (Some("abc"), Some(file.clone()))
        );
        fs::write(&file, "\n").unwrap();
        assert!(resolve(&Auth::TokenFile(file), dir.path())
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(resolve(&Auth::Token(" ".into()), dir.path()).is_err());
        assert!(resolve(&Auth::Disabled, dir.path())
            .unwrap()
            .token
            .is_none());
        let explicit = resolve(&Auth::Token("t0k".into()), dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(explicit.token_file.unwrap())
                .unwrap()
                .trim(),
            "t0k"
        );
    }
}
