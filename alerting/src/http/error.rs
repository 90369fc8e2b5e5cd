//! [`ApiError`]: every refusal of the HTTP API, as a status code and the JSON body
//! `{"error": code, "reason": text}` (401s also carry `WWW-Authenticate: Bearer`). Internal
//! failures are logged and answered without their detail.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::AlertError;

/// An API refusal: status code, machine code and a reason for people.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No or an unknown bearer token.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The token may not see or do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such incident.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The lifecycle forbids the action.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A file the request asked to load is invalid (the registry reload): what is wrong, where.
    #[error("invalid file: {0}")]
    InvalidFile(String),
    /// The engine has stopped, or no leader applied a forwarded action in time (it was cancelled).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The owning leader took a forwarded action but did not answer in time (it is applied later).
    #[error("timeout: {0}")]
    Timeout(String),
    /// Something failed inside.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> ApiError {
        match e {
            AlertError::NotFound(id) => ApiError::NotFound(format!("no incident {id}")),
            AlertError::Transition(t) => ApiError::Conflict(t.to_string()),
            AlertError::Stopped => ApiError::Unavailable(e.to_string()),
            // A forwarded action's answer: the owner's reason, word for word.
            AlertError::Conflict(r) => ApiError::Conflict(r),
            AlertError::Unavailable(r) => ApiError::Unavailable(r),
            AlertError::Timeout(r) => ApiError::Timeout(r),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, reason) = match &self {
            ApiError::Unauthorized(r) => (StatusCode::UNAUTHORIZED, "unauthorized", (*r).to_owned()),
            ApiError::Forbidden(r) => (StatusCode::FORBIDDEN, "forbidden", r.clone()),
            ApiError::NotFound(r) => (StatusCode::NOT_FOUND, "not_found", r.clone()),
            ApiError::BadRequest(r) => (StatusCode::BAD_REQUEST, "bad_request", r.clone()),
            ApiError::Conflict(r) => (StatusCode::CONFLICT, "conflict", r.clone()),
            ApiError::InvalidFile(r) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", r.clone()),
            ApiError::Unavailable(r) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", r.clone()),
            ApiError::Timeout(r) => (StatusCode::GATEWAY_TIMEOUT, "timeout", r.clone()),
            ApiError::Internal(r) => {
                tracing::error!(event = "api_internal_error", error = %r, "incident API failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error, see the server log".to_owned())
            }
        };
        let mut resp = (status, Json(json!({ "error": code, "reason": reason }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
