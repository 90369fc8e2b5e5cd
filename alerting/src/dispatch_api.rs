//! The dispatch HTTP routes (DESIGN §6, §7), merged into the binary's router beside the incident
//! API: `POST /api/v1/stations/{id}/availability` (admin token; body `{"status": "available" |
//! "busy" | "off_duty"}`) and `GET /api/v1/events`, the console's server-sent-event stream of
//! dispatch messages (`event: dispatch`, data: the message JSON) — every message for admin and
//! dispatcher tokens, a station's or grid's own for theirs.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use firegrid_ingest::SharedRegistry;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{authenticate, ApiError};
use crate::auth::{Principal, Role, SharedTokens};
use crate::availability::{parse_status_body, Availability};
use crate::notify::sse::{SseHub, SseItem};

#[derive(Clone)]
struct DispatchState {
    tokens: SharedTokens,
    registry: SharedRegistry,
    availability: Availability,
    hub: SseHub,
}

/// The dispatch routes.
pub fn router(
    tokens: impl Into<SharedTokens>,
    registry: SharedRegistry,
    availability: Availability,
    hub: SseHub,
) -> Router {
    let state = DispatchState { tokens: tokens.into(), registry, availability, hub };
    Router::new()
        .route("/api/v1/stations/{id}/availability", post(set_availability))
        .route("/api/v1/events", get(events))
        .with_state(state)
}

async fn set_availability(
    State(st): State<DispatchState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&headers, &st.tokens)?;
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden(format!("{} may not set station availability (admin only)", caller.actor())));
    }
    if st.registry.snapshot().station(&id).is_none() {
        return Err(ApiError::NotFound(format!("no station {id}")));
    }
    let status = parse_status_body(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    st.availability.set(&id, status);
    tracing::info!(station = %id, status = status.as_str(), actor = %caller.actor(), "station availability set");
    Ok(Json(json!({ "station_id": id, "status": status.as_str() })).into_response())
}

fn may_see(caller: &Principal, item: &SseItem) -> bool {
    match caller.role {
        Role::Admin | Role::Dispatcher => true,
        Role::Station => item.target == caller.subject,
        Role::Grid => item.target.strip_prefix("grid:") == Some(caller.subject.as_str()),
    }
}

async fn events(State(st): State<DispatchState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = authenticate(&headers, &st.tokens)?;
    let rx = st.hub.subscribe();
    let stream = futures_util::stream::unfold((rx, caller), |(mut rx, caller)| async move {
        loop {
            match rx.recv().await {
                Ok(item) if may_see(&caller, &item) => {
                    let ev = Event::default().event("dispatch").data(item.payload.clone());
                    return Some((Ok::<Event, std::convert::Infallible>(ev), (rx, caller)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), (rx, caller)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
