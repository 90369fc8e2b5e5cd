//! End to end with a real mosquitto and a real VictoriaMetrics: firegrid runs in-process
//! (`firegrid::start`), a test publisher sends readings of all three kinds and malformed
//! messages, and the test reads back what the store holds and what was dead-lettered.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::{Mosquitto, MosquittoOptions, VictoriaMetrics, VmOptions};
use tokio_util::sync::CancellationToken;

/// The MQTT version the consumer speaks (`mqtt.protocol`): the end-to-end and broker-restart
/// promises are run over both.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    V5,
    V311,
}

impl Protocol {
    fn key(self) -> &'static str {
        match self {
            Protocol::V5 => "5",
            Protocol::V311 => "3.1.1",
        }
    }

    /// The broker logged the consumer's login with this protocol and a persistent session:
    /// mosquitto writes `as {client id} (p2, c0, …)` for 3.1.1 and `(p5, c0, …)` for 5.
    fn check_login(self, mqtt: &Mosquitto) -> Result<()> {
        let p = match self {
            Protocol::V5 => "p5",
            Protocol::V311 => "p2",
        };
        let want = format!("as firegrid-test-{} ({p}, c0,", std::process::id());
        let logs = mqtt.logs();
        ensure!(logs.contains(&want), "no `{want}` in the broker's log:\n{logs}");
        Ok(())
    }
}

fn settings(dir: &Path, mqtt: &Mosquitto, vm: &VictoriaMetrics, devices: &[TestDevice]) -> Result<firegrid::Settings> {
    settings_over(dir, mqtt, vm, devices, Protocol::V5)
}

fn settings_over(
    dir: &Path,
    mqtt: &Mosquitto,
    vm: &VictoriaMetrics,
    devices: &[TestDevice],
    protocol: Protocol,
) -> Result<firegrid::Settings> {
    let reg = fleet::write_registry(dir, devices)?;
    let client_id = format!("firegrid-test-{}", std::process::id());
    let mut config = fleet::harness_config(dir, &reg, &mqtt.url(), &vm.url(), &client_id);
    config.mqtt.protocol = protocol.key().into();
    Ok(config.validate()?)
}

/// `per_device` readings of every device, seq numbers from `first_seq`.
fn readings(devices: &[TestDevice], first_seq: u64, per_device: u64) -> Vec<(String, Vec<u8>)> {
    let now = firegrid_ingest::clock::now_ms();
    let mut out = Vec::new();
    for seq in first_seq..first_seq + per_device {
        for d in devices {
            let ts = now - 60_000 + (seq as i64) * 3;
            out.push((fleet::topic(d), fleet::payload(d, seq, ts).into_bytes()));
        }
    }
    out
}

fn expected_pairs(devices: &[TestDevice], seqs: std::ops::Range<u64>) -> BTreeSet<(String, u64)> {
    devices.iter().flat_map(|d| seqs.clone().map(move |s| (d.id.clone(), s))).collect()
}

async fn wait_for_pairs(vm: &VictoriaMetrics, want: &BTreeSet<(String, u64)>) -> Result<BTreeSet<(String, u64)>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = fleet::stored_pairs(vm).await?;
        if got.is_superset(want) || tokio::time::Instant::now() > deadline {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn ready(addr: std::net::SocketAddr) -> Result<bool> {
    let r = reqwest::get(format!("http://{addr}/readyz")).await?;
    Ok(r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_reading_is_stored_exactly_once_and_every_malformed_one_is_dead_lettered() -> Result<()> {
    every_valid_reading_stored_once_malformed_dead_lettered(Protocol::V5).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mqtt_3_1_1_every_valid_reading_is_stored_exactly_once_and_every_malformed_one_is_dead_lettered(
) -> Result<()> {
    every_valid_reading_stored_once_malformed_dead_lettered(Protocol::V311).await
}

async fn every_valid_reading_stored_once_malformed_dead_lettered(protocol: Protocol) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start_with(VmOptions { dedup: false, ..Default::default() }).await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(550);
        let shutdown = CancellationToken::new();
        let running =
            firegrid::start(settings_over(dir.path(), &mqtt, &vm, &devices, protocol)?, shutdown.clone()).await?;
        let addr = running.http_addr;
        support::eventually(Duration::from_secs(10), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        protocol.check_login(&mqtt)?;

        let mut watch = support::watch::DeadLetterWatch::start(mqtt.port()).await?;
        let bad = fleet::malformed(firegrid_ingest::clock::now_ms());
        let mut msgs = readings(&devices, 1, 20);
        // Interleave the malformed messages through the stream.
        let step = msgs.len() / bad.len();
        for (i, (t, p, _)) in bad.iter().enumerate() {
            msgs.insert(i * (step + 1), (t.clone(), p.clone()));
        }
        ensure!(msgs.len() >= 10_000 + 50);
        support::publish::publish_all(mqtt.port(), "e2e-publisher", msgs).await?;

        let want = expected_pairs(&devices, 1..21);
        let got = wait_for_pairs(&vm, &want).await?;
        ensure!(
            got == want,
            "stored {} pairs, published {}; missing e.g. {:?}",
            got.len(),
            want.len(),
            want.difference(&got).next()
        );

        // Exactly once: every (device, seq) sample appears once in its series.
        let seq_series = vm.export(r#"{__name__=~"(smoke|electrical|forest_ir)_seq"}"#).await?;
        let samples: usize = seq_series.iter().map(|s| s.values.len()).sum();
        ensure!(samples == want.len(), "{samples} seq samples for {} readings", want.len());

        // Tags and values.
        let by_id: BTreeMap<&str, &TestDevice> = devices.iter().map(|d| (d.id.as_str(), d)).collect();
        for kind in ["smoke", "electrical", "forest_ir"] {
            let series = vm.export(&format!(r#"{{__name__="{}"}}"#, fleet::primary_metric(kind))).await?;
            ensure!(!series.is_empty(), "no {kind} series");
            for s in &series {
                let id = s.label("device_id").context("device_id label")?;
                let d = by_id.get(id).context("unknown device in store")?;
                ensure!(s.label("county") == Some(d.county) && s.label("township") == Some(d.township.as_str()));
                ensure!(s.label("status") == Some("normal"));
                if d.registered {
                    ensure!(s.label("community") == Some(d.community.as_str()), "community of {id}");
                    ensure!(s.label("grid_id") == Some(d.grid.as_str()), "grid of {id}: {:?}", s.label("grid_id"));
                    ensure!(s.label("site_type") == Some("residential") && s.label("registered").is_none());
                } else {
                    ensure!(
                        s.label("registered") == Some("false") && s.label("community").is_none(),
                        "{id} unregistered"
                    );
                }
                ensure!(s.values.len() == 20);
                let mut vals: Vec<f64> = s.values.clone();
                vals.sort_by(f64::total_cmp);
                let mut expect: Vec<f64> = (1..21).map(|seq| fleet::primary_value(d, seq)).collect();
                expect.sort_by(f64::total_cmp);
                ensure!(vals == expect, "{kind} values of {id}: {vals:?} vs {expect:?}");
            }
        }
        let bools = vm.export(r#"{__name__="smoke_alarm"}"#).await?;
        ensure!(bools.iter().all(|s| s.values.iter().all(|v| *v == 0.0)), "alarm=false stored as 0");
        let channels = vm.series_count(r#"{__name__="electrical_cable_temp_c_2"}"#).await?;
        ensure!(channels == devices.iter().filter(|d| d.kind == "electrical").count());

        // Dead letters: one per malformed message, with the right reason.
        let letters = watch.collect(bad.len(), Duration::from_secs(20)).await;
        let mut got_reasons: Vec<String> =
            letters.iter().map(|l| l["reason"].as_str().unwrap_or("").to_owned()).collect();
        let mut want_reasons: Vec<String> = bad.iter().map(|b| b.2.to_owned()).collect();
        got_reasons.sort();
        want_reasons.sort();
        ensure!(got_reasons == want_reasons, "dead letters {got_reasons:?}");
        ensure!(letters
            .iter()
            .all(|l| l["detail"].as_str().is_some_and(|d| !d.is_empty()) && l["payload_b64"].is_string()));

        ensure!(ready(addr).await?, "/readyz stays ready");
        let r: serde_json::Value = reqwest::get(format!("http://{addr}/readyz")).await?.json().await?;
        ensure!(
            r["last_store_write_ms"].as_i64().is_some_and(|t| t > 0),
            "/readyz says when the store last took a write: {r}"
        );
        let metrics = reqwest::get(format!("http://{addr}/metrics")).await?.text().await?;
        ensure!(metrics.contains("firegrid_messages_rejected_total{reason=\"too_large\"} 7"), "{metrics}");
        ensure!(metrics.contains(&format!("firegrid_points_written_total {}", want.len())));

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() -> Result<()> {
    broker_restart_mid_stream_loses_nothing(Protocol::V5).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mqtt_3_1_1_a_broker_restart_mid_stream_loses_nothing() -> Result<()> {
    broker_restart_mid_stream_loses_nothing(Protocol::V311).await
}

async fn broker_restart_mid_stream_loses_nothing(protocol: Protocol) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let mut mqtt = Mosquitto::start_with(MosquittoOptions::default()).await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(200);
        let shutdown = CancellationToken::new();
        let running =
            firegrid::start(settings_over(dir.path(), &mqtt, &vm, &devices, protocol)?, shutdown.clone()).await?;
        let addr = running.http_addr;
        support::eventually(Duration::from_secs(10), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        protocol.check_login(&mqtt)?;

        let base = format!("http://{addr}");
        // The store is paused (SIGSTOP) while the first half arrives: firegrid's batches wait for
        // their answer, so it holds those messages unacknowledged when the broker goes away.
        let vm_pid = vm.pid().context("VictoriaMetrics is running")?;
        support::process::signal(vm_pid, "STOP")?;
        support::publish::publish_all(mqtt.port(), "restart-pub-1", readings(&devices, 1, 15)).await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok((support::api::metric(&base, "firegrid_mqtt_unacked_messages").await? > 0.0).then_some(()))
        })
        .await
        .context("firegrid holding messages unacknowledged")?;
        let written = support::api::metric(&base, "firegrid_points_written_total").await?;
        ensure!(written < 3000.0, "the restart must come mid-drain, but {written} points were already written");
        let stale_before = support::api::metric(&base, "firegrid_mqtt_stale_acks_total").await?;
        mqtt.restart().await?;
        support::process::signal(vm_pid, "CONT")?;
        support::publish::publish_all(mqtt.port(), "restart-pub-2", readings(&devices, 16, 15)).await?;

        let want = expected_pairs(&devices, 1..31);
        let got = wait_for_pairs(&vm, &want).await?;
        ensure!(got == want, "stored {} of {}", got.len(), want.len());
        support::eventually(Duration::from_secs(15), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        // The acks of the old connection's messages were withheld (docs/guarantees.md, "broker restart").
        let stale = support::api::metric(&base, "firegrid_mqtt_stale_acks_total").await? - stale_before;
        ensure!(stale > 0.0, "no stale ack withheld across the restart");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_far_larger_than_the_window_drains_completely_through_tiny_batches() -> Result<()> {
    // A persistent session fills while firegrid is away; on its return the broker hands the
    // backlog over faster than a small window and a one-batch writer queue can take it. Acks
    // must still flow (they never wait on the event loop), so the drain completes.
    tokio::time::timeout(Duration::from_secs(240), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(400);
        let mut s = settings(dir.path(), &mqtt, &vm, &devices)?;
        s.mqtt.receive_maximum = 100;
        s.ingest.batch_max_lines = std::num::NonZeroUsize::new(50).context("nonzero")?;
        s.ingest.pending_batches = std::num::NonZeroUsize::new(1).context("nonzero")?;

        // Register the session, then stop.
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s.clone(), shutdown.clone()).await?;
        let addr = running.http_addr;
        support::eventually(Duration::from_secs(10), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        shutdown.cancel();
        running.wait().await?;

        support::publish::publish_all(mqtt.port(), "backlog-pub", readings(&devices, 1, 50)).await?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let want = expected_pairs(&devices, 1..51);
        let got = wait_for_pairs(&vm, &want).await?;
        ensure!(got == want, "stored {} of {}", got.len(), want.len());
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

/// Readings per device published while the store is down in the outage test (300 devices).
const OUTAGE_PER_DEVICE: u64 = 200;
/// The MQTT window (`receive_maximum`) of the outage test.
const WINDOW: u16 = 1000;
/// How much the outage test's process may grow while the outage is spooled, KiB.
const RSS_GROWTH_KIB: u64 = 24 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_loses_nothing_and_ingest_resumes_by_itself() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let mqtt = Mosquitto::start().await?;
        let mut vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(300);
        let mut s = settings(dir.path(), &mqtt, &vm, &devices)?;
        // A window of 1,000 messages: what firegrid may hold is small beside the outage's 30,000.
        s.mqtt.receive_maximum = WINDOW;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let addr = running.http_addr;
        support::eventually(Duration::from_secs(10), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        let base = format!("http://{addr}");
        // The same 30,000 readings with the store up first: what the process grows to under this
        // load is the baseline, so the outage's own cost is what comes on top of it.
        let n = devices.len() as f64 * OUTAGE_PER_DEVICE as f64;
        support::publish::publish_all(mqtt.port(), "outage-pub-1", readings(&devices, 1, OUTAGE_PER_DEVICE)).await?;
        support::eventually(Duration::from_secs(60), || async {
            Ok((support::api::metric(&base, "firegrid_points_written_total").await? >= n).then_some(()))
        })
        .await
        .context("the baseline load reaching the store")?;
        vm.stop().await?;
        // 30,000 readings (~10 MB as messages) arrive during the outage; built before the first
        // measurement so the test's own copy is not counted.
        let first = 1 + OUTAGE_PER_DEVICE;
        let during = readings(&devices, first, OUTAGE_PER_DEVICE);
        let spooled_before = support::api::metric(&base, "firegrid_spool_appended_points_total").await?;
        let (rss_before, _) = support::process::rss_kib(std::process::id())?;
        support::publish::publish_all(mqtt.port(), "outage-pub-2", during).await?;
        // The store is down: batches go to the disk spool and ingestion carries on, degraded,
        // until every reading of the outage is in the spool.
        support::eventually(Duration::from_secs(60), || async {
            let r: serde_json::Value = reqwest::get(format!("http://{addr}/readyz")).await?.json().await?;
            let spooled = support::api::metric(&base, "firegrid_spool_appended_points_total").await? - spooled_before;
            let all = spooled >= (devices.len() as u64 * OUTAGE_PER_DEVICE) as f64;
            Ok((r["store"] == "degraded_spooling" && r["ready"] == true && all).then_some(()))
        })
        .await
        .context("the outage's readings reaching the spool")?;
        let (rss_during, _) = support::process::rss_kib(std::process::id())?;
        vm.start_again().await?;
        let after = first + OUTAGE_PER_DEVICE;
        support::publish::publish_all(mqtt.port(), "outage-pub-3", readings(&devices, after, 5)).await?;

        let want = expected_pairs(&devices, 1..after + 5);
        let got = wait_for_pairs(&vm, &want).await?;
        ensure!(got == want, "stored {} of {}", got.len(), want.len());
        support::eventually(Duration::from_secs(15), || async { Ok(ready(addr).await?.then_some(())) }).await?;
        // What firegrid holds is bounded by the broker's window, not by the backlog: holding the
        // outage's readings in memory would add well over the bound.
        println!(
            "store outage: RSS {rss_before} KiB after the baseline load, {rss_during} KiB with the outage spooled"
        );
        ensure!(rss_during < rss_before + RSS_GROWTH_KIB, "RSS grew from {rss_before} KiB to {rss_during} KiB");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}
