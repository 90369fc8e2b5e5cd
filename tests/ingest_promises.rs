//! Promises of the ingest path with a real mosquitto and a real VictoriaMetrics, firegrid
//! in-process: refused messages never fill the MQTT window, unacknowledged messages nearing the
//! window flush the batch when no other rule could, `/readyz` is not ready while the
//! broker is away, and a reading whose topic disagrees with the registry is counted as a location
//! mismatch and stored at the registry's location; and `mqtts://` works against mosquitto with TLS.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::{Mosquitto, MosquittoOptions, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

fn settings(dir: &Path, mqtt: &Mosquitto, vm: &VictoriaMetrics, devices: &[TestDevice]) -> Result<firegrid::Settings> {
    let reg = fleet::write_registry(dir, devices)?;
    let client_id = format!("firegrid-promises-{}", std::process::id());
    Ok(fleet::harness_config(dir, &reg, &mqtt.url(), &vm.url(), &client_id).validate()?)
}

/// `/readyz` as (HTTP status, body).
async fn readyz(api: &str) -> Result<(u16, serde_json::Value)> {
    let r = reqwest::get(format!("{api}/readyz")).await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_refused_messages_ten_times_the_window_never_fills_it() -> Result<()> {
    const WINDOW: u16 = 20;
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices: Vec<TestDevice> = fleet::devices(10).into_iter().filter(|d| d.registered).collect();
        let mut s = settings(dir.path(), &mqtt, &vm, &devices)?;
        s.mqtt.receive_maximum = WINDOW;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);

        // Ten windows of messages firegrid refuses (not JSON), then one valid reading per device:
        // if refused messages held their place in the window, the readings could never arrive.
        let refused = 10 * usize::from(WINDOW);
        let mut stream: Vec<(String, Vec<u8>)> =
            (0..refused).map(|i| (fleet::topic(&devices[i % devices.len()]), b"{\"values\":".to_vec())).collect();
        let ts = firegrid_ingest::clock::now_ms() - 10_000;
        stream.extend(devices.iter().map(|d| (fleet::topic(d), fleet::payload(d, 1, ts).into_bytes())));
        support::publish::publish_all(mqtt.port(), "refused-pub", stream).await?;

        let want: std::collections::BTreeSet<(String, u64)> = devices.iter().map(|d| (d.id.clone(), 1)).collect();
        support::eventually(Duration::from_secs(20), || async {
            Ok((fleet::stored_pairs(&vm).await? == want).then_some(()))
        })
        .await
        .context("the readings behind the refused stream stored")?;
        let rejected = support::api::metric(&api, "firegrid_messages_rejected_total{reason=\"not_json\"}").await?;
        ensure!(rejected == refused as f64, "{rejected} refused of {refused}");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_nearing_the_window_flush_the_batch_when_no_other_rule_can() -> Result<()> {
    const WINDOW: u16 = 20;
    const PER_DEVICE: u64 = 20;
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices: Vec<TestDevice> = fleet::devices(10).into_iter().filter(|d| d.registered).collect();
        let mut s = settings(dir.path(), &mqtt, &vm, &devices)?;
        // Only the window can flush within this test: a batch would otherwise be written at
        // 100,000 lines, at 10 minutes of age or after 10 minutes without a message. The broker
        // hands over 20 messages and waits for their acks; 10 unacknowledged (50 %) flush a batch.
        s.mqtt.receive_maximum = WINDOW;
        s.ingest.batch_window_percent = 50;
        s.ingest.batch_max_lines = std::num::NonZeroUsize::new(100_000).context("non-zero")?;
        s.ingest.batch_max_age = Duration::from_secs(600);
        s.ingest.batch_idle = Duration::from_secs(600);
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);

        // Ten windows of readings (200, a multiple of the 10 that flush a batch).
        let ts = firegrid_ingest::clock::now_ms() - 600_000;
        let stream: Vec<(String, Vec<u8>)> = (1..=PER_DEVICE)
            .flat_map(|seq| {
                devices.iter().map(move |d| (fleet::topic(d), fleet::payload(d, seq, ts + seq as i64 * 1000)))
            })
            .map(|(t, p)| (t, p.into_bytes()))
            .collect();
        let n = stream.len();
        support::publish::publish_all(mqtt.port(), "window-flush-pub", stream).await?;

        let want: std::collections::BTreeSet<(String, u64)> =
            devices.iter().flat_map(|d| (1..=PER_DEVICE).map(move |seq| (d.id.clone(), seq))).collect();
        support::eventually(Duration::from_secs(20), || async {
            Ok((fleet::stored_pairs(&vm).await? == want).then_some(()))
        })
        .await
        .context("every reading stored, batch by batch as the window filled")?;
        let batches = support::api::metric(&api, "firegrid_write_batches_total{outcome=\"ok\"}").await?;
        ensure!(batches >= (n / 10) as f64, "{batches} batches for {n} readings: a batch holds at most 10");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_not_ready_while_the_broker_is_away_and_ready_again_once_it_is_back() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(5);
        let shutdown = CancellationToken::new();
        let running = firegrid::start(settings(dir.path(), &mqtt, &vm, &devices)?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        support::eventually(Duration::from_secs(10), || async { Ok((readyz(&api).await?.0 == 200).then_some(())) })
            .await
            .context("ready with the broker up")?;

        mqtt.stop().await?;
        let (status, body) = support::eventually(Duration::from_secs(10), || async {
            let (status, body) = readyz(&api).await?;
            Ok((body["mqtt_connected"] == false).then_some((status, body)))
        })
        .await
        .context("the disconnect noticed")?;
        ensure!(status == 503 && body["ready"] == false, "not ready without the broker: {status} {body}");

        mqtt.start_again().await?;
        support::eventually(Duration::from_secs(15), || async {
            let (status, body) = readyz(&api).await?;
            Ok((status == 200 && body["ready"] == true && body["mqtt_connected"] == true).then_some(()))
        })
        .await
        .context("ready again once the broker is back")?;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_from_another_township_than_registered_counts_a_location_mismatch_and_is_stored() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices: Vec<TestDevice> = fleet::devices(6).into_iter().filter(|d| d.registered).collect();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(settings(dir.path(), &mqtt, &vm, &devices)?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        let ts = firegrid_ingest::clock::now_ms() - 10_000;
        // The first two devices publish from a township they are not registered in; the others
        // from their own.
        let moved = |d: &TestDevice| format!("firegrid/v1/{}/{}999/{}/{}", d.county, d.county, d.kind, d.id);
        let msgs: Vec<(String, Vec<u8>)> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (if i < 2 { moved(d) } else { fleet::topic(d) }, fleet::payload(d, 1, ts).into_bytes()))
            .collect();
        support::publish::publish_all(mqtt.port(), "mismatch-pub", msgs).await?;

        let want: std::collections::BTreeSet<(String, u64)> = devices.iter().map(|d| (d.id.clone(), 1)).collect();
        support::eventually(Duration::from_secs(20), || async {
            Ok((fleet::stored_pairs(&vm).await? == want).then_some(()))
        })
        .await
        .context("every reading stored, the mismatched ones too")?;
        let mismatches = support::api::metric_sum(&api, "firegrid_location_mismatch_total", &[]).await?;
        ensure!(mismatches == 2.0, "{mismatches} location mismatches counted, 2 published");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firegrid_takes_readings_over_mqtts_from_a_mosquitto_with_tls() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let pki = support::tls::TestPki::generate(dir.path())?;
        let tls_port = support::free_port()?;
        // A second listener with TLS; test traffic comes in on the plain one.
        let extra_config = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            pki.ca.display(),
            pki.server.0.display(),
            pki.server.1.display()
        );
        let mqtt = Mosquitto::start_with(MosquittoOptions { extra_config, ..Default::default() }).await?;
        let vm = VictoriaMetrics::start().await?;
        let devices: Vec<TestDevice> = fleet::devices(6).into_iter().filter(|d| d.registered).collect();
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let url = format!("mqtts://127.0.0.1:{tls_port}");
        let mut c = fleet::harness_config(dir.path(), &reg, &url, &vm.url(), "firegrid-mqtts");
        c.mqtt.ca_file = pki.ca.display().to_string();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        support::eventually(Duration::from_secs(15), || async {
            Ok((readyz(&api).await?.1["mqtt_connected"] == true).then_some(()))
        })
        .await
        .context("connected over TLS")?;

        let ts = firegrid_ingest::clock::now_ms() - 10_000;
        let msgs = devices.iter().map(|d| (fleet::topic(d), fleet::payload(d, 1, ts).into_bytes())).collect();
        support::publish::publish_all(mqtt.port(), "mqtts-pub", msgs).await?;
        let want: std::collections::BTreeSet<(String, u64)> = devices.iter().map(|d| (d.id.clone(), 1)).collect();
        support::eventually(Duration::from_secs(20), || async {
            Ok((fleet::stored_pairs(&vm).await? == want).then_some(()))
        })
        .await
        .context("the readings taken over mqtts stored")?;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}
