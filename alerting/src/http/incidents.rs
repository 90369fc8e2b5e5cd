//! The incident routes (DESIGN §6, §7): `GET /api/v1/incidents` (filters `status, class, county,
//! township`, `since` — opened at or after, epoch ms or RFC 3339 — and `limit`, newest first),
//! `GET /api/v1/incidents/{id}`, `POST /api/v1/incidents/{id}/{action}` with `action` one of
//! `ack, on_scene, resolve, false_alarm, confirm, rectified` and an optional JSON body
//! `{"note": "…", "by": "…"}` (at most 2 KiB stored, 400 beyond). A station or grid token sees only
//! incidents it was notified of, and acts on them as the role × action table allows
//! ([`crate::access::permissions`]: 403 with the reason otherwise); an illegal transition is 409;
//! repeating what is done (an `ack` of an acknowledged incident) answers 200 with the incident
//! unchanged.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::error::ApiError;
use super::HttpParts;
use crate::access::permissions::{decide, Request};
use crate::access::{CallerRole, Principal};
use crate::engine::EngineHandle;
use crate::incident::{note, Action, Class, Status};
use crate::store::IncidentFilter;

/// Query string of the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    status: Option<String>,
    class: Option<String>,
    county: Option<String>,
    township: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

fn parse_since(s: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::BadRequest(format!("since `{s}`: use epoch milliseconds or RFC 3339")))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::BadRequest(format!("since `{s}` is out of range")))
}

/// Narrows the list to what the caller may see.
fn scope(caller: &Principal, f: &mut IncidentFilter) {
    match caller.role {
        CallerRole::Station => f.notified_station = Some(caller.subject.clone()),
        CallerRole::Grid => f.notified_grid = Some(caller.subject.clone()),
        CallerRole::Admin | CallerRole::Dispatcher => {}
    }
}

impl ListQuery {
    fn filter(self) -> Result<IncidentFilter, ApiError> {
        let status = self.status.as_deref().map(|s| Status::parse(s).ok_or(s)).transpose();
        let class = self.class.as_deref().map(|s| Class::parse(s).ok_or(s)).transpose();
        Ok(IncidentFilter {
            status: status.map_err(|s| ApiError::BadRequest(format!("unknown status `{s}`")))?,
            class: class.map_err(|s| ApiError::BadRequest(format!("unknown class `{s}`")))?,
            county: self.county,
            township: self.township,
            since_ms: self.since.as_deref().map(parse_since).transpose()?,
            limit: self.limit.unwrap_or(0).min(5000),
            ..IncidentFilter::default()
        })
    }
}

pub(super) async fn list(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut f = q.filter()?;
    scope(&caller, &mut f);
    let incidents = st.engine.list(f).await?;
    Ok(Json(json!({ "incidents": incidents })).into_response())
}

pub(super) async fn show(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rec = st.engine.get(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    if !caller.may_see(&rec.incident) {
        return Err(ApiError::Forbidden(format!("{} was not notified of incident {id}", caller.actor())));
    }
    Ok(Json(rec).into_response())
}

/// Optional body of an action; other fields (e.g. the MQTT ack's `incident_id`, `action`) are ignored.
#[derive(Debug, Default, Deserialize)]
struct ActionBody {
    #[serde(default)]
    note: String,
    /// Who acted on the station's behalf (recorded with the note).
    #[serde(default)]
    by: String,
}

pub(super) async fn act(
    State(st): State<HttpParts>,
    Caller(caller): Caller,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = Action::parse(&action).filter(|a| *a != Action::Dispatched).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown action `{action}`: use ack, on_scene, resolve, false_alarm, confirm or rectified"
        ))
    })?;
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?
    };
    let note = note::compose(&body.note, &body.by).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !caller.sees_all() {
        permit(&st.engine, &caller, &id, action).await?;
    }
    let inc = st.engine.act(&id, action, &caller.actor(), &note).await?;
    Ok(Json(inc).into_response())
}

/// Asks the role × action table whether a station or grid token may take `action` on incident
/// `id`, with the roles it was notified as (from the dispatch outbox, never from the request).
async fn permit(engine: &EngineHandle, caller: &Principal, id: &str, action: Action) -> Result<(), ApiError> {
    let rec = engine.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    let actor = caller.actor();
    let who = match caller.recipient() {
        Some(who) if rec.incident.was_notified(&who) => who,
        _ => return Err(ApiError::Forbidden(format!("{actor} was not notified of incident {id}"))),
    };
    let roles = engine.notification_roles(id, &who).await?;
    decide(&Request {
        caller: caller.role,
        actor: &actor,
        incident_id: id,
        class: rec.incident.class,
        unverified: rec.incident.verification.is_some(),
        notified_as: &roles,
        action,
    })
    .map_err(|d| ApiError::Forbidden(d.to_string()))
}
