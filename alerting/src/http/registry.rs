//! `POST /api/v1/registry/reload` (admin token; DESIGN §3, §7): reloads the registry files as
//! SIGHUP does. A file that fails to load keeps the registry in force and the answer is 422 with
//! the loader's `file:line: what is wrong`; other roles get 403.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::caller::Caller;
use super::error::ApiError;
use super::HttpParts;
use crate::access::CallerRole;

pub(super) async fn reload(State(st): State<HttpParts>, Caller(caller): Caller) -> Result<Response, ApiError> {
    if caller.role != CallerRole::Admin {
        return Err(ApiError::Forbidden(format!("{} may not reload the registry (admin only)", caller.actor())));
    }
    // Reading and parsing the CSV files blocks: off the async workers.
    let registry = st.registry.clone();
    let loaded = tokio::task::spawn_blocking(move || registry.reload())
        .await
        .map_err(|e| ApiError::Internal(format!("registry reload task: {e}")))?;
    match loaded {
        Ok(r) => {
            tracing::info!(event = "registry_reloaded", devices = r.device_count(), actor = %caller.actor(),
                source = "http");
            let body = json!({
                "devices": r.device_count(),
                "stations": r.stations().len(),
                "grids": r.grids().count(),
            });
            Ok(Json(body).into_response())
        }
        Err(e) => {
            tracing::error!(event = "registry_reload_failed", error = %e, actor = %caller.actor(), source = "http",
                "keeping the previous registry");
            Err(ApiError::InvalidFile(format!("{e}; the previous registry stays in force")))
        }
    }
}
