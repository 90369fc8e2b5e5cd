//! The incident HTTP API (DESIGN §6, §7), an axum [`Router`] the binary merges:
//! `GET /api/v1/incidents` (filters `status, class, county, township`, `since` — opened at or after,
//! epoch ms or RFC 3339 — and `limit`, newest first), `GET /api/v1/incidents/{id}`, `POST /api/v1/incidents/{id}/{action}` with
//! `action` one of `ack, on_scene, resolve, false_alarm, confirm, rectified` and an optional JSON
//! body `{"note": "…", "by": "…"}` (at most 2 KiB stored, 400 beyond). Every route needs
//! `Authorization: Bearer <token>` (401 without); a station or grid token sees only incidents it was
//! notified of, and acts on them as the role × action table allows ([`crate::permissions`]: 403
//! with the reason otherwise); an illegal transition is 409; repeating what is done (an `ack` of
//! an acknowledged incident) answers 200 with the incident unchanged. Errors are JSON
//! `{"error": code, "reason": text}`.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role, SharedTokens};
use crate::engine::{AlertError, EngineHandle};
use crate::incident::{Action, Class, Incident, Status};
use crate::permissions::{decide, parse_notified, Request};
use crate::store::IncidentFilter;

/// An API refusal: status code, machine code and a reason for people.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
    /// The engine has stopped.
    #[error("unavailable: {0}")]
    Unavailable(String),
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
            ApiError::Unavailable(r) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", r.clone()),
            ApiError::Internal(r) => {
                tracing::error!(error = %r, "incident API failed");
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

#[derive(Clone)]
struct ApiState {
    engine: EngineHandle,
    tokens: SharedTokens,
}

/// The authenticated caller of a request.
struct Caller(Principal);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        authenticate(&parts.headers, &state.tokens).map(Caller)
    }
}

/// The principal of a request's `Authorization: Bearer <token>` header (401 without one).
pub fn authenticate(headers: &axum::http::HeaderMap, tokens: &SharedTokens) -> Result<Principal, ApiError> {
    let value =
        headers.get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized("missing Authorization: Bearer <token>"))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("Authorization must be a Bearer token"))?;
    tokens.authenticate(token.trim()).ok_or(ApiError::Unauthorized("unknown token"))
}

/// The incident API routes, to merge into the binary's router. `tokens` is a fixed
/// [`crate::TokenSet`] or a [`SharedTokens`] that a reload replaces.
pub fn router(engine: EngineHandle, tokens: impl Into<SharedTokens>) -> Router {
    let state = ApiState { engine, tokens: tokens.into() };
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/{id}", get(show))
        .route("/api/v1/incidents/{id}/{action}", post(act))
        .with_state(state)
}

/// Query string of the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
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

fn scope(caller: &Principal, f: &mut IncidentFilter) {
    match caller.role {
        Role::Station => f.notified_station = Some(caller.subject.clone()),
        Role::Grid => f.notified_grid = Some(caller.subject.clone()),
        Role::Admin | Role::Dispatcher => {}
    }
}

fn may_see(caller: &Principal, inc: &Incident) -> bool {
    caller.sees_all() || inc.notified(&caller.subject, caller.role == Role::Grid)
}

async fn list(
    State(st): State<ApiState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut f = IncidentFilter {
        status: q
            .status
            .as_deref()
            .map(|s| Status::parse(s).ok_or_else(|| ApiError::BadRequest(format!("unknown status `{s}`"))))
            .transpose()?,
        class: q
            .class
            .as_deref()
            .map(|s| Class::parse(s).ok_or_else(|| ApiError::BadRequest(format!("unknown class `{s}`"))))
            .transpose()?,
        county: q.county,
        township: q.township,
        since_ms: q.since.as_deref().map(parse_since).transpose()?,
        limit: q.limit.unwrap_or(0).min(5000),
        ..IncidentFilter::default()
    };
    scope(&caller, &mut f);
    let incidents = st.engine.list(f).await?;
    Ok(Json(json!({ "incidents": incidents })).into_response())
}

async fn show(
    State(st): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rec = st.engine.get(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    if !may_see(&caller, &rec.incident) {
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

async fn act(
    State(st): State<ApiState>,
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
    let note = crate::note::compose(&body.note, &body.by).map_err(|e| ApiError::BadRequest(e.to_string()))?;
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
    if !may_see(caller, &rec.incident) {
        return Err(ApiError::Forbidden(format!("{actor} was not notified of incident {id}")));
    }
    let target = if caller.role == Role::Grid { format!("grid:{}", caller.subject) } else { caller.subject.clone() };
    let roles = parse_notified(&engine.notification_roles(id, &target).await?);
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
