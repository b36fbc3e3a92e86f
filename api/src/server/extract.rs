//! Extractors that answer in the API's error format, and the bridge that
//! runs CPU work on rayon.
//!
//! Invariant: async workers never rank, search or parse big inputs; they
//! hand the work to rayon with [`spawn_cpu`] and await a oneshot.

use std::panic::AssertUnwindSafe;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors::ApiError;
use super::AppState;

/// A request body that must be JSON (any content type is accepted).
/// Empty bodies are `Value::Null`, so handlers decide whether one is allowed.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(state.config().max_body_bytes)
            } else {
                ApiError::bad_request("unreadable_body", e.body_text())
            }
        })?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
        })
    }
}

/// Query parameters; a bad one answers 400 `invalid_parameter` naming it
/// in `fields`. The query string is deserialized here (the form decoder
/// under `serde_path_to_error`), so the parameter's name comes from the
/// deserializer's path, not from the wording of a framework's message.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(Q)
    }
}

/// `query` (the part of a URI after `?`) as a `T`.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let param = e.path().to_string();
        let problem = e.inner().to_string();
        if param.is_empty() || param == "." {
            ApiError::bad_request(
                "invalid_parameter",
                format!("the query string does not parse: {problem}"),
            )
        } else {
            ApiError::bad_param(&param, problem)
        }
    })
}

/// Runs `f` on the rayon pool and awaits its result; a panic becomes a 500.
pub async fn spawn_cpu<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(ApiError::internal(
            "the computation panicked (a bug: please report it)",
        )),
        Err(_) => Err(ApiError::internal(
            "the worker pool dropped the computation",
        )),
    }
}

/// Runs blocking I/O (fsync, file loads) on tokio's blocking pool.
pub async fn spawn_io<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))
}
