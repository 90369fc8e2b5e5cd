//! The dispatch routes: station availability is admin-only, and the console's event stream
//! shows a station only its own notifications (a dispatcher sees them all).

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{start, Running};
use firegrid_alerting::dispatch::{Availability, SseHub, SseItem, StationStatus};
use firegrid_alerting::http::{router, HttpParts};
use firegrid_alerting::incident::Recipient;
use firegrid_alerting::TokenSet;
use futures_util::StreamExt;
use tower::ServiceExt;

mod common;
mod dispatch_fixture;

const TOKENS: &str = "token,role,subject\n\
    admin-0123456789abcdef,admin,ops\n\
    dispatch-0123456789abcdef,dispatcher,duty\n\
    station-0123456789abcdef,station,ms-500112002001\n";

/// The API over an engine in `dir` (the routes under test touch no incident).
fn app(dir: &Path, availability: Availability, hub: SseHub) -> (Running, axum::Router) {
    let tokens = TokenSet::parse(Path::new("tokens.csv"), TOKENS).expect("tokens");
    let e = start(&dir.join("data"));
    let registry = dispatch_fixture::registry(dir);
    let parts = HttpParts { engine: e.handle.clone(), tokens: tokens.into(), registry, availability, events: hub };
    (e, router(parts))
}

fn post(token: &str, station: &str, body: &str) -> Request<Body> {
    Request::post(format!("/api/v1/stations/{station}/availability"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn only_an_admin_sets_availability_and_only_of_a_known_station() {
    let dir = tempfile::tempdir().expect("tempdir");
    let avail = Availability::default();
    let (e, app) = app(dir.path(), avail.clone(), SseHub::default());
    let status = |r: axum::response::Response| r.status();
    let busy = r#"{"status":"busy"}"#;
    assert_eq!(
        status(app.clone().oneshot(post("station-0123456789abcdef", "ms-500112002001", busy)).await.expect("r")),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(app.clone().oneshot(post("admin-0123456789abcdef", "ms-nowhere", busy)).await.expect("r")),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(
            app.clone()
                .oneshot(post("admin-0123456789abcdef", "ms-500112002001", r#"{"status":"asleep"}"#))
                .await
                .expect("r")
        ),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(avail.get("ms-500112002001"), None);
    assert_eq!(
        status(app.clone().oneshot(post("admin-0123456789abcdef", "ms-500112002001", busy)).await.expect("r")),
        StatusCode::OK
    );
    assert_eq!(avail.get("ms-500112002001"), Some(StationStatus::Busy));
    let anon = Request::post("/api/v1/stations/ms-500112002001/availability").body(Body::from(busy)).expect("request");
    assert_eq!(status(app.oneshot(anon).await.expect("r")), StatusCode::UNAUTHORIZED);
    e.stop().await;
}

/// The `data:` lines of the first `n` dispatch events of a stream.
async fn events(app: axum::Router, token: &str, hub: &SseHub, n: usize) -> Vec<String> {
    let req = Request::get("/api/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let resp = app.oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    for (target, payload) in [("ms-500112002002", "other"), ("ms-500112002001", "mine"), ("grid:g-1", "grid")] {
        hub.send(SseItem { recipient: Recipient::from_target(target), payload: payload.into() });
    }
    let mut text = String::new();
    let mut got = Vec::new();
    while got.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("an event in time");
        text.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").expect("chunk")));
        got = text.lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_owned).collect();
    }
    got
}

#[tokio::test]
async fn the_event_stream_shows_a_station_its_own_notifications_and_a_dispatcher_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = SseHub::default();
    let (e, app) = app(dir.path(), Availability::default(), hub.clone());
    assert_eq!(events(app.clone(), "station-0123456789abcdef", &hub, 1).await, vec!["mine"]);
    assert_eq!(events(app, "dispatch-0123456789abcdef", &hub, 3).await, vec!["other", "mine", "grid"]);
    e.stop().await;
}

#[tokio::test]
async fn a_station_marked_busy_through_one_instance_is_busy_for_the_other_on_a_shared_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::TestStore::postgres().await;
    let (a, b) = (common::start_on(&store, |_| {}), common::start_on(&store, |_| {}));
    let avail_a = Availability::for_engine(&a.handle).expect("a's availability");
    let avail_b = Availability::for_engine(&b.handle).expect("b's availability");
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(avail_a.clone().follow(stop.clone()));
    let tokens = TokenSet::parse(Path::new("tokens.csv"), TOKENS).expect("tokens");
    let registry = dispatch_fixture::registry(dir.path());
    let parts = HttpParts {
        engine: b.handle.clone(),
        tokens: tokens.into(),
        registry,
        availability: avail_b,
        events: SseHub::default(),
    };
    let r = router(parts).oneshot(post("admin-0123456789abcdef", "ms-500112002001", r#"{"status":"busy"}"#)).await;
    assert_eq!(r.expect("response").status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while avail_a.get("ms-500112002001") != Some(StationStatus::Busy) {
        assert!(tokio::time::Instant::now() < deadline, "instance a never saw the station busy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A third instance starting now loads it before it routes anything.
    let c = common::start_on(&store, |_| {});
    assert_eq!(Availability::for_engine(&c.handle).expect("c").get("ms-500112002001"), Some(StationStatus::Busy));
    stop.cancel();
    for e in [a, b, c] {
        e.stop().await;
    }
}
