//! The incident API's authorisation rules, driven with `tower::ServiceExt::oneshot` against a
//! running engine: no token → 401, a station sees and acts only on incidents it was notified of
//! (403 otherwise), illegal transitions → 409, filters.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use firegrid_alerting::engine::now_ms;
use firegrid_alerting::TokenSet;
use firegrid_ingest::reading::Kind;
use firegrid_ingest::registry::SiteType;
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

/// An engine with one fire incident notified to station m-1 and grid g-1; returns its id.
async fn setup(dir: &Path) -> (Running, Router, String) {
    let mut e = start(dir);
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, true);
    let line = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let id = line.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    e.handle.record_notified(&id, vec!["m-1".into()], vec!["g-1".into()], vec![]).await.unwrap();
    let app = firegrid_alerting::router(e.handle.clone(), tokens());
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
    let (status, body) = call(&app, "POST", &uri, Some(STATION_1), "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["reason"].as_str().unwrap().contains("is acknowledged: cannot ack"), "{body}");
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
