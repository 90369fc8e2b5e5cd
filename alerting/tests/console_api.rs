//! The console's read-only API (`/api/v1/whoami`, `/api/v1/stations`,
//! `/api/v1/incidents/{id}/dispatch`), driven with `tower::ServiceExt::oneshot` against a running
//! engine: nothing without a token, a station reads only the dispatch log of incidents it was
//! notified of, and station availability set at run time shows on the map's list.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use firegrid_alerting::dispatch::{Availability, StationStatus};
use firegrid_alerting::incident::{Channel, NotifyRole, OutboxEntry, Recipient, RecipientTier};
use firegrid_alerting::TokenSet;
use firegrid_ingest::{now_ms, Kind, RegistryPaths, SharedRegistry, SiteType, Tier};
use serde_json::{json, Value};
use tower::ServiceExt;

const DISPATCHER: &str = "dispatch-0123456789abcdef";
const STATION_1: &str = "station-1-0123456789abcdef";
const STATION_2: &str = "station-2-0123456789abcdef";

fn tokens() -> TokenSet {
    let text =
        format!("token,role,subject\n{DISPATCHER},dispatcher,duty\n{STATION_1},station,m-1\n{STATION_2},station,m-2\n");
    TokenSet::parse(Path::new("tokens.csv"), &text).unwrap()
}

fn registry(dir: &Path) -> SharedRegistry {
    let paths = RegistryPaths {
        devices: dir.join("devices.csv"),
        stations: dir.join("stations.csv"),
        grids: dir.join("grids.csv"),
    };
    std::fs::write(
        &paths.devices,
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n",
    )
    .unwrap();
    std::fs::write(
        &paths.stations,
        "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n\
         m-1,五星路社区微型消防站,micro,500112,500112002,500112002001,29.7185,106.63,,true,\n\
         m-2,龙昌街社区微型消防站,micro,500112,500112002,500112002002,29.7262,106.6402,,false,\n",
    )
    .unwrap();
    std::fs::write(&paths.grids, "grid_id,community,manager,phone,webhook_url\n").unwrap();
    SharedRegistry::load(paths).unwrap()
}

async fn call(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method("GET").uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
}

/// An engine with one fire incident notified to station m-1 (one MQTT row in the outbox).
async fn setup(dir: &Path, availability: Availability) -> (Running, Router, String) {
    let mut e = start(dir);
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, true);
    let line = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let id = line.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let payload = json!({
        "incident_id": id, "seq": 1, "role": "respond", "station_id": "m-1", "tier": "micro",
        "ack_deadline": "2026-11-29T07:01:00Z", "summary_zh": "五星路 两只烟感报警，疑似火灾",
    });
    let row = OutboxEntry {
        idempotency_key: format!("{id}:m-1:respond:1/mqtt"),
        incident_id: id.clone(),
        recipient: Recipient::Station("m-1".into()),
        role: NotifyRole::Respond,
        channel: Channel::Mqtt,
        tier: Some(RecipientTier::Station(Tier::Micro)),
        seq: 1,
        received_at_ms: None,
        payload: payload.to_string(),
        created_at_ms: now_ms(),
        next_attempt_ms: now_ms(),
        attempts: 0,
    };
    e.handle.record_notified(&id, vec!["m-1".into()], vec![], vec![row]).await.unwrap();
    let app = api_with(&e, tokens(), registry(dir), availability);
    (e, app, id)
}

#[tokio::test]
async fn the_console_api_serves_nothing_without_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path(), Availability::default()).await;
    for uri in ["/api/v1/whoami".to_owned(), "/api/v1/stations".to_owned(), format!("/api/v1/incidents/{id}/dispatch")]
    {
        for token in [None, Some("not-a-token-0123456789")] {
            let (status, body) = call(&app, &uri, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} with {token:?}");
            assert!(!body.to_string().contains("五星路"), "a refusal leaks nothing");
        }
    }
    e.stop().await;
}

#[tokio::test]
async fn whoami_names_the_role_and_subject_of_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, _) = setup(dir.path(), Availability::default()).await;
    let (status, body) = call(&app, "/api/v1/whoami", Some(STATION_1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["role"].as_str(), body["subject"].as_str()), (Some("station"), Some("m-1")));
    assert_eq!(body["sees_all"], false);
    let (_, body) = call(&app, "/api/v1/whoami", Some(DISPATCHER)).await;
    assert_eq!((body["role"].as_str(), body["sees_all"].as_bool()), (Some("dispatcher"), Some(true)));
    e.stop().await;
}

#[tokio::test]
async fn stations_carry_position_tier_and_run_time_availability() {
    let dir = tempfile::tempdir().unwrap();
    let availability = Availability::default();
    let (e, app, _) = setup(dir.path(), availability.clone()).await;
    let (status, body) = call(&app, "/api/v1/stations", Some(STATION_2)).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["stations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["station_id"], "m-1");
    assert_eq!(list[0]["tier"], "micro");
    assert_eq!(list[0]["lat"], 29.7185);
    assert_eq!((list[0]["status"].as_str(), list[0]["available"].as_bool()), (Some("available"), Some(true)));
    assert_eq!((list[1]["status"].as_str(), list[1]["available"].as_bool()), (Some("off_duty"), Some(false)));
    availability.set("m-1", StationStatus::Busy);
    availability.set("m-2", StationStatus::Available);
    let (_, body) = call(&app, "/api/v1/stations", Some(DISPATCHER)).await;
    assert_eq!(
        (body["stations"][0]["status"].as_str(), body["stations"][0]["available"].as_bool()),
        (Some("busy"), Some(false))
    );
    assert_eq!(body["stations"][1]["available"], true);
    e.stop().await;
}

#[tokio::test]
async fn the_dispatch_log_is_read_only_by_those_who_may_see_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (e, app, id) = setup(dir.path(), Availability::default()).await;
    let uri = format!("/api/v1/incidents/{id}/dispatch");
    let (status, body) = call(&app, &uri, Some(STATION_2)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for token in [STATION_1, DISPATCHER] {
        let (status, body) = call(&app, &uri, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["incident_id"], id.as_str());
        assert_eq!(body["summary_zh"], "五星路 两只烟感报警，疑似火灾");
        let n = &body["notifications"][0];
        assert_eq!(
            (n["target"].as_str(), n["role"].as_str(), n["channel"].as_str()),
            (Some("m-1"), Some("respond"), Some("mqtt"))
        );
        assert_eq!((n["seq"].as_u64(), n["tier"].as_str()), (Some(1), Some("micro")));
        assert_eq!(n["ack_deadline"], "2026-11-29T07:01:00Z");
        assert!(n["delivered_at_ms"].is_null(), "not delivered yet: {n}");
    }
    let (status, _) = call(&app, "/api/v1/incidents/INC-500112-20000101-0001/dispatch", Some(DISPATCHER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    e.stop().await;
}
