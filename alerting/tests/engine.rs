//! The engine end to end inside the process: readings in, SQLite and `fire_incident` lines out,
//! metrics, and a restart that loses nothing.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use firegrid_alerting::engine::now_ms;
use firegrid_alerting::incident::{Action, AuditEntry, Event, Incident, Status};
use firegrid_alerting::outbox::{DispatchPlan, Dispatcher, OutboxEntry};
use firegrid_alerting::store::IncidentFilter;
use firegrid_ingest::reading::Kind;
use firegrid_ingest::registry::SiteType;

#[tokio::test]
async fn an_alarm_is_stored_counted_and_written_as_a_fire_incident_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
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

#[tokio::test]
async fn actions_move_the_lifecycle_and_each_transition_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
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

#[tokio::test]
async fn a_restart_keeps_incidents_evidence_audit_trail_and_correlation() {
    let dir = tempfile::tempdir().unwrap();
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let b = device("sd-b", Kind::Smoke, "h-1", SiteType::Residential, false);
    let t = now_ms();
    let mut e = start(dir.path());
    let opened = e.line_after(smoke_alarm(&a, t, Some(1))).await;
    let escalated = e.line_after(smoke_alarm(&b, t + 1000, Some(1))).await;
    assert!(escalated.contains("severity=critical") && escalated.contains("event=\"escalated\""), "{escalated}");
    let id = opened.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    e.handle.act(&id, Action::Ack, "dispatcher:duty", "crew on the way").await.unwrap();
    let before = e.handle.get(&id).await.unwrap().unwrap();
    e.stop().await;

    let mut e = start(dir.path());
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
                target: "m-1".into(),
                role: "respond".into(),
                channel: "mqtt".into(),
                payload: inc.summary.clone(),
                created_at_ms: now_ms,
                next_attempt_ms: now_ms,
                attempts: 0,
            }],
            state: None,
        }
    }
}

#[tokio::test]
async fn a_dispatcher_plan_is_persisted_with_the_transition_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start_with(dir.path(), |engine| engine.set_dispatcher(ToM1));
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let opened = e.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    let dispatched = e.next_line().await;
    assert!(opened.contains("event=\"opened\"") && opened.contains("station_id=m-1"), "{opened}");
    assert!(dispatched.contains("event=\"dispatched\""), "{dispatched}");
    let id = opened.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    e.stop().await;

    let e = start(dir.path());
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
    assert_eq!(e.metric("firegrid_incidents_open", &[("class", "hazard")]), 1.0);
    e.stop().await;
}
