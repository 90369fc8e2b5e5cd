//! Scale-out with real processes (DESIGN §9, docs/operations.md "Scaling out"): `firegrid run
//! --role ingest` instances on one `$share` group of a real mosquitto, storing into a real
//! VictoriaMetrics (deduplication off, so a reading stored twice shows twice); and an `alert`
//! instance beside an `ingest` one, each receiving every reading.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::scale::{self, Pair};
use support::{Mosquitto, VictoriaMetrics, VmOptions};

/// 2,000 devices × 50 readings = 100,000 readings.
const DEVICES: usize = 2_000;
const PER_DEVICE: u64 = 50;
/// The shared group of the ingest instances.
const GROUP: &str = "firegrid";
/// `mqtt.receive_maximum` (the default): at most this many readings are unacknowledged at a kill.
const WINDOW: usize = 10_000;

/// A broker, a store without deduplication, the fleet's registry and one config file for all instances.
async fn servers(dir: &Path) -> Result<(Mosquitto, VictoriaMetrics, Vec<TestDevice>, PathBuf)> {
    let mqtt = Mosquitto::start().await?;
    let vm = VictoriaMetrics::start_with(VmOptions { dedup: false, ..Default::default() }).await?;
    let devices = fleet::devices(DEVICES);
    let reg = fleet::write_registry(dir, &devices)?;
    let c = fleet::harness_config(dir, &reg, &mqtt.url(), &vm.url(), "set-per-instance");
    let config = scale::write_config(dir, &c)?;
    Ok((mqtt, vm, devices, config))
}

/// Readings stored more than once.
fn duplicates(counts: &std::collections::BTreeMap<Pair, usize>) -> usize {
    counts.values().filter(|&&n| n > 1).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_instances_on_one_share_group_store_every_reading_exactly_once_each_taking_a_fair_share(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let dir = tempfile::tempdir()?;
        let (mqtt, vm, devices, config) = servers(dir.path()).await?;
        let mut a = scale::start_ingest(dir.path(), &config, "ingest-a", GROUP).await?;
        let mut b = scale::start_ingest(dir.path(), &config, "ingest-b", GROUP).await?;
        scale::warm_up(mqtt.port(), &[&a, &b]).await?;

        let want = scale::pairs(&devices, 1, PER_DEVICE);
        let started = Instant::now();
        support::publish::publish_all(mqtt.port(), "scale-publisher", scale::readings(&devices, 1, PER_DEVICE)).await?;
        let published_in = started.elapsed();
        let counts = scale::wait_stored(&vm, &want, Duration::from_secs(120)).await?;
        let stored_in = started.elapsed();
        ensure!(duplicates(&counts) == 0, "{} readings stored more than once", duplicates(&counts));
        // Nothing but the fleet and the warm-up device is in the store.
        let all = scale::stored_counts(&vm).await?;
        let strays: BTreeSet<&Pair> = all.keys().filter(|p| !want.contains(*p) && p.0 != "wu-1").collect();
        ensure!(strays.is_empty(), "stored readings nobody published: {strays:?}");

        let (ra, rb) = (scale::received(&a).await?, scale::received(&b).await?);
        let total = ra + rb;
        eprintln!(
            "{} readings published in {published_in:?}, all stored in {stored_in:?}; ingest-a took {ra}, ingest-b {rb}",
            want.len()
        );
        ensure!(total >= want.len() as f64, "the instances received {total} of {}", want.len());
        ensure!(ra >= 0.3 * total && rb >= 0.3 * total, "unfair shares: {ra} and {rb} of {total}");

        // An ingest instance stops cleanly, and serves no incident API meanwhile.
        let api = reqwest::get(format!("http://127.0.0.1:{}/api/v1/incidents", a.http_port)).await?;
        ensure!(api.status() == 404, "an ingest instance answered the incident API: {}", api.status());
        ensure!(a.readyz().await?["ready"] == true && a.readyz().await?.get("alerting").is_none());
        a.stop(Duration::from_secs(15)).await?;
        b.stop(Duration::from_secs(15)).await?;
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_instance_killed_halfway_loses_nothing_its_share_waits_on_mosquitto_until_it_returns() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let dir = tempfile::tempdir()?;
        let (mqtt, vm, devices, config) = servers(dir.path()).await?;
        let a = scale::start_ingest(dir.path(), &config, "ingest-a", GROUP).await?;
        let mut b = scale::start_ingest(dir.path(), &config, "ingest-b", GROUP).await?;
        scale::warm_up(mqtt.port(), &[&a, &b]).await?;

        let want = scale::pairs(&devices, 1, PER_DEVICE);
        let port = mqtt.port();
        let msgs = scale::readings(&devices, 1, PER_DEVICE);
        let publisher = tokio::spawn(async move { support::publish::publish_all(port, "scale-publisher", msgs).await });
        // Halfway: SIGKILL ingest-b, with up to a window of readings received and unacknowledged.
        let half = (want.len() / 2) as f64;
        support::eventually(Duration::from_secs(120), || async {
            Ok((scale::received(&a).await? + scale::received(&b).await? >= half).then_some(()))
        })
        .await?;
        b.kill9();
        publisher.await??;

        // ingest-b's persistent session keeps its share of the group: mosquitto queues it there
        // (with the readings b held unacknowledged) and ingest-a does not get it.
        scale::idle(&a, Duration::from_secs(90)).await?;
        let mut stored = scale::stored_counts(&vm).await?;
        stored.retain(|p, _| want.contains(p));
        let waiting = want.len() - stored.len();
        eprintln!("with ingest-b down and ingest-a idle, {waiting} of {} readings wait for ingest-b", want.len());
        ensure!(waiting >= want.len() / 10, "only {waiting} readings waited for the killed instance");

        // ingest-b returns with its client id: its session's readings are delivered to it, and none is lost.
        b.kill9_and_restart().await?;
        let counts = scale::wait_stored(&vm, &want, Duration::from_secs(120)).await?;
        let dups = duplicates(&counts);
        eprintln!("after ingest-b returned: all {} stored, {dups} stored twice (redelivered)", want.len());
        ensure!(dups <= WINDOW, "{dups} readings stored twice: more than the window ingest-b could hold unacked");
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

/// A normal reading of smoke detector `device` of the dispatch fixtures.
fn normal(device: &str, seq: u64) -> (String, Vec<u8>) {
    let ts = firegrid_ingest::clock::now_ms() - 1000 + seq as i64;
    let p =
        format!(r#"{{"ts":{ts},"seq":{seq},"status":"normal","values":{{"obscuration_db_m":0.01,"alarm":false}}}}"#);
    (format!("firegrid/v1/500112/500112002/smoke/{device}"), p.into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_and_an_ingest_instance_dispatch_a_fire_once_and_store_each_reading_once() -> Result<()> {
    use support::dispatch::{alarm, devices, grids, incident_ids, outbox_settled, stations, write_registry};
    tokio::time::timeout(Duration::from_secs(180), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start_with(VmOptions { dedup: false, ..Default::default() }).await?;
        let reg = write_registry(dir.path(), &devices(), &stations(""), &grids(""))?;
        let config = support::dispatch::write_config(dir.path(), &mqtt.url(), &vm.url(), &reg, "")?;
        let alert_env = scale::role_env("alert", "fg-alert", "", &dir.path().join("alert"));
        let mut alert = support::process::Firegrid::start(&config, alert_env, &dir.path().join("alert.log")).await?;
        let mut ingest = scale::start_ingest(dir.path(), &config, "fg-ingest", GROUP).await?;
        scale::warm_up(mqtt.port(), &[&alert, &ingest]).await?;
        let mut watch = support::watch::DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
        let mut dead = support::watch::DeadLetterWatch::start(mqtt.port()).await?;

        let mut msgs: Vec<(String, Vec<u8>)> = (1..=20).map(|s| normal("sd-3", s)).collect();
        msgs.push(alarm("sd-1", 1));
        msgs.push(("firegrid/v1/500112/500112002/smoke/sd-2".into(), b"{not json".to_vec()));
        support::publish::publish_all(mqtt.port(), "pair-sensor", msgs).await?;

        // The fire: one incident, every notification delivered once per idempotency key.
        let base = format!("http://127.0.0.1:{}", alert.http_port);
        watch.until(Duration::from_secs(30), |seen| seen.iter().any(|(t, _)| t.ends_with("/ms-500112002001"))).await?;
        let delivered = support::eventually(Duration::from_secs(30), || async { outbox_settled(&base).await }).await?;
        watch.sync().await?;
        let keys = watch.per_key();
        ensure!(keys.len() == delivered && keys.values().all(|&n| n == 1), "dispatched {delivered}: {keys:?}");
        ensure!(incident_ids(&base).await?.len() == 1, "one fire, one incident");
        let micro = watch.messages().find(|v| v["station_id"] == "ms-500112002001").context("micro station message")?;
        ensure!(micro["role"] == "respond" && micro["class"] == "fire", "{micro}");

        // The readings: stored once (by the ingest instance), the incident line by the alert instance.
        let mut want: BTreeSet<Pair> = (1..=20).map(|s| ("sd-3".to_owned(), s)).collect();
        want.insert(("sd-1".to_owned(), 1));
        support::eventually(Duration::from_secs(20), || async {
            Ok((vm.series_count(r#"{__name__=~"fire_incident_.*"}"#).await? > 0).then_some(()))
        })
        .await
        .context("the alert instance stored no fire_incident line")?;
        scale::idle(&alert, Duration::from_secs(20)).await?;
        scale::idle(&ingest, Duration::from_secs(20)).await?;
        let counts = scale::wait_stored(&vm, &want, Duration::from_secs(20)).await?;
        ensure!(counts.values().all(|&n| n == 1), "readings stored more than once: {counts:?}");
        // The malformed message: dead-lettered once, by the ingest instance (both instances are
        // idle, so a second letter would have been published by now).
        ensure!(!dead.collect(1, Duration::from_secs(20)).await.is_empty(), "no dead letter");
        let letters = dead.synced().await?.len();
        ensure!(letters == 1, "{letters} dead letters for one malformed message");

        alert.stop(Duration::from_secs(15)).await?;
        ingest.stop(Duration::from_secs(15)).await?;
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mosquitto_an_ingest_session_that_expires_while_down_loses_its_share_so_ingest_keeps_a_long_session(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(180), async {
        let dir = tempfile::tempdir()?;
        let (mqtt, vm, devices, config) = servers(dir.path()).await?;
        let devices = &devices[..100];
        let a = scale::start_ingest(dir.path(), &config, "ingest-a", GROUP).await?;
        let mut env = scale::role_env("ingest", "ingest-b", GROUP, &dir.path().join("ingest-b"));
        env.push(("FIREGRID_MQTT__SESSION_EXPIRY_SECONDS".into(), "1".into()));
        let mut b = support::process::Firegrid::start(&config, env, &dir.path().join("ingest-b.log")).await?;
        scale::warm_up(mqtt.port(), &[&a, &b]).await?;

        // ingest-b dies; what mosquitto routes to it meanwhile waits in its session …
        b.kill9();
        let first = scale::pairs(devices, 1, 10);
        support::publish::publish_all(mqtt.port(), "scale-publisher", scale::readings(devices, 1, 10)).await?;
        // … until the session expires: from then on the group routes everything to ingest-a.
        scale::expired_from_group(mqtt.port(), &a).await?;
        let second = scale::pairs(devices, 11, 10);
        support::publish::publish_all(mqtt.port(), "scale-publisher", scale::readings(devices, 11, 10)).await?;
        scale::wait_stored(&vm, &second, Duration::from_secs(30)).await?;

        // ingest-b returns to a new, empty session: its share of the first batch is gone.
        b.kill9_and_restart().await?;
        scale::idle(&b, Duration::from_secs(20)).await?;
        scale::idle(&a, Duration::from_secs(20)).await?;
        let mut stored = scale::stored_counts(&vm).await?;
        stored.retain(|p, _| first.contains(p));
        let lost = first.len() - stored.len();
        eprintln!("{lost} of {} readings queued for the expired session were lost", first.len());
        ensure!(lost >= first.len() / 3, "only {lost} of {} lost: mosquitto re-dispatched them?", first.len());
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[test]
fn check_config_names_the_role_it_checked_and_refuses_a_shared_group_on_an_alerting_role() -> Result<()> {
    let root = env!("CARGO_MANIFEST_DIR");
    let check = |args: &[&str], env: &[(&str, &str)]| -> Result<(bool, String)> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_firegrid"))
            .args(["check-config", "--config", "deploy/firegrid.toml"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(root)
            .env_remove("FIREGRID_LOG")
            .output()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    };
    let (ok, text) = check(&[], &[])?;
    ensure!(ok && text.contains("role all ("), "{text}");
    let (ok, text) = check(&["--role", "ingest"], &[("FIREGRID_MQTT__SHARED_GROUP", GROUP)])?;
    ensure!(ok && text.contains("role ingest (") && text.contains("no incident API"), "{text}");
    let (ok, text) = check(&[], &[("FIREGRID_NODE__ROLE", "alert"), ("FIREGRID_MQTT__SHARED_GROUP", GROUP)])?;
    ensure!(!ok && text.contains("mqtt.shared_group") && text.contains("role `alert`"), "{text}");
    let (ok, text) = check(&["--role", "ingester"], &[])?;
    ensure!(!ok && text.contains("node.role") && text.contains("`ingester`"), "{text}");
    Ok(())
}
