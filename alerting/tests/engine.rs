//! The engine end to end inside the process: readings in, SQLite and `fire_incident` lines out,
//! metrics, and a restart that loses nothing.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use firegrid_alerting::engine::{DispatchPlan, Dispatcher};
use firegrid_alerting::incident::{Action, AuditEntry, Event, Incident, Status};
use firegrid_alerting::incident::{Channel, NotifyRole, OutboxEntry, Recipient};
use firegrid_alerting::store::IncidentFilter;
use firegrid_ingest::{now_ms, Kind, SiteType};

on_both_stores!(
    an_alarm_is_stored_counted_and_written_as_a_fire_incident_line,
    actions_move_the_lifecycle_and_each_transition_is_one_line,
    a_restart_keeps_incidents_evidence_audit_trail_and_correlation,
    a_dispatcher_plan_is_persisted_with_the_transition_and_survives_a_restart,
    a_two_reading_smoke_confirmation_split_across_a_restart_is_still_confirmed,
    an_electrical_sustain_window_split_across_a_restart_still_alarms,
    a_forest_hotspot_frame_window_split_across_a_restart_still_alarms,
    a_redelivery_after_a_restart_is_still_a_duplicate,
);

async fn an_alarm_is_stored_counted_and_written_as_a_fire_incident_line(store: TestStore) {
    let mut e = start_on(&store, |_| {});
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let t = now_ms();
    let line = e.line_after(smoke_alarm(&d, t, Some(1))).await;
    assert!(
        line.starts_with(
            "fire_incident,class=fire,severity=high,county=500112,township=500112002,transition=opened incident_id=\"INC-500112-"
        ),
        "{line}"
    );
    assert!(line.contains(",event=\"opened\",status=\"open\",summary=\""), "{line}");
    let list = e.handle.list(IncidentFilter::default()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(e.metric("firegrid_incidents_opened_total", &[("class", "fire"), ("severity", "high")]), 1.0);
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "fire")]), 1.0);
    assert_eq!(e.metric("firegrid_devices_offline", &[]), 0.0);
    e.stop().await;
}

async fn actions_move_the_lifecycle_and_each_transition_is_one_line(store: TestStore) {
    let mut e = start_on(&store, |_| {});
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let line = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let id = line.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let inc = e.handle.record_notified(&id, vec!["m-1".into()], vec!["g-1".into()], vec![]).await.unwrap();
    assert_eq!(inc.status, Status::Dispatched);
    let line = e.next_line().await;
    assert!(line.contains("station_id=m-1,transition=dispatched ") && line.contains("event=\"dispatched\""), "{line}");
    for (action, event) in [(Action::Ack, "acknowledged"), (Action::OnScene, "on_scene"), (Action::Resolve, "resolved")]
    {
        e.handle.act(&id, action, "station:m-1", "").await.unwrap();
        let line = e.next_line().await;
        assert!(line.contains(&format!("event=\"{event}\"")), "{line}");
    }
    let err = e.handle.act(&id, Action::Ack, "station:m-1", "").await.unwrap_err().to_string();
    assert!(err.contains("is resolved: cannot ack"), "{err}");
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "fire")]), 0.0);
    e.stop().await;
}

async fn a_restart_keeps_incidents_evidence_audit_trail_and_correlation(store: TestStore) {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let b = device("sd-b", Kind::Smoke, "h-1", SiteType::Residential, false);
    let t = now_ms();
    let mut e = start_on(&store, |_| {});
    let opened = e.line_after(smoke_alarm(&a, t, Some(1))).await;
    let escalated = e.line_after(smoke_alarm(&b, t + 1000, Some(1))).await;
    assert!(escalated.contains("severity=critical") && escalated.contains("event=\"escalated\""), "{escalated}");
    let id = opened.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    e.handle.act(&id, Action::Ack, "dispatcher:duty", "crew on the way").await.unwrap();
    let before = e.handle.get(&id).await.unwrap().unwrap();
    e.stop().await;

    let mut e = start_on(&store, |_| {});
    let after = e.handle.get(&id).await.unwrap().unwrap();
    assert_eq!(after, before);
    assert_eq!(after.incident.status, Status::Acknowledged);
    assert_eq!(after.evidence.len(), 2);
    let events: Vec<Event> = after.audit.iter().map(|x| x.event).collect();
    assert_eq!(events, [Event::Opened, Event::Escalated, Event::Acknowledged]);
    assert_eq!(after.audit[2].note, "crew on the way");
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "fire")]), 1.0);

    // The household's next alarm joins the resumed incident: evidence, no second incident.
    e.readings.send(smoke_alarm(&a, t + 5000, Some(2))).await.unwrap();
    let mut evidence = 0;
    for _ in 0..100 {
        evidence = e.handle.get(&id).await.unwrap().unwrap().evidence.len();
        if evidence == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(evidence, 3);
    e.handle.act(&id, Action::OnScene, "dispatcher:duty", "").await.unwrap();
    let line = e.next_line().await;
    assert!(line.contains("event=\"on_scene\""), "no opened line came first: {line}");
    assert_eq!(e.handle.list(IncidentFilter::default()).await.unwrap().len(), 1);
    // A new incident after the restart does not reuse a number.
    let c = device("sd-c", Kind::Smoke, "h-2", SiteType::Residential, false);
    let line = e.line_after(smoke_alarm(&c, t + 6000, Some(1))).await;
    assert!(!line.contains(&format!("incident_id=\"{id}\"")), "{line}");
    e.stop().await;
}

/// A stand-in for the dispatch stage: every opened fire goes to station m-1 and grid g-1.
struct ToM1;

impl Dispatcher for ToM1 {
    fn plan(&mut self, t: &AuditEntry, inc: &Incident, now_ms: i64) -> DispatchPlan {
        if t.event != Event::Opened {
            return DispatchPlan::default();
        }
        DispatchPlan {
            stations: vec!["m-1".into()],
            grids: vec!["g-1".into()],
            outbox: vec![OutboxEntry {
                idempotency_key: format!("{}:m-1:respond:1", inc.id),
                incident_id: inc.id.clone(),
                recipient: Recipient::Station("m-1".into()),
                role: NotifyRole::Respond,
                channel: Channel::Mqtt,
                tier: None,
                seq: 1,
                received_at_ms: None,
                payload: inc.summary.clone(),
                created_at_ms: now_ms,
                next_attempt_ms: now_ms,
                attempts: 0,
            }],
            state: None,
        }
    }
}

async fn a_dispatcher_plan_is_persisted_with_the_transition_and_survives_a_restart(store: TestStore) {
    let mut e = start_on(&store, |engine| engine.set_dispatcher(ToM1));
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let opened = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let dispatched = e.next_line().await;
    assert!(opened.contains("event=\"opened\"") && opened.contains("station_id=m-1"), "{opened}");
    assert!(dispatched.contains("event=\"dispatched\""), "{dispatched}");
    let id = opened.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    e.stop().await;

    let e = start_on(&store, |_| {});
    let rec = e.handle.get(&id).await.unwrap().unwrap();
    assert_eq!(rec.incident.status, Status::Dispatched);
    assert_eq!(rec.incident.notified_stations, ["m-1"]);
    let due = e.handle.due_outbox(now_ms(), 10).await.unwrap();
    assert_eq!(due.len(), 1, "the pending notification survived the restart");
    assert!(e.handle.outbox_delivered(&due[0].idempotency_key, now_ms()).await.unwrap());
    assert!(!e.handle.outbox_delivered(&due[0].idempotency_key, now_ms()).await.unwrap());
    assert!(e.handle.due_outbox(now_ms(), 10).await.unwrap().is_empty());
    e.stop().await;
}

#[tokio::test]
async fn a_registered_device_that_never_reports_is_offline_once_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with(dir.path(), &[("sd-quiet", "smoke"), ("sd-talk", "smoke")]);
    let mut config = firegrid_alerting::AlertingConfig::default();
    config.smoke.expected_interval_seconds = 1;
    config.smoke.offline_after_intervals = 1;
    config.engine.tick_ms = 50;
    let mut e = start_full(&dir.path().join("data"), config, registry, |_| {});
    let talk = device("sd-talk", Kind::Smoke, "", SiteType::Residential, false);
    let started = std::time::Instant::now();
    let mut hazards = Vec::new();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        e.readings.send(smoke(&talk, now_ms(), 0.01)).await.unwrap();
        if let Ok(Some(line)) = tokio::time::timeout(std::time::Duration::from_millis(100), e.lines.recv()).await {
            hazards.push(line);
        }
    }
    assert_eq!(hazards.len(), 1, "{hazards:?}");
    assert!(hazards[0].starts_with("fire_incident,class=hazard,severity=low,"), "{}", hazards[0]);
    assert!(hazards[0].contains("sd-quiet"), "{}", hazards[0]);
    assert_eq!(e.metric("firegrid_devices_offline", &[]), 1.0);
    let township = [("county", "500112"), ("township", "500112002")];
    assert_eq!(e.metric("firegrid_township_devices_offline", &township), 1.0, "counted in its township");
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "hazard")]), 1.0);
    e.stop().await;
}

/// Feeds `first` to an engine on `dir`, stops it (the reading is committed at shutdown), starts
/// a new engine on the same directory and returns the line `second` produces there, if any
/// within 2 s.
async fn split_across_a_restart(
    store: &TestStore,
    first: Vec<firegrid_ingest::EnrichedReading>,
    second: firegrid_ingest::EnrichedReading,
) -> Option<String> {
    let e = start_on(store, |_| {});
    for r in first {
        e.readings.send(r).await.unwrap();
    }
    // The readings reach the engine's queue before the stop (it evaluates what is queued then).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while e.readings.capacity() < e.readings.max_capacity() {
        assert!(tokio::time::Instant::now() < deadline, "the engine never took the readings");
        tokio::task::yield_now().await;
    }
    tokio::task::yield_now().await;
    let mut lines = e.stop().await;
    assert!(lines.try_recv().is_err(), "nothing was raised before the restart");
    let mut e = start_on(store, |_| {});
    e.readings.send(second).await.unwrap();
    let line = tokio::time::timeout(std::time::Duration::from_secs(2), e.lines.recv()).await.ok().flatten();
    e.stop().await;
    line
}

async fn a_two_reading_smoke_confirmation_split_across_a_restart_is_still_confirmed(store: TestStore) {
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let t = now_ms();
    let line = split_across_a_restart(&store, vec![smoke(&d, t, 0.3)], smoke(&d, t + 10_000, 0.35)).await;
    let line = line.expect("the second smoke reading after the restart confirms the alarm");
    assert!(line.starts_with("fire_incident,class=fire,severity=high,") && line.contains("opened"), "{line}");
}

async fn an_electrical_sustain_window_split_across_a_restart_still_alarms(store: TestStore) {
    let d = device("em-1", Kind::Electrical, "h-2", SiteType::Residential, false);
    let t = now_ms();
    let first = vec![electrical(&d, t, 350.0, 30.0), electrical(&d, t + 10_000, 360.0, 30.0)];
    let line = split_across_a_restart(&store, first, electrical(&d, t + 31_000, 355.0, 30.0)).await;
    let line = line.expect("31 s over 300 mA across the restart is an electrical fire");
    assert!(line.starts_with("fire_incident,class=electrical_fire,"), "{line}");
}

async fn a_forest_hotspot_frame_window_split_across_a_restart_still_alarms(store: TestStore) {
    let d = device("fr-1", Kind::ForestIr, "", SiteType::Forest, false);
    let t = now_ms();
    let line =
        split_across_a_restart(&store, vec![forest(&d, t, 140.0, 12, None)], forest(&d, t + 20_000, 150.0, 20, None))
            .await;
    let line = line.expect("the second hotspot frame within 60 s after the restart is a forest fire");
    assert!(line.starts_with("fire_incident,class=forest_fire,"), "{line}");
}

async fn a_redelivery_after_a_restart_is_still_a_duplicate(store: TestStore) {
    // The reading was committed but its acknowledgement never reached the broker: it comes again.
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut steam = smoke(&d, now_ms(), 0.3);
    steam.reading.seq = Some(77);
    let line = split_across_a_restart(&store, vec![steam.clone()], steam).await;
    assert_eq!(line, None, "one smoke reading delivered twice is still one reading, not two in a row");
}

#[tokio::test]
async fn rule_state_rows_follow_the_devices_state_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let b = device("sd-b", Kind::Smoke, "h-2", SiteType::Residential, false);
    let e = start(dir.path());
    let t = now_ms();
    for i in 0..50 {
        e.readings.send(smoke(&a, t + i * 1000, 0.01)).await.unwrap();
    }
    e.readings.send(smoke(&b, t, 0.3)).await.unwrap();
    e.stop().await;
    let store = firegrid_alerting::store::IncidentStore::open(dir.path()).unwrap();
    let rows = store.rule_states().unwrap();
    assert_eq!(rows.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["sd-b"], "only the device under way");
    drop(store);
    let e = start(dir.path());
    e.readings.send(smoke(&b, t + 10_000, 0.01)).await.unwrap();
    e.stop().await;
    let store = firegrid_alerting::store::IncidentStore::open(dir.path()).unwrap();
    assert!(store.rule_states().unwrap().is_empty(), "back to default: the row is gone");
}

/// The schema of an incidents.sqlite3 written before rule state was persisted (user_version 1).
const SCHEMA_V1: &str = "
CREATE TABLE incidents (id TEXT PRIMARY KEY, status TEXT NOT NULL, class TEXT NOT NULL, severity TEXT NOT NULL,
    county TEXT NOT NULL, township TEXT NOT NULL, opened_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX incidents_status ON incidents(status);
CREATE INDEX incidents_opened ON incidents(opened_at_ms);
CREATE TABLE evidence (id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, device_id TEXT NOT NULL, kind TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, received_at_ms INTEGER NOT NULL, seq INTEGER, status TEXT NOT NULL, reason TEXT NOT NULL,
    values_json TEXT NOT NULL, UNIQUE (incident_id, device_id, ts_ms, reason));
CREATE TABLE audit (id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, at_ms INTEGER NOT NULL, event TEXT NOT NULL,
    from_status TEXT, to_status TEXT NOT NULL, severity TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL);
CREATE INDEX audit_incident ON audit(incident_id);
CREATE TABLE id_counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, incident_id TEXT NOT NULL,
    target TEXT NOT NULL, role TEXT NOT NULL, channel TEXT NOT NULL, payload TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at_ms INTEGER, last_error TEXT);
CREATE INDEX outbox_pending ON outbox(delivered_at_ms, next_attempt_ms);
CREATE TABLE dispatch_state (incident_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
PRAGMA user_version = 1;
";

#[tokio::test]
async fn an_incident_store_of_schema_version_1_opens_and_its_incidents_resume() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_ms();
    // An open fire as version 1 wrote it: no `verification` in the document.
    let doc = serde_json::json!({
        "id": "INC-500112-20261129-0001", "class": "fire", "severity": "high", "status": "dispatched",
        "correlation_key": "hh:h-1", "county": "500112", "township": "500112002", "community": "500112002003",
        "grid_id": "g-1", "household_id": "h-1", "address": "五星路", "site_type": "residential",
        "vulnerable": false, "lat": 29.72, "lon": 106.63, "devices": ["sd-a"], "alarm_devices": ["sd-a"],
        "sounding_devices": ["sd-a"], "signals": ["smoke"], "confirmed": null, "silenced": false,
        "opened_at_ms": t, "updated_at_ms": t, "first_alarm_ms": t, "last_alarm_ms": t, "evidence_count": 1,
        "notified_stations": ["m-1"], "notified_grids": [], "summary": "fire high"
    });
    {
        let conn = rusqlite::Connection::open(dir.path().join("incidents.sqlite3")).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute(
            "INSERT INTO incidents VALUES ('INC-500112-20261129-0001', 'dispatched', 'fire', 'high', '500112',
             '500112002', ?1, ?1, ?2)",
            rusqlite::params![t, doc.to_string()],
        )
        .unwrap();
    }
    let mut e = start(dir.path());
    let rec = e.handle.get("INC-500112-20261129-0001").await.unwrap().expect("the old incident is there");
    assert_eq!(rec.incident.verification, None);
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "fire")]), 1.0);
    // The household's next alarm joins it, and rule state is written to the new table.
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    e.readings.send(smoke(&a, t + 1000, 0.3)).await.unwrap();
    e.readings.send(smoke_alarm(&a, t + 2000, Some(5))).await.unwrap();
    e.handle.act("INC-500112-20261129-0001", Action::Ack, "dispatcher:duty", "").await.unwrap();
    let line = e.next_line().await;
    assert!(line.contains("event=\"acknowledged\""), "{line}");
    e.stop().await;
    let conn = rusqlite::Connection::open(dir.path().join("incidents.sqlite3")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 4);
    let evidence: i64 = conn.query_row("SELECT count(*) FROM evidence", [], |r| r.get(0)).unwrap();
    assert_eq!(evidence, 1, "the alarm joined the resumed incident");
}
