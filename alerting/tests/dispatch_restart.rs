//! Escalation timers are durable: the planner's state is written with each change of the
//! incident, so an engine restarted before a deadline still escalates at it (real clock, a 1 s
//! acknowledgement timeout); so is an incident's being unroutable. The outbox keeps pending,
//! delivered and abandoned rows apart, also in a file of the previous schema.

mod common;
mod dispatch_fixture;

use std::time::Duration;

use common::*;
use firegrid_alerting::dispatch::Availability;
use firegrid_alerting::dispatch::DispatchPlanner;
use firegrid_alerting::dispatch::{DispatchConfig, DispatchSettings};
use firegrid_alerting::incident::Channel;
use firegrid_alerting::store::{blocking, IncidentStore};
use firegrid_alerting::AlertingConfig;
use firegrid_ingest::{now_ms, Device, Kind, SharedRegistry, SiteType, Tier};

fn start_dispatching(store: &TestStore, reg: &SharedRegistry, settings: &DispatchSettings) -> Running {
    let backend = store.backend();
    start_backend(&backend, AlertingConfig::default(), reg.clone(), |engine| {
        let d = DispatchPlanner::open_on(
            reg.clone(),
            Availability::default(),
            settings.clone(),
            &backend,
            &firegrid_alerting::partition::Scope::all(),
        )
        .expect("planner resumes");
        engine.set_dispatcher(d);
    })
}

/// Opens `store` (on a thread of its own: a PostgreSQL store blocks) and runs `f` on it.
fn with_store<T: Send>(store: &TestStore, f: impl FnOnce(&mut IncidentStore) -> T + Send) -> T {
    let backend = store.backend();
    blocking(move || Ok(f(&mut IncidentStore::open_backend(&backend)?))).expect("store")
}

/// `(target, role)` of the MQTT rows not yet delivered.
fn pending(store: &TestStore) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = with_store(store, |s| s.due_outbox(i64::MAX, 100))
        .expect("outbox")
        .into_iter()
        .filter(|o| o.channel == Channel::Mqtt)
        .map(|o| {
            let round = o.idempotency_key.rsplit(':').next().unwrap_or("").to_owned();
            (o.recipient.target(), o.role.as_str().to_owned(), round)
        })
        .collect();
    rows.sort();
    rows
}

on_both_stores!(
    an_escalation_due_after_a_restart_still_fires,
    delivered_outbox_rows_are_pruned_after_their_retention_and_pending_ones_never,
    an_unroutable_incident_survives_a_restart_and_is_routed_at_start_once_a_station_is_back,
);

async fn an_escalation_due_after_a_restart_still_fires(data: TestStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dispatch_fixture::registry(dir.path());
    const ACK_TIMEOUT_SECONDS: u64 = 1;
    let settings = DispatchConfig { ack_timeout_seconds: ACK_TIMEOUT_SECONDS, ..DispatchConfig::default() }
        .validate()
        .expect("valid");

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

    // Down past the deadline (the first round's ack timeout, counted from its notification, by
    // the clock the store's timestamps use); on restart the next tick escalates to the next
    // micro station.
    let notified =
        with_store(&data, |s| s.due_outbox(i64::MAX, 10)).expect("due").iter().map(|o| o.created_at_ms).max();
    let due = notified.expect("the first round is in the outbox") + 1000 * ACK_TIMEOUT_SECONDS as i64;
    while now_ms() <= due {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

async fn delivered_outbox_rows_are_pruned_after_their_retention_and_pending_ones_never(ts: TestStore) {
    with_store(&ts, prune_rows);
}

fn prune_rows(store: &mut IncidentStore) {
    use firegrid_alerting::incident::Outcome;
    use firegrid_alerting::incident::{NotifyRole, OutboxEntry, Recipient, RecipientTier};
    let row = |key: &str| OutboxEntry {
        idempotency_key: key.into(),
        incident_id: "INC-1".into(),
        recipient: Recipient::Station("ms-1".into()),
        role: NotifyRole::Respond,
        channel: Channel::Mqtt,
        tier: Some(RecipientTier::Station(Tier::Micro)),
        seq: 1,
        received_at_ms: None,
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

async fn an_unroutable_incident_survives_a_restart_and_is_routed_at_start_once_a_station_is_back(data: TestStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dispatch_fixture::registry_from(
        dir.path(),
        &dispatch_fixture::STATIONS.replace(",true,", ",false,"),
        dispatch_fixture::GRIDS,
    );
    let settings = DispatchSettings::default();
    let mut first = start_dispatching(&data, &reg, &settings);
    // A household of 五星路 without a grid manager: with every station off duty nobody can be told.
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let d =
        std::sync::Arc::new(firegrid_ingest::DeviceRecord::from(Device { grid_id: String::new(), ..d.to_device() }));
    let line = first.line_after(smoke_alarm(&d, now_ms(), Some(1))).await;
    assert!(line.contains("event=\"opened\""), "{line}");
    first.stop().await;
    assert!(pending(&data).is_empty(), "nobody was notified");
    let unroutable = with_store(&data, |s| s.unroutable()).expect("query");
    assert_eq!(unroutable.len(), 1, "{unroutable:?}");

    // The micro station is back in the registry while firegrid was down: the first tick routes the incident.
    std::fs::write(dir.path().join("stations.csv"), dispatch_fixture::STATIONS).expect("stations.csv");
    reg.reload().expect("reload");
    let second = start_dispatching(&data, &reg, &settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = pending(&data);
        if !rows.is_empty() {
            assert!(rows.iter().all(|r| r.1 == "respond" && r.2 == "1/mqtt"), "the first round: {rows:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not routed after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(with_store(&data, |s| s.unroutable()).expect("query").is_empty());
    second.stop().await;
}

/// The outbox table and version of the previous schema (before `abandoned_at_ms`).
const SCHEMA_1: &str = "
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at_ms INTEGER,
    last_error TEXT
);
INSERT INTO outbox (idempotency_key, incident_id, target, role, channel, payload, created_at_ms, next_attempt_ms,
    attempts, last_error)
VALUES ('old/webhook', 'INC-1', 'ms-1', 'respond', 'webhook', '{\"tier\":\"micro\"}', 1000, 1000, 3, 'HTTP 500'),
       ('old/mqtt', 'INC-1', 'ms-1', 'respond', 'mqtt', '{}', 1000, 1000, 0, NULL);
PRAGMA user_version = 1;
";

#[test]
fn an_outbox_of_the_previous_schema_is_migrated_and_abandoned_webhooks_are_never_sent_again() {
    use firegrid_alerting::incident::Outcome;
    use firegrid_alerting::incident::{Class, Severity, Status};
    use firegrid_alerting::incident::{NotifyRole, OutboxEntry, Recipient, RecipientTier};
    use firegrid_alerting::store::AbandonReason;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let old = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir.path())).expect("sqlite");
        old.execute_batch(SCHEMA_1).expect("schema 1");
    }
    let mut store = IncidentStore::open(dir.path()).expect("the old file opens");
    let version: i64 = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir.path()))
        .expect("sqlite")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 4);

    // A webhook of a closed incident, enqueued just now.
    let mut closed = dispatch_fixture::incident(Class::Fire, Severity::High, "500112002", "", "", None);
    closed.id = "INC-2".into();
    closed.status = Status::Resolved;
    let fresh = OutboxEntry {
        idempotency_key: "fresh/webhook".into(),
        incident_id: "INC-2".into(),
        recipient: Recipient::Station("ms-1".into()),
        role: NotifyRole::Respond,
        channel: Channel::Webhook,
        tier: Some(RecipientTier::Station(Tier::Micro)),
        seq: 1,
        received_at_ms: None,
        payload: "{}".into(),
        created_at_ms: 9_000,
        next_attempt_ms: 9_000,
        attempts: 0,
    };
    store.write(&Outcome { incidents: vec![closed], outbox: vec![fresh], ..Outcome::default() }).expect("write");

    let found: Vec<(String, AbandonReason)> =
        store.webhooks_to_abandon(5_000).expect("query").into_iter().map(|a| (a.idempotency_key, a.reason)).collect();
    assert_eq!(
        found,
        vec![("old/webhook".into(), AbandonReason::MaxAge), ("fresh/webhook".into(), AbandonReason::IncidentClosed)]
    );
    assert_eq!(store.mark_abandoned(&found, 10_000).expect("mark"), 2);
    let due: Vec<String> =
        store.due_outbox(i64::MAX, 10).expect("due").into_iter().map(|o| o.idempotency_key).collect();
    assert_eq!(due, vec!["old/mqtt"], "abandoned rows are never due again; MQTT is never abandoned");
    store.mark_failed("old/webhook", 20_000, "HTTP 500").expect("failed");
    assert_eq!(
        store.mark_delivered_many(&["old/webhook".into()], 20_000).expect("mark"),
        0,
        "abandoned stays abandoned"
    );

    let (rows, _) = store.dispatch_log("INC-1").expect("log");
    let webhook = rows.iter().find(|r| r.entry.channel == Channel::Webhook).expect("webhook row");
    assert_eq!((webhook.state(), webhook.abandoned_at_ms, webhook.delivered_at_ms), ("abandoned", Some(10_000), None));
    assert_eq!(
        webhook.last_error.as_deref(),
        Some("abandoned: not delivered within dispatch.webhook_max_age_seconds; last attempt: HTTP 500")
    );
    assert!(store.webhooks_to_abandon(i64::MAX).expect("query").is_empty(), "each row is abandoned once");
    assert_eq!(store.prune_delivered(10_001).expect("prune"), 2, "abandoned rows are pruned like delivered ones");
}

/// An outbox of schema version 3: every column but the typed tier, round and receipt time.
const SCHEMA_3: &str = "
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at_ms INTEGER,
    last_error TEXT,
    abandoned_at_ms INTEGER
);
INSERT INTO outbox (idempotency_key, incident_id, target, role, channel, payload, created_at_ms, next_attempt_ms)
VALUES ('INC-1:tt-1:respond:2/mqtt', 'INC-1', 'tt-1', 'respond', 'mqtt',
        '{\"seq\":2,\"tier\":\"township_team\",\"received_at\":1234}', 1000, 1000),
       ('INC-1:grid:g-1:verify:1/webhook', 'INC-1', 'grid:g-1', 'verify', 'webhook',
        '{\"seq\":1,\"tier\":\"grid\",\"received_at\":null}', 1000, 1000),
       ('old/sse', 'INC-1', 'ms-1', 'respond', 'sse', 'not json', 1000, 1000);
PRAGMA user_version = 3;
";

#[test]
fn outbox_rows_of_schema_3_get_their_recipient_tier_round_and_receipt_time_from_their_message() {
    use firegrid_alerting::incident::{NotifyRole, Recipient, RecipientTier};
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let old = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir.path())).expect("sqlite");
        old.execute_batch(SCHEMA_3).expect("schema 3");
    }
    let rows = IncidentStore::open(dir.path()).expect("the old file opens").due_outbox(i64::MAX, 10).expect("due");
    let got: Vec<_> =
        rows.iter().map(|o| (o.recipient.clone(), o.role, o.channel, o.tier, o.seq, o.received_at_ms)).collect();
    assert_eq!(
        got,
        vec![
            (
                Recipient::Station("tt-1".into()),
                NotifyRole::Respond,
                Channel::Mqtt,
                Some(RecipientTier::Station(Tier::TownshipTeam)),
                2,
                Some(1234)
            ),
            (Recipient::Grid("g-1".into()), NotifyRole::Verify, Channel::Webhook, Some(RecipientTier::Grid), 1, None),
            (Recipient::Station("ms-1".into()), NotifyRole::Respond, Channel::Sse, None, 0, None),
        ],
        "a message that does not parse leaves the defaults, as the delivery loop's parse did"
    );
    let version: i64 = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir.path()))
        .expect("sqlite")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 4);
    drop(IncidentStore::open(dir.path()).expect("a migrated file opens again"));
}
