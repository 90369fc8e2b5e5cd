//! The dispatch routes (DESIGN §6, §7): `POST /api/v1/stations/{id}/availability` (admin token;
//! body `{"status": "available" | "busy" | "off_duty"}`) and `GET /api/v1/events`, the console's
//! server-sent-event stream of dispatch messages (`event: dispatch`, data: the message JSON) —
//! every message for admin and dispatcher tokens, a station's or grid's own for theirs.

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::caller::Caller;
use super::error::ApiError;
use super::HttpParts;
use crate::access::{CallerRole, Principal};
use crate::dispatch::{parse_status_body, SseItem};

pub(super) async fn set_availability(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if caller.role != CallerRole::Admin {
        return Err(ApiError::Forbidden(format!("{} may not set station availability (admin only)", caller.actor())));
    }
    if st.registry.snapshot().station(&id).is_none() {
        return Err(ApiError::NotFound(format!("no station {id}")));
    }
    let status = parse_status_body(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    st.availability.publish(&id, status).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tracing::info!(event = "station_availability_set", station = %id, status = status.as_str(),
        actor = %caller.actor(), "station availability set");
    Ok(Json(json!({ "station_id": id, "status": status.as_str() })).into_response())
}

/// Whether the caller's console shows this message: all of them to admin and dispatcher tokens,
/// a station's or grid's own to theirs.
fn may_see(caller: &Principal, item: &SseItem) -> bool {
    caller.sees_all() || caller.recipient().as_ref() == Some(&item.recipient)
}

pub(super) async fn events(State(st): State<HttpParts>, Caller(caller): Caller) -> Result<Response, ApiError> {
    let rx = st.events.subscribe();
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
