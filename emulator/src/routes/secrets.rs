//! `/secrets`: file-backed secrets (values are never returned).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use slicer_core::{Secret, SecretBody};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams};
use crate::state::AppState;

/// Runs a blocking secret-store operation off the async workers.
async fn blocking<T: Send + 'static>(
    state: Arc<AppState>,
    op: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || op(&state))
        .await
        .map_err(|e| ApiError::internal("secret store task failed", e))?
}

/// `GET /secrets`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<Secret>>, ApiError> {
    blocking(state, |s| s.secrets.list()).await.map(Json)
}

/// `POST /secrets`: 201 with the new secret's metadata.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<(StatusCode, Json<Secret>), ApiError> {
    let secret = blocking(state, move |s| s.secrets.create(&body)).await?;
    tracing::info!(name = %secret.name, "secret created");
    Ok((StatusCode::CREATED, Json(secret)))
}

/// `PATCH /secrets/{name}`.
pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<Json<Secret>, ApiError> {
    blocking(state, move |s| s.secrets.update(&name, &body))
        .await
        .map(Json)
}

/// `DELETE /secrets/{name}`.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let message = format!("secret {name:?} deleted");
    blocking(state, move |s| s.secrets.delete(&name)).await?;
    Ok(Json(json!({ "message": message })))
}
