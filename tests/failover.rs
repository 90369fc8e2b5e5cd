//! Alert partitions fail over (DESIGN §9, docs/guarantees.md): two `alert` instances of one
//! partition on a real PostgreSQL, mosquitto and VictoriaMetrics — exactly one leads; when it
//! is SIGKILLed the standby takes over within 10 s, resumes the state from the shared store
//! and dispatches, with no incident lost or opened twice and no idempotency key sent twice;
//! a leader paused with SIGSTOP past its lease sends and changes nothing when it wakes, and
//! steps down.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use support::dispatch::{alarm, devices, grids, incident_ids, outbox_settled, stations, write_registry, DISPATCHER};
use support::partition::{self, leader, leading};
use support::postgres::Postgres;
use support::process::Firegrid;
use support::watch::DispatchWatch;
use support::{Mosquitto, VictoriaMetrics};

/// Five seconds, as deployed: a standby takes over within about six.
const LEASE_MS: u64 = 5_000;
/// The micro station that covers the fixtures' households.
const MICRO: &str = "/ms-500112002001";

/// The servers and the partition's config file.
struct Bench {
    _pg: Postgres,
    mqtt: Mosquitto,
    _vm: VictoriaMetrics,
    config: std::path::PathBuf,
    /// A second partition, `west` (county 500113, no devices), on the same store.
    west: std::path::PathBuf,
}

async fn bench(dir: &Path) -> Result<Bench> {
    bench_with(dir, "").await
}

/// [`bench`] with `dispatch` as the config's `[dispatch]` section.
async fn bench_with(dir: &Path, dispatch: &str) -> Result<Bench> {
    let pg = Postgres::start().await?;
    let url = pg.create_database()?;
    let mqtt = Mosquitto::start().await?;
    let vm = VictoriaMetrics::start().await?;
    let reg = write_registry(dir, &devices(), &stations(""), &grids(""))?;
    let config = support::dispatch::write_config(dir, &mqtt.url(), &vm.url(), &reg, dispatch)?;
    let east = partition::partition_config(&config, &url, (partition::PARTITION, partition::COUNTY), LEASE_MS)?;
    let west = partition::partition_config(&config, &url, ("west", "500113"), LEASE_MS)?;
    Ok(Bench { _pg: pg, mqtt, _vm: vm, config: east, west })
}

/// Both instances started; the leader first.
async fn pair(dir: &Path, b: &Bench) -> Result<(Firegrid, Firegrid)> {
    let a = partition::start_alert(dir, &b.config, "alert-a").await?;
    let c = partition::start_alert(dir, &b.config, "alert-b").await?;
    let first = leader(&[&a, &c], Duration::from_secs(20))
        .await
        .with_context(|| format!("logs:\n{}\n----\n{}", a.log_tail(), c.log_tail()))?;
    Ok(if first == 0 { (a, c) } else { (c, a) })
}

fn base(f: &Firegrid) -> String {
    format!("http://127.0.0.1:{}", f.http_port)
}

/// Publishes an alarm of `device` and waits until its incident's micro station was notified
/// and the leader's outbox is settled; the incident ids then.
async fn fire(b: &Bench, watch: &mut DispatchWatch, leader: &Firegrid, device: &str) -> Result<Vec<String>> {
    let before = watch.seen.len();
    support::publish::publish_all(b.mqtt.port(), "failover-sensor", vec![alarm(device, 1)]).await?;
    dispatched(watch, before, leader).await
}

/// Waits until a message to the micro station arrived past the first `before` and `leader`'s
/// outbox is settled; the incident ids then.
async fn dispatched(watch: &mut DispatchWatch, before: usize, leader: &Firegrid) -> Result<Vec<String>> {
    watch
        .until(Duration::from_secs(30), |seen| seen[before..].iter().any(|(t, _)| t.ends_with(MICRO)))
        .await
        .with_context(|| format!("the fire was not dispatched; leader log:\n{}", leader.log_tail()))?;
    let url = base(leader);
    support::eventually(Duration::from_secs(30), || async { outbox_settled(&url).await }).await?;
    incident_ids(&url).await
}

/// SIGKILLs the leader, publishes a fire at once (it waits in the partition's persistent
/// session), and measures until the standby leads and until it dispatched that fire.
async fn kill_and_fire(
    b: &Bench,
    watch: &mut DispatchWatch,
    old: &mut Firegrid,
    standby: &Firegrid,
) -> Result<(Duration, Duration, Vec<String>)> {
    let before = watch.seen.len();
    let killed = Instant::now();
    old.kill9();
    support::publish::publish_all(b.mqtt.port(), "failover-sensor", vec![alarm("sd-3", 1)]).await?;
    leader(&[standby], Duration::from_secs(10)).await.context("the standby did not take over within 10 s")?;
    let took_over = killed.elapsed();
    watch
        .until(Duration::from_secs(30), |seen| seen[before..].iter().any(|(t, _)| t.ends_with(MICRO)))
        .await
        .with_context(|| format!("no dispatch after the takeover; log:\n{}", standby.log_tail()))?;
    let first_dispatch = killed.elapsed();
    let ids = dispatched(watch, before, standby).await?;
    Ok((took_over, first_dispatch, ids))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_ten_seconds_losing_no_incident_and_sending_no_key_twice() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let b = bench(dir.path()).await?;
        let (mut old, standby) = pair(dir.path(), &b).await?;
        ensure!(!leading(&standby).await?, "two leaders");
        let api = reqwest::get(format!("{}/api/v1/incidents", base(&standby))).await?;
        // A standby serves the API read-only (DESIGN §9 "any instance"), behind a token like a leader.
        ensure!(api.status() == 401, "a standby's incident API without a token: {}", api.status());
        let mut watch = DispatchWatch::start(b.mqtt.port(), "firegrid/v1/dispatch/#").await?;

        let first = fire(&b, &mut watch, &old, "sd-1").await?;
        ensure!(first.len() == 1, "one fire, one incident: {first:?}");

        let (took_over, first_dispatch, both) = kill_and_fire(&b, &mut watch, &mut old, &standby).await?;
        eprintln!("takeover {took_over:?}; the fire published at the kill dispatched {first_dispatch:?} after it");
        ensure!(first_dispatch < Duration::from_secs(10), "first dispatch {first_dispatch:?} after the kill");
        ensure!(partition::epoch(&standby).await? == 2.0, "the new leader's epoch");

        ensure!(
            both.len() == 2 && both.contains(&first[0]),
            "incidents after the failover: {both:?} (first {first:?})"
        );
        watch.sync().await?;
        let keys = watch.per_key();
        ensure!(keys.values().all(|&n| n == 1), "a key sent twice: {keys:?}");
        ensure!(keys.len() >= 2, "{keys:?}");
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_that_wakes_after_the_takeover_sends_nothing_changes_nothing_and_steps_down() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let b = bench(dir.path()).await?;
        let (old, new) = pair(dir.path(), &b).await?;
        let mut watch = DispatchWatch::start(b.mqtt.port(), "firegrid/v1/dispatch/#").await?;
        fire(&b, &mut watch, &old, "sd-1").await?;

        let pid = old.pid().context("pid")?;
        support::process::signal(pid, "STOP")?;
        leader(&[&new], Duration::from_secs(10)).await.context("no takeover while the leader was paused")?;
        // A fire while the old leader sleeps: the new leader opens and dispatches it; the old
        // one's consumer session was taken over, and its writes would be fenced.
        let ids = fire(&b, &mut watch, &new, "sd-3").await?;
        watch.sync().await?;
        let sent_before = watch.seen.len();

        support::process::signal(pid, "CONT")?;
        support::eventually(Duration::from_secs(15), || async {
            let text = old.log_text()?;
            Ok(text.contains("partition_leader_lost").then_some(()))
        })
        .await
        .with_context(|| format!("the woken leader did not step down; log:\n{}", old.log_tail()))?;
        support::eventually(Duration::from_secs(20), || async {
            Ok(leading(&old).await.ok().filter(|l| !l).map(|_| ()))
        })
        .await
        .context("the woken leader does not report standby")?;
        ensure!(leading(&new).await?, "the new leader lost the lease to the woken one");

        watch.sync().await?;
        let after: Vec<_> = watch.seen[sent_before..].iter().filter(|(t, _)| !t.contains("/sync")).collect();
        ensure!(after.is_empty(), "the woken leader sent {after:?}");
        ensure!(incident_ids(&base(&new)).await? == ids, "the incidents changed after the wake-up");
        let keys = watch.per_key();
        ensure!(keys.values().all(|&n| n == 1), "a key sent twice: {keys:?}");
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

/// The `respond` notification's ack timeout in the escalation test: short, so that a SIGKILL
/// right after the dispatch leaves the deadline inside the leaderless window (the takeover
/// takes about six seconds) and the new leader must escalate what fell due while nobody led.
const SHORT_ACK_TIMEOUT: &str = "ack_timeout_seconds = 5";

/// The `respond` notifications of `seq` in what `watch` received.
fn responds(seen: &[(String, serde_json::Value)], seq: u64) -> Vec<&serde_json::Value> {
    seen.iter().map(|(_, v)| v).filter(|v| v["role"] == "respond" && v["seq"] == seq).collect()
}

/// The epoch ms of a message's `ack_deadline` (RFC 3339).
fn ack_deadline_ms(message: &serde_json::Value) -> Result<i64> {
    let text = message["ack_deadline"].as_str().context("no ack_deadline")?;
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// What a receiver that drops a repeated `idempotency_key` acts on: each key once, as
/// `(station_id, role, seq)`.
fn deduplicated(watch: &DispatchWatch) -> std::collections::BTreeMap<String, (String, String, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for v in watch.messages() {
        let key = v["idempotency_key"].as_str().unwrap_or("").to_owned();
        let what = (v["station_id"].as_str().unwrap_or("").to_owned(), v["role"].as_str().unwrap_or("").to_owned());
        out.entry(key).or_insert((what.0, what.1, v["seq"].as_u64().unwrap_or(0)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_falling_due_while_the_leader_is_dead_fires_once_within_ten_seconds_of_its_deadline() -> Result<()>
{
    tokio::time::timeout(Duration::from_secs(150), async {
        let dir = tempfile::tempdir()?;
        let b = bench_with(dir.path(), SHORT_ACK_TIMEOUT).await?;
        let (mut old, standby) = pair(dir.path(), &b).await?;
        // Partition B's instance on the same store: it must neither escalate nor send A's fire.
        let env = support::scale::role_env("alert", partition::CLIENT_ID, "", &dir.path().join("west-a"));
        let west = Firegrid::start(&b.west, env, &dir.path().join("west-a.log")).await?;
        let mut watch = DispatchWatch::start(b.mqtt.port(), "firegrid/v1/dispatch/#").await?;

        let ids = fire(&b, &mut watch, &old, "sd-1").await?;
        ensure!(ids.len() == 1, "one fire, one incident: {ids:?}");
        let first: Vec<serde_json::Value> = responds(&watch.seen, 1).into_iter().cloned().collect();
        let deadline = first.iter().map(ack_deadline_ms).collect::<Result<Vec<_>>>()?;
        let deadline = *deadline.iter().min().context("no respond notification")?;
        let now = firegrid_ingest::clock::now_ms();
        ensure!(now < deadline, "the dispatch settled {} ms after its own ack deadline", now - deadline);
        ensure!(responds(&watch.seen, 2).is_empty(), "escalated before the kill");

        // The respond notification waits for its ack: the leader dies.
        old.kill9();
        leader(&[&standby], Duration::from_secs(10)).await.context("the standby did not take over within 10 s")?;
        watch
            .until(Duration::from_secs(30), |seen| !responds(seen, 2).is_empty())
            .await
            .with_context(|| format!("no escalation after the takeover; log:\n{}", standby.log_tail()))?;
        let late_ms = firegrid_ingest::clock::now_ms() - deadline;
        eprintln!(
            "escalation received {late_ms} ms after its deadline, which fell {} ms after the kill",
            deadline - now
        );
        ensure!(late_ms < 10_000, "the escalation came {late_ms} ms after its deadline");

        // The escalated station acknowledges: no further round falls due.
        let id = &ids[0];
        let path = format!("/api/v1/incidents/{id}/ack");
        ensure!(support::dispatch::post(&base(&standby), DISPATCHER, &path, "{}").await?.is_success(), "ack refused");
        let url = base(&standby);
        support::eventually(Duration::from_secs(30), || async { outbox_settled(&url).await }).await?;
        watch.sync().await?;

        ensure!(incident_ids(&url).await? == ids, "incidents lost or opened twice after the failover");
        ensure!(incident_ids(&base(&west)).await? == ids, "partition B lists other incidents");
        let keys = watch.per_key();
        ensure!(keys.values().all(|&n| n == 1), "a key sent twice: {keys:?}");
        let acted = deduplicated(&watch);
        let rounds: std::collections::BTreeSet<u64> = acted.values().map(|a| a.2).collect();
        ensure!(rounds == [1, 2].into(), "notification rounds {rounds:?}: {acted:?}");
        let escalated: Vec<_> = acted.values().filter(|a| a.2 == 2).collect();
        ensure!(
            escalated.iter().all(|a| a.1 == "respond" && first.iter().all(|f| f["station_id"] != a.0.as_str())),
            "the escalation went to a station already told: {acted:?}"
        );
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

/// Takeover time, SIGKILL to the new leader's first dispatch, over five runs (median and
/// maximum printed): `cargo test --release --test failover -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute): run with --ignored --nocapture"]
async fn takeover_time_from_sigkill_to_the_first_dispatch_over_five_runs() -> Result<()> {
    let mut runs = Vec::new();
    for run in 1..=5 {
        let dir = tempfile::tempdir()?;
        let b = bench(dir.path()).await?;
        let (mut old, standby) = pair(dir.path(), &b).await?;
        let mut watch = DispatchWatch::start(b.mqtt.port(), "firegrid/v1/dispatch/#").await?;
        fire(&b, &mut watch, &old, "sd-1").await?;
        let (took_over, first_dispatch, _) = kill_and_fire(&b, &mut watch, &mut old, &standby).await?;
        eprintln!("run {run}: leader after {took_over:?}, first dispatch after {first_dispatch:?}");
        runs.push((took_over, first_dispatch));
    }
    let mut leads: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let mut dispatches: Vec<Duration> = runs.iter().map(|r| r.1).collect();
    leads.sort();
    dispatches.sort();
    eprintln!(
        "SIGKILL to new leader: median {:?}, max {:?}; SIGKILL to first dispatch: median {:?}, max {:?}",
        leads[2], leads[4], dispatches[2], dispatches[4]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_partitions_leader_resumes_and_sends_none_of_its_incidents_but_lists_them() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(90), async {
        let dir = tempfile::tempdir()?;
        let b = bench(dir.path()).await?;
        let east = partition::start_alert(dir.path(), &b.config, "east-a").await?;
        leader(&[&east], Duration::from_secs(20)).await?;
        let mut watch = DispatchWatch::start(b.mqtt.port(), "firegrid/v1/dispatch/#").await?;
        let ids = fire(&b, &mut watch, &east, "sd-1").await?;

        // West starts while east's incident is open, its escalation timer running.
        let env = support::scale::role_env("alert", partition::CLIENT_ID, "", &dir.path().join("west-a"));
        let west = Firegrid::start(&b.west, env, &dir.path().join("west-a.log")).await?;
        support::eventually(Duration::from_secs(20), || async {
            Ok(west
                .metric("firegrid_partition_leader{partition=\"west\"}")
                .await
                .ok()
                .filter(|v| *v == 1.0)
                .map(|_| ()))
        })
        .await
        .with_context(|| format!("west did not lead; log:\n{}", west.log_tail()))?;
        let log = west.log_text()?;
        let resumed = log.lines().find(|l| l.contains("event=\"alert_engine_resumed\"")).context("no resume line")?;
        ensure!(resumed.contains("active=0"), "west resumed east's incidents: {resumed}");
        let timers = log.lines().find(|l| l.contains("event=\"dispatch_resumed\"")).context("no dispatch line")?;
        ensure!(timers.contains("incidents=0") && timers.contains("timers=0"), "west took east's timers: {timers}");

        ensure!(incident_ids(&base(&west)).await? == ids, "west's API does not list east's incident");
        watch.sync().await?;
        let keys = watch.per_key();
        ensure!(keys.values().all(|&n| n == 1), "a key sent twice: {keys:?}");
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}
