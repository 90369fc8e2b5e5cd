//! The incident API's authorisation rules, driven with `tower::ServiceExt::oneshot` against a
//! running engine: no token → 401, a station sees only incidents it was notified of and acts as
//! the role × action table allows (403 with the reason otherwise, one test per cell), illegal
//! transitions → 409, a repeated action is a harmless 200, notes over 2 KiB → 400, filters.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod permission_cells;

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use firegrid_alerting::incident::Action;
use firegrid_alerting::incident::{Channel, NotifyRole, OutboxEntry, Recipient};
use firegrid_alerting::TokenSet;
use firegrid_ingest::{now_ms, Kind, SiteType};
use permission_cells::{Expect, Who};
use serde_json::Value;
use tower::ServiceExt;

const DISPATCHER: &str = "dispatch-0123456789abcdef";
const STATION_1: &str = "station-1-0123456789abcdef";
const STATION_2: &str = "station-2-0123456789abcdef";
const GRID: &str = "grid-g1-0123456789abcdef";

fn tokens() -> TokenSet {
    let text = format!(
        "token,role,subject\n{DISPATCHER},dispatcher,duty\n{STATION_1},station,m-1\n{STATION_2},station,m-2\n{GRID},grid,g-1\n"
    );
    TokenSet::parse(Path::new("tokens.csv"), &text).unwrap()
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, json)
}

fn notification(id: &str, target: &str, role: &str) -> OutboxEntry {
    OutboxEntry {
        idempotency_key: format!("{id}:{target}:{role}:1/mqtt"),
        incident_id: id.to_owned(),
        recipient: Recipient::from_target(target),
        role: NotifyRole::parse(role).unwrap(),
        channel: Channel::Mqtt,
        tier: None,
        seq: 1,
        received_at_ms: None,
        payload: "{}".to_owned(),
        created_at_ms: now_ms(),
        next_attempt_ms: now_ms(),
        attempts: 0,
    }
}

/// An engine with one critical fire incident notified to station m-1 (`respond`) and grid g-1
/// (`verify`); returns its id.
async fn setup(dir: &Path) -> (Running, Router, String) {
    let mut e = start(dir);
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, true);
    let line = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let id = line.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let rows = vec![notification(&id, "m-1", "respond"), notification(&id, "grid:g-1", "verify")];
    e.handle.record_notified(&id, vec!["m-1".into()], vec!["g-1".into()], rows).await.unwrap();
    let app = api(&e, tokens(), empty_registry());
    permission_cells::drain(&mut e);
    (e, app, id)
}

#[tokio::test]
async fn nothing_is_served_without_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    for (method, uri) in [
        ("GET", "/api/v1/incidents".to_owned()),
        ("GET", format!("/api/v1/incidents/{id}")),
        ("POST", format!("/api/v1/incidents/{id}/ack")),
    ] {
        for token in [None, Some("not-a-token-0123456789"), Some("")] {
            let (status, body) = call(&app, method, &uri, token, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with {token:?}");
            assert_eq!(body["error"], "unauthorized");
            assert!(!body.to_string().contains(&id), "a refusal leaks nothing of the incident");
        }
    }
    e.stop().await;
}

#[tokio::test]
async fn a_station_sees_and_acts_only_on_incidents_it_was_notified_of() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let (status, body) = call(&app, "GET", "/api/v1/incidents", Some(STATION_2), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["incidents"].as_array().unwrap().len(), 0);
    let (status, body) = call(&app, "GET", &format!("/api/v1/incidents/{id}"), Some(STATION_2), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["reason"].as_str().unwrap().contains("station:m-2 was not notified"), "{body}");
    let (status, _) = call(&app, "POST", &format!("/api/v1/incidents/{id}/ack"), Some(STATION_2), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = call(&app, "GET", "/api/v1/incidents", Some(STATION_1), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["incidents"][0]["id"], id.as_str());
    let (status, body) = call(&app, "GET", &format!("/api/v1/incidents/{id}"), Some(GRID), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["incident"]["severity"], "critical");
    assert_eq!(body["evidence"].as_array().unwrap().len(), 1);

    let uri = format!("/api/v1/incidents/{id}/ack");
    let (status, body) = call(&app, "POST", &uri, Some(STATION_1), r#"{"note":"en route","by":"王队长"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "acknowledged");
    let (_, body) = call(&app, "GET", &format!("/api/v1/incidents/{id}"), Some(DISPATCHER), "").await;
    let last = body["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "station:m-1");
    assert_eq!(last["note"], "en route (by 王队长)");
    e.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let cases = [
        ("POST", format!("/api/v1/incidents/{id}/explode"), StatusCode::BAD_REQUEST),
        ("POST", format!("/api/v1/incidents/{id}/dispatched"), StatusCode::BAD_REQUEST),
        ("POST", format!("/api/v1/incidents/{id}/rectified"), StatusCode::CONFLICT),
        ("POST", "/api/v1/incidents/INC-500112-20000101-0001/ack".to_owned(), StatusCode::NOT_FOUND),
        ("GET", "/api/v1/incidents/INC-500112-20000101-0001".to_owned(), StatusCode::NOT_FOUND),
        ("GET", "/api/v1/incidents?status=burning".to_owned(), StatusCode::BAD_REQUEST),
        ("GET", "/api/v1/incidents?since=yesterday".to_owned(), StatusCode::BAD_REQUEST),
        ("GET", "/api/v1/incidents?colour=red".to_owned(), StatusCode::BAD_REQUEST),
    ];
    for (method, uri, want) in cases {
        let (status, body) = call(&app, method, &uri, Some(DISPATCHER), "").await;
        assert_eq!(status, want, "{method} {uri}: {body}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{method} {uri}: {body}");
    }
    e.stop().await;
}

#[tokio::test]
async fn the_list_filters_by_status_class_place_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let cases = [
        ("", 1),
        ("?status=dispatched", 1),
        ("?status=open", 0),
        ("?class=fire&county=500112&township=500112002", 1),
        ("?class=hazard", 0),
        ("?county=500101", 0),
        ("?since=2000-01-01T00:00:00Z", 1),
        ("?since=2999-01-01T00:00:00%2B08:00", 0),
        ("?since=0&limit=1", 1),
    ];
    for (q, n) in cases {
        let (status, body) = call(&app, "GET", &format!("/api/v1/incidents{q}"), Some(DISPATCHER), "").await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        let list = body["incidents"].as_array().unwrap();
        assert_eq!(list.len(), n, "{q}");
        if n == 1 {
            assert_eq!(list[0]["id"], id.as_str());
        }
    }
    e.stop().await;
}

/// Every cell of the role × action table over HTTP: each caller tries each action on a fresh fire
/// and a fresh hazard, notified as the dispatch stage notifies (the micro station to respond, the
/// district station to forward to 119, the grid manager to verify a fire and rectify a hazard, the
/// township team to rectify a hazard). Every cell is checked; the failure lists every wrong one.
#[tokio::test]
async fn every_cell_of_the_role_action_table_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
    let tokens = TokenSet::parse(Path::new("tokens.csv"), &permission_cells::tokens_csv()).unwrap();
    let app = api(&e, tokens, empty_registry());
    let (mut n, mut wrong) = (0, Vec::new());
    for who in permission_cells::EVERYONE {
        for hazard in [false, true] {
            for action in permission_cells::ACTIONS {
                n += 1;
                let id = permission_cells::incident(&mut e, n, hazard, action).await;
                if let Err(why) = check_cell(&app, &mut e, &who, hazard, action, &id).await {
                    wrong.push(why);
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {n} cells wrong:\n{}", wrong.len(), wrong.join("\n"));
    e.stop().await;
}

async fn check_cell(
    app: &Router,
    e: &mut Running,
    who: &Who,
    hazard: bool,
    action: Action,
    id: &str,
) -> Result<(), String> {
    let cell = format!("{} {action} on a {}", who.actor(), if hazard { "hazard" } else { "fire" });
    let before = permission_cells::state(e, id).await;
    let uri = format!("/api/v1/incidents/{id}/{action}");
    let (status, body) = call(app, "POST", &uri, Some(who.token), r#"{"note":"cell"}"#).await;
    let after = permission_cells::state(e, id).await;
    let last_actor = e.handle.get(id).await.unwrap().unwrap().audit.last().map(|a| a.actor.clone());
    permission_cells::drain(e);
    let expect = permission_cells::expect(who, hazard, action);
    let ok = match expect {
        Expect::Done => status == StatusCode::OK && after.1 == before.1 + 1 && last_actor == Some(who.actor()),
        refused => {
            let want = if refused == Expect::Illegal { StatusCode::CONFLICT } else { StatusCode::FORBIDDEN };
            let reason = body["reason"].as_str().unwrap_or("");
            status == want && !reason.is_empty() && after == before
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{cell}: expected {expect:?}, got {status} {body} (status/audit {before:?} -> {after:?})"))
    }
}

#[tokio::test]
async fn a_grid_manager_asked_to_verify_cannot_close_a_critical_fire_as_a_false_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let (status, body) = call(&app, "POST", &format!("/api/v1/incidents/{id}/false_alarm"), Some(GRID), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("grid:g-1 was notified of this fire to verify, which allows confirm only"), "{reason}");
    let (_, rec) = call(&app, "GET", &format!("/api/v1/incidents/{id}"), Some(DISPATCHER), "").await;
    assert_eq!(rec["incident"]["status"], "dispatched");
    e.stop().await;
}

#[tokio::test]
async fn repeating_an_action_answers_the_unchanged_incident_with_no_audit_entry_and_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, app, id) = setup(dir.path()).await;
    let show = format!("/api/v1/incidents/{id}");
    for (action, status) in [("ack", "acknowledged"), ("confirm", "acknowledged"), ("resolve", "resolved")] {
        let uri = format!("/api/v1/incidents/{id}/{action}");
        let (code, first) = call(&app, "POST", &uri, Some(STATION_1), "").await;
        assert_eq!((code, first["status"].as_str()), (StatusCode::OK, Some(status)), "{action}: {first}");
        assert!(e.lines.try_recv().is_ok(), "the first {action} is a transition");
        let (_, rec) = call(&app, "GET", &show, Some(DISPATCHER), "").await;
        let audit = rec["audit"].as_array().unwrap().len();
        for token in [STATION_1, DISPATCHER] {
            let (code, again) = call(&app, "POST", &uri, Some(token), r#"{"note":"retry"}"#).await;
            assert_eq!(code, StatusCode::OK, "a repeated {action} is harmless: {again}");
            assert_eq!(again, first, "a repeated {action} answers the incident unchanged");
            assert!(e.lines.try_recv().is_err(), "a repeated {action} emits no fire_incident line");
        }
        let (_, rec) = call(&app, "GET", &show, Some(DISPATCHER), "").await;
        assert_eq!(rec["audit"].as_array().unwrap().len(), audit, "a repeated {action} adds no audit entry");
    }
    // The confirm of a fire already critical is recorded once, as `confirmed`, by its first responder.
    let (_, rec) = call(&app, "GET", &show, Some(DISPATCHER), "").await;
    let confirms: Vec<&Value> = rec["audit"].as_array().unwrap().iter().filter(|a| a["event"] == "confirmed").collect();
    assert_eq!(confirms.len(), 1, "{rec}");
    assert_eq!(confirms[0]["actor"], "station:m-1");
    // Another action than the one that was done is still refused by the lifecycle.
    let (code, _) = call(&app, "POST", &format!("/api/v1/incidents/{id}/on_scene"), Some(STATION_1), "").await;
    assert_eq!(code, StatusCode::CONFLICT);
    e.stop().await;
}

#[tokio::test]
async fn a_note_longer_than_two_kilobytes_is_refused_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let uri = format!("/api/v1/incidents/{id}/ack");
    let show = format!("/api/v1/incidents/{id}");
    let long = serde_json::json!({ "note": "x".repeat(2049) }).to_string();
    let huge = serde_json::json!({ "note": "x".repeat(1_900_000) }).to_string();
    let by = serde_json::json!({ "note": "x".repeat(2000), "by": "y".repeat(100) }).to_string();
    for body in [&long, &huge, &by] {
        let (code, answer) = call(&app, "POST", &uri, Some(STATION_1), body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["reason"].as_str().unwrap().contains("at most 2048 bytes"), "{answer}");
    }
    let (_, rec) = call(&app, "GET", &show, Some(DISPATCHER), "").await;
    assert_eq!(rec["incident"]["status"], "dispatched");
    assert!(rec.to_string().len() < 20_000, "nothing of the refused notes is stored");
    let exact = serde_json::json!({ "note": "x".repeat(2048) }).to_string();
    let (code, _) = call(&app, "POST", &uri, Some(STATION_1), &exact).await;
    assert_eq!(code, StatusCode::OK);
    let (_, rec) = call(&app, "GET", &show, Some(DISPATCHER), "").await;
    assert_eq!(rec["audit"].as_array().unwrap().last().unwrap()["note"].as_str().unwrap().len(), 2048);
    e.stop().await;
}

#[tokio::test]
async fn how_a_station_was_notified_outlives_the_outbox_retention_while_the_incident_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path()).await;
    let keys = vec![format!("{id}:m-1:respond:1/mqtt"), format!("{id}:grid:g-1:verify:1/mqtt")];
    assert_eq!(e.handle.outbox_delivered_many(keys, 1).await.unwrap(), 2);
    assert_eq!(e.handle.prune_outbox(i64::MAX).await.unwrap(), 0, "an open incident's notifications stay");
    let (code, body) = call(&app, "POST", &format!("/api/v1/incidents/{id}/on_scene"), Some(STATION_1), "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = call(&app, "POST", &format!("/api/v1/incidents/{id}/resolve"), Some(STATION_1), "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(e.handle.prune_outbox(i64::MAX).await.unwrap(), 2, "a closed incident's go after their retention");
    e.stop().await;
}
