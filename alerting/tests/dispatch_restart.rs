//! Escalation timers are durable: the planner's state is written with each change of the
//! incident, so an engine restarted before a deadline still escalates at it (real clock, a 1 s
//! acknowledgement timeout).

mod common;
mod dispatch_fixture;

use std::path::Path;
use std::time::Duration;

use common::*;
use firegrid_alerting::availability::Availability;
use firegrid_alerting::dispatch::Dispatch;
use firegrid_alerting::dispatch_config::{DispatchConfig, DispatchSettings};
use firegrid_alerting::engine::now_ms;
use firegrid_alerting::store::Store;
use firegrid_alerting::AlertingConfig;
use firegrid_ingest::reading::Kind;
use firegrid_ingest::registry::{SharedRegistry, SiteType};

fn start_dispatching(data: &Path, reg: &SharedRegistry, settings: &DispatchSettings) -> Running {
    start_full(data, AlertingConfig::default(), reg.clone(), |engine| {
        let d = Dispatch::open(reg.clone(), Availability::default(), settings.clone(), data).expect("planner resumes");
        engine.set_dispatcher(d);
    })
}

/// `(target, role)` of the MQTT rows not yet delivered.
fn pending(data: &Path) -> Vec<(String, String, String)> {
    let store = Store::open(data).expect("store");
    let mut rows: Vec<_> = store
        .due_outbox(i64::MAX, 100)
        .expect("outbox")
        .into_iter()
        .filter(|o| o.channel == "mqtt")
        .map(|o| (o.target, o.role, o.idempotency_key.rsplit(':').next().unwrap_or("").to_owned()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_due_after_a_restart_still_fires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let reg = dispatch_fixture::registry(dir.path());
    let settings = DispatchConfig { ack_timeout_seconds: 1, ..DispatchConfig::default() }.validate().expect("valid");

    let mut first = start_dispatching(&data, &reg, &settings);
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let line = first.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    assert!(line.contains("event=\"opened\""), "{line}");
    first.stop().await;
    let want_first = vec![
        ("grid:g-1".to_owned(), "verify".to_owned(), "1/mqtt".to_owned()),
        ("ms-500112002001".to_owned(), "respond".to_owned(), "1/mqtt".to_owned()),
    ];
    assert_eq!(pending(&data), want_first, "notified at opening, nothing delivered (no delivery loop here)");

    // Down past the deadline; on restart the next tick escalates to the next micro station.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = start_dispatching(&data, &reg, &settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = pending(&data);
        if rows.iter().any(|r| r.0 == "ms-500112002002") {
            assert!(rows.contains(&("ms-500112002002".into(), "respond".into(), "2/mqtt".into())), "{rows:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no escalation after the restart: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.stop().await;
}

#[test]
fn delivered_outbox_rows_are_pruned_after_their_retention_and_pending_ones_never() {
    use firegrid_alerting::correlate::Outcome;
    use firegrid_alerting::outbox::OutboxEntry;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    let row = |key: &str| OutboxEntry {
        idempotency_key: key.into(),
        incident_id: "INC-1".into(),
        target: "ms-1".into(),
        role: "respond".into(),
        channel: "mqtt".into(),
        payload: "{}".into(),
        created_at_ms: 1_000,
        next_attempt_ms: 1_000,
        attempts: 0,
    };
    let out = Outcome { outbox: vec![row("a/mqtt"), row("b/mqtt"), row("c/mqtt")], ..Outcome::default() };
    store.write(&out).expect("write");
    store.mark_delivered_many(&["a/mqtt".into()], 2_000).expect("mark");
    store.mark_delivered_many(&["b/mqtt".into()], 9_000).expect("mark");
    assert_eq!(store.prune_delivered(5_000).expect("prune"), 1);
    let left: Vec<String> =
        store.due_outbox(i64::MAX, 10).expect("due").into_iter().map(|o| o.idempotency_key).collect();
    assert_eq!(left, vec!["c/mqtt"], "the pending row stays");
    assert_eq!(
        store.prune_delivered(i64::MAX).expect("prune"),
        1,
        "b, delivered at 9 000, goes once past its retention"
    );
}
