//! The PostgreSQL incident store against a real PostgreSQL (the harness's private cluster):
//! migrations under the lock, the one-incident-per-alarm constraint under a race, and the fence.

mod common;

use std::sync::{Arc, Barrier};

use common::postgres::Postgres;
use common::*;
use firegrid_alerting::engine::AlertCore;
use firegrid_alerting::incident::{Action, Outcome, Verdict};
use firegrid_alerting::store::{blocking, Fence, IncidentStore, PgStore, PgUrl, StoreError};
use firegrid_ingest::{Kind, SiteType};

/// A new database on `pg`, as a checked URL.
fn database(pg: &Postgres) -> PgUrl {
    PgUrl::parse(&pg.create_database().expect("createdb")).expect("url")
}

/// A raw connection for checking what the store wrote.
async fn raw(url: &PgUrl) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&url_text(url), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

fn url_text(url: &PgUrl) -> String {
    // The harness's URLs carry no password, so the redacted form is the URL.
    url.redacted().to_owned()
}

/// A store at `url` written as east's leader of epoch 1: the lease row granted through `c`, the
/// store fenced by it.
async fn east_leader_of_epoch_one(url: &PgUrl, c: &tokio_postgres::Client) -> IncidentStore {
    let u = url.clone();
    let mut store =
        blocking(move || IncidentStore::open_backend(&firegrid_alerting::store::IncidentBackend::Postgres { url: u }))
            .expect("open");
    c.execute("INSERT INTO partition_leases VALUES ('east', 'a', 1, now() + interval '10 s')", &[])
        .await
        .expect("lease");
    store.set_fence(Some(Fence { partition: "east".into(), epoch: 1 }));
    store
}

/// Runs `f` on a thread of its own (store calls block, and are refused on the async runtime).
fn off<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("thread"))
}

/// Runs `f` on `n` threads released at once; returns their results in order.
fn at_once<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let (barrier, f) = (Arc::new(Barrier::new(n)), Arc::new(f));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (b, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("thread")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_migrating_at_once_both_start_and_the_schema_is_applied_once() {
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    let u = url.clone();
    let started = off(move || at_once(4, move |_| PgStore::connect(&u).map(drop)));
    for r in started {
        r.expect("every instance starts");
    }
    let c = raw(&url).await;
    let rows = c
        .query("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version", &[])
        .await
        .expect("query");
    let applied: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(applied, vec![(1, 1), (2, 1)], "each version recorded once");
    let leases = c.query("SELECT partition, holder, epoch, expires_at FROM partition_leases", &[]).await;
    assert!(leases.expect("the lease table exists").is_empty());
}

/// The outcome of a first smoke alarm of household `hh-1` through an engine core whose id
/// counter for the day starts at `counter`.
fn first_alarm(counter: u64) -> Outcome {
    let settings = Arc::new(firegrid_alerting::AlertingConfig::default().validate().expect("valid"));
    let mut core = AlertCore::new(settings);
    let d = device("SM-1", Kind::Smoke, "hh-1", SiteType::Residential, false);
    let key = "500112-20261129".to_owned();
    let _ = core.restore(Vec::new(), vec![(key, counter)], Vec::new());
    core.on_reading(&smoke_alarm(&d, T0, Some(1)), T0)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_cannot_open_an_incident_from_the_same_alarm() {
    let pg = Postgres::start().await.expect("postgres");
    for counters in [[0, 0], [0, 5]] {
        // Same id (two instances with the same counter), then different ids (the unique index).
        let url = database(&pg);
        let u = url.clone();
        let results = off(move || {
            let stores: Vec<PgStore> = (0..2).map(|_| PgStore::connect(&u).expect("connect")).collect();
            let stores = Arc::new(std::sync::Mutex::new(stores.into_iter().map(Some).collect::<Vec<_>>()));
            at_once(2, move |i| {
                let store = stores.lock().expect("lock")[i].take().expect("store");
                store.write(&first_alarm(counters[i]))
            })
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let dup = results.iter().filter(|r| matches!(r, Err(StoreError::DuplicateOpen { .. }))).count();
        assert_eq!((ok, dup), (1, 1), "counters {counters:?}: {results:?}");
        let c = raw(&url).await;
        let open: i64 = c.query_one("SELECT count(*) FROM incidents", &[]).await.expect("count").get(0);
        let audit: i64 = c.query_one("SELECT count(*) FROM audit", &[]).await.expect("count").get(0);
        assert_eq!((open, audit), (1, 1), "one incident, one opening, nothing of the loser");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_whose_fence_no_longer_holds_is_rolled_back() {
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    let c = raw(&url).await;
    let mut store = east_leader_of_epoch_one(&url, &c).await;
    let (store, first) = off(move || {
        let r = store.write(&first_alarm(0));
        (store, r)
    });
    first.expect("the holder of epoch 1 writes");
    c.execute("UPDATE partition_leases SET holder = 'b', epoch = 2 WHERE partition = 'east'", &[])
        .await
        .expect("take over");
    let (_store, second) = off(move || {
        let mut store = store;
        let r = store.write(&first_alarm(7));
        (store, r)
    });
    match second {
        Err(StoreError::Fenced { partition, epoch: 1, found: Some(2) }) => assert_eq!(partition, "east"),
        other => panic!("expected a fenced write, got {other:?}"),
    }
    let n: i64 = c.query_one("SELECT count(*) FROM incidents", &[]).await.expect("count").get(0);
    assert_eq!(n, 1, "the deposed writer's incident was not written");
}

/// Inserts a forwarded `ack` of incident `id` as a posting instance does; its row id.
async fn forward_ack(c: &tokio_postgres::Client, id: &str) -> i64 {
    c.query_one(
        "INSERT INTO forwarded_actions (incident_id, county, action, actor, note, origin)
         VALUES ($1, '500112', 'ack', 'station:ms-1', '', 'http') RETURNING id",
        &[&id],
    )
    .await
    .expect("insert")
    .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forwarded_action_a_deposed_leader_claimed_is_applied_once_by_its_successor() {
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    let c = raw(&url).await;
    let backend = firegrid_alerting::store::IncidentBackend::Postgres { url: url.clone() };
    let (mut old, mut new) = off(|| {
        let open = || IncidentStore::open_backend(&backend).expect("open");
        (open(), open())
    });
    c.execute("INSERT INTO partition_leases VALUES ('east', 'a', 1, now() + interval '10 s')", &[])
        .await
        .expect("lease");
    old.set_fence(Some(Fence { partition: "east".into(), epoch: 1 }));
    new.set_fence(Some(Fence { partition: "east".into(), epoch: 2 }));
    let opened = first_alarm(0);
    let inc = opened.incidents[0].clone();
    let (old, r) = off(move || {
        let r = old.write(&opened);
        (old, r)
    });
    r.expect("the leader of epoch 1 opens the incident");

    // The ack as the owning engine applies it, answered in the same outcome.
    let settings = Arc::new(firegrid_alerting::AlertingConfig::default().validate().expect("valid"));
    let mut core = AlertCore::new(settings);
    let _ = core.restore(vec![inc.clone()], Vec::new(), Vec::new());
    let mut ack = core.act(&inc.id, Action::Ack, "station:ms-1", "", T0 + 1_000).expect("ack");
    let acked = ack.incidents[0].clone();
    let row = forward_ack(&c, &inc.id).await;
    ack.forwarded.push((row, Verdict::Applied(Box::new(acked))));

    let (mut old, claimed) = off(move || {
        let mut old = old;
        let r = old.claim_forwarded(row);
        (old, r)
    });
    assert!(claimed.expect("claim"), "the leader claims the pending row");
    let cancel = "UPDATE forwarded_actions SET state = 'cancelled' WHERE id = $1 AND state = 'pending'";
    assert_eq!(c.execute(cancel, &[&row]).await.expect("cancel"), 0, "a claimed action cannot be cancelled");

    // The leader is deposed before it commits: its answer and its change roll back together.
    c.execute("UPDATE partition_leases SET holder = 'b', epoch = 2 WHERE partition = 'east'", &[])
        .await
        .expect("take over");
    let out = ack.clone();
    let fenced = off(move || old.write(&out));
    assert!(matches!(fenced, Err(StoreError::Fenced { .. })), "{fenced:?}");
    let state = "SELECT state, claimed_epoch FROM forwarded_actions WHERE id = $1";
    let r = c.query_one(state, &[&row]).await.expect("row");
    assert_eq!((r.get::<_, String>(0), r.get::<_, Option<i64>>(1)), ("claimed".to_owned(), Some(1)));
    let acks = "SELECT count(*) FROM audit WHERE event = 'acknowledged'";
    assert_eq!(c.query_one(acks, &[]).await.expect("count").get::<_, i64>(0), 0, "no change without its answer");

    // The successor takes the unanswered row, applies it once, and cannot take it again.
    let (new, first, second) = off(move || {
        let claimed = new.claim_forwarded(row).and_then(|ok| new.write(&ack).map(|()| ok));
        let again = new.claim_forwarded(row);
        (new, claimed, again)
    });
    drop(new);
    assert!(first.expect("the successor claims and answers"), "the successor claims the claimed row");
    assert!(!second.expect("claim again"), "an answered row is never claimed again");
    let answered = "SELECT state, claimed_epoch, result_code FROM forwarded_actions WHERE id = $1";
    let r = c.query_one(answered, &[&row]).await.expect("row");
    let got: (String, Option<i64>, Option<String>) = (r.get(0), r.get(1), r.get(2));
    assert_eq!(got, ("applied".to_owned(), Some(2), Some("ok".to_owned())));
    assert_eq!(c.query_one(acks, &[]).await.expect("count").get::<_, i64>(0), 1, "acknowledged exactly once");
}

/// [`first_alarm`] with one `respond` notification of its incident in the outbox.
fn first_alarm_with_outbox() -> (Outcome, String) {
    use firegrid_alerting::incident::{Channel, NotifyRole, OutboxEntry, Recipient};
    let mut out = first_alarm(0);
    let inc = out.incidents[0].clone();
    let key = format!("{}:m-1:respond:1", inc.id);
    out.outbox.push(OutboxEntry {
        idempotency_key: key.clone(),
        incident_id: inc.id.clone(),
        recipient: Recipient::Station("m-1".into()),
        role: NotifyRole::Respond,
        channel: Channel::Mqtt,
        tier: None,
        seq: 1,
        received_at_ms: None,
        payload: inc.summary.clone(),
        created_at_ms: T0,
        next_attempt_ms: T0,
        attempts: 0,
    });
    (out, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deposed_leader_can_mark_no_outbox_row_delivered_failed_or_abandoned() {
    use firegrid_alerting::store::AbandonReason;
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    let c = raw(&url).await;
    let mut store = east_leader_of_epoch_one(&url, &c).await;
    let (out, key) = first_alarm_with_outbox();
    let (store, written) = off(move || {
        let r = store.write(&out);
        (store, r)
    });
    written.expect("the holder of epoch 1 writes");
    c.execute("UPDATE partition_leases SET holder = 'b', epoch = 2 WHERE partition = 'east'", &[])
        .await
        .expect("take over");
    let k = key.clone();
    let marks = off(move || {
        let mut store = store;
        [
            ("delivered", store.mark_delivered_many(std::slice::from_ref(&k), T0 + 1).map(drop)),
            ("failed", store.mark_failed(&k, T0 + 60_000, "timeout")),
            ("abandoned", store.mark_abandoned(&[(k.clone(), AbandonReason::MaxAge)], T0 + 2).map(drop)),
        ]
    });
    for (what, r) in marks {
        assert!(
            matches!(r, Err(StoreError::Fenced { epoch: 1, found: Some(2), .. })),
            "a deposed leader marked the row {what}: {r:?}"
        );
    }
    let row = c
        .query_one(
            "SELECT delivered_at_ms, abandoned_at_ms, attempts, last_error FROM outbox WHERE idempotency_key = $1",
            &[&key],
        )
        .await
        .expect("the row");
    let (delivered, abandoned): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
    let (attempts, error): (i64, Option<String>) = (row.get(2), row.get(3));
    assert_eq!((delivered, abandoned, attempts, error), (None, None, 0, None), "the row is as the leader left it");
}

/// A PostgreSQL server, its fresh database's direct URL, a proxy in front of it that can drop a
/// COMMIT's answer, and an engine whose store connects through that proxy.
async fn engine_behind_a_commit_answer_dropping_proxy() -> (Postgres, String, common::pg_proxy::PgFaultProxy, Running) {
    use firegrid_alerting::store::IncidentBackend;
    let pg = Postgres::start().await.expect("postgres");
    let direct = pg.create_database().expect("createdb");
    let proxy = common::pg_proxy::PgFaultProxy::start(pg.port()).await.expect("proxy");
    let url = PgUrl::parse(&proxy.url_through(&direct, pg.port())).expect("url");
    let backend = IncidentBackend::Postgres { url };
    let e = start_backend(&backend, firegrid_alerting::AlertingConfig::default(), empty_registry(), |_| {});
    (pg, direct, proxy, e)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_answer_is_lost_is_recognised_on_the_retry_and_the_engine_carries_on() {
    let (_pg, direct, proxy, mut e) = engine_behind_a_commit_answer_dropping_proxy().await;

    // The commit of the first incident reaches the server; its answer does not reach the engine.
    proxy.lose_next_commit_answer();
    let t = firegrid_ingest::now_ms();
    let first = device("sd-1", Kind::Smoke, "hh-1", SiteType::Residential, false);
    let line = e.line_after(smoke_alarm(&first, t, Some(1))).await;
    assert!(line.contains("transition=opened"), "{line}");
    assert_eq!(proxy.lost(), 1, "the commit's answer was lost");
    // The engine carries on: the next alarm opens the next incident.
    let second = device("sd-2", Kind::Smoke, "hh-2", SiteType::Residential, false);
    let line = e.line_after(smoke_alarm(&second, t + 1, Some(1))).await;
    assert!(line.contains("transition=opened"), "{line}");

    let c = raw(&PgUrl::parse(&direct).expect("url")).await;
    let n: i64 = c.query_one("SELECT count(*) FROM incidents", &[]).await.expect("count").get(0);
    let opened: i64 =
        c.query_one("SELECT count(*) FROM audit WHERE event = 'opened'", &[]).await.expect("count").get(0);
    assert_eq!((n, opened), (2, 2), "each incident stored and opened once");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_change_whose_commit_answer_was_lost_writes_its_audit_entry_once() {
    let (_pg, direct, proxy, mut e) = engine_behind_a_commit_answer_dropping_proxy().await;
    let first = device("sd-1", Kind::Smoke, "hh-1", SiteType::Residential, false);
    let line = e.line_after(smoke_alarm(&first, firegrid_ingest::now_ms(), Some(1))).await;
    assert!(line.contains("transition=opened"), "{line}");
    let c = raw(&PgUrl::parse(&direct).expect("url")).await;
    let id: String = c.query_one("SELECT id FROM incidents", &[]).await.expect("the incident").get(0);
    e.handle.record_notified(&id, vec!["ms-1".into()], vec![], vec![]).await.expect("dispatched");

    // The acknowledgement's commit reaches the server; its answer does not reach the engine,
    // which retries the change (it opens nothing: no unique key stops the second write).
    proxy.lose_next_commit_answer();
    let acked = e.handle.act(&id, Action::Ack, "station:ms-1", "出动").await.expect("the ack is answered");
    assert_eq!(acked.status, firegrid_alerting::incident::Status::Acknowledged);
    assert_eq!(proxy.lost(), 1, "the commit's answer was lost");
    let n: i64 = c
        .query_one("SELECT count(*) FROM audit WHERE incident_id = $1 AND event = 'acknowledged'", &[&id])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 1, "the acknowledgement is in the audit trail once");
    e.stop().await;
}
