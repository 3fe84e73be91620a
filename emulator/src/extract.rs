//! Request extractors whose failures answer with the API's JSON error body
//! (axum's own extractors answer in plain text).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use slicer_core::wire::{parse_go_bool, parse_go_duration};

use crate::error::ApiError;

/// A JSON body. An empty body reads as `T::default()`, and the
/// `Content-Type` is not checked, since clients differ in what they send.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                e.status(),
                format!("cannot read the request body: {}", e.body_text()),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// Path parameters, with a JSON error when they cannot be decoded.
#[derive(Debug)]
pub(crate) struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParams(value))
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// The decoded query string, keys in any order, `+` or `%20` for spaces.
/// An empty value counts as absent, as it does for Go's `Query().Get`.
#[derive(Debug, Default, Clone)]
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Decodes a raw query string.
    pub fn parse(raw: &str) -> Self {
        QueryParams(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` in order, empty ones included (repeated keys
    /// carry lists such as `args`).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A Go duration (`30s`, `1h2m3.5s`).
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ApiError> {
        self.get(key)
            .map(|v| {
                parse_go_duration(v)
                    .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))
            })
            .transpose()
    }

    /// A boolean in any form Go's `strconv.ParseBool` accepts.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|v| {
                parse_go_bool(v).ok_or_else(|| {
                    ApiError::bad_request(format!("invalid {key} {v:?}: expected true or false"))
                })
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = QueryParams::parse("b=x+y&a=%20z&a=second&empty=&t=T&d=1m30s");
        assert_eq!(q.get("a"), Some(" z"));
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("empty"), None);
        assert_eq!(q.get("missing"), None);
        assert_eq!(q.bool("t").unwrap(), Some(true));
        assert!(q.bool("b").unwrap_err().message.contains("invalid b"));
        assert_eq!(q.duration("d").unwrap(), Some(Duration::from_secs(90)));
        assert!(q.duration("b").unwrap_err().message.contains("invalid b"));
        let q = QueryParams::parse("args=a&x=1&args=&args=c");
        assert_eq!(q.all("args").collect::<Vec<_>>(), ["a", "", "c"]);
    }
}
