//! The console's read-only API additions (DESIGN §7), token-protected like the incident API:
//! `GET /api/v1/whoami` (the caller's role and subject), `GET /api/v1/stations` (the registry's
//! stations with position, tier and run-time availability, for the map) and
//! `GET /api/v1/incidents/{id}/dispatch` (the incident's dispatch log — every notification with
//! its channel, state (`pending`, `delivered`, `abandoned`), delivery and acknowledgement
//! deadline — and its escalation state, for the clock, and the latest message's `summary_zh`) and
//! `GET /api/v1/dispatch/unroutable` (active incidents for which no recipient was found: the
//! console's banner). A station or grid token reads the dispatch log only of incidents it was
//! notified of, and sees no unroutable incident (nobody was notified of one).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::dispatch::StationStatus;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::HttpParts;

pub(in crate::http) async fn whoami(Caller(caller): Caller) -> Result<Response, ApiError> {
    Ok(Json(json!({
        "role": caller.role.as_str(),
        "subject": caller.subject,
        "actor": caller.actor(),
        "sees_all": caller.sees_all(),
    }))
    .into_response())
}

/// One station as the map shows it.
#[derive(Debug, Serialize)]
struct StationView<'a> {
    station_id: &'a str,
    name: &'a str,
    tier: &'static str,
    county: &'a str,
    township: &'a str,
    community: &'a str,
    lat: f64,
    lon: f64,
    /// `available`, `busy` or `off_duty` (run-time value, else the registry's).
    status: &'static str,
    available: bool,
}

pub(in crate::http) async fn stations(State(st): State<HttpParts>, _: Caller) -> Result<Response, ApiError> {
    let reg = st.registry.snapshot();
    let overrides = st.availability.snapshot();
    let list: Vec<StationView<'_>> = reg
        .stations()
        .iter()
        .map(|s| {
            let status = overrides.get(&s.station_id).copied().unwrap_or(if s.available {
                StationStatus::Available
            } else {
                StationStatus::OffDuty
            });
            StationView {
                station_id: &s.station_id,
                name: &s.name,
                tier: s.tier.as_str(),
                county: &s.county,
                township: &s.township,
                community: &s.community,
                lat: s.lat,
                lon: s.lon,
                status: status.as_str(),
                available: status == StationStatus::Available,
            }
        })
        .collect();
    Ok(Json(json!({ "stations": list })).into_response())
}

/// One notification of the dispatch log.
#[derive(Debug, Serialize)]
struct NotificationView {
    target: String,
    role: &'static str,
    channel: &'static str,
    seq: Option<u64>,
    tier: Option<String>,
    created_at_ms: i64,
    /// `pending`, `delivered` or `abandoned`.
    state: &'static str,
    delivered_at_ms: Option<i64>,
    abandoned_at_ms: Option<i64>,
    attempts: u32,
    last_error: Option<String>,
    ack_deadline: Option<String>,
}

pub(in crate::http) async fn dispatch_log(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rec = st.engine.get(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    if !caller.may_see(&rec.incident) {
        return Err(ApiError::Forbidden(format!("{} was not notified of incident {id}", caller.actor())));
    }
    let (rows, state) = st.engine.dispatch_log(&id).await?;
    let mut summary_zh = None;
    let notifications: Vec<NotificationView> = rows
        .into_iter()
        .map(|r| {
            let msg: Value = serde_json::from_str(&r.entry.payload).unwrap_or(Value::Null);
            if let Some(s) = msg.get("summary_zh").and_then(Value::as_str) {
                summary_zh = Some(s.to_owned());
            }
            NotificationView {
                state: r.state(),
                abandoned_at_ms: r.abandoned_at_ms,
                target: r.entry.recipient.target(),
                role: r.entry.role.as_str(),
                channel: r.entry.channel.as_str(),
                seq: msg.get("seq").and_then(Value::as_u64),
                tier: msg.get("tier").and_then(Value::as_str).map(str::to_owned),
                created_at_ms: r.entry.created_at_ms,
                delivered_at_ms: r.delivered_at_ms,
                attempts: r.entry.attempts,
                last_error: r.last_error,
                ack_deadline: msg.get("ack_deadline").and_then(Value::as_str).map(str::to_owned),
            }
        })
        .collect();
    let escalation: Value = state.and_then(|doc| serde_json::from_str(&doc).ok()).unwrap_or(Value::Null);
    Ok(Json(json!({
        "incident_id": id,
        "summary_zh": summary_zh,
        "notifications": notifications,
        "escalation": escalation,
    }))
    .into_response())
}

/// One unroutable incident as the banner shows it.
#[derive(Debug, Serialize)]
struct UnroutableView {
    incident_id: String,
    class: &'static str,
    severity: &'static str,
    county: String,
    township: String,
    community: String,
    address: String,
    opened_at_ms: i64,
    unroutable_since_ms: i64,
}

pub(in crate::http) async fn unroutable(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let list: Vec<UnroutableView> = st
        .engine
        .unroutable()
        .await?
        .into_iter()
        .filter(|u| caller.may_see(&u.incident))
        .map(|u| UnroutableView {
            class: u.incident.class.as_str(),
            severity: u.incident.severity.as_str(),
            incident_id: u.incident.id,
            county: u.incident.county,
            township: u.incident.township,
            community: u.incident.community,
            address: u.incident.address,
            opened_at_ms: u.incident.opened_at_ms,
            unroutable_since_ms: u.since_ms,
        })
        .collect();
    Ok(Json(json!({ "incidents": list })).into_response())
}
