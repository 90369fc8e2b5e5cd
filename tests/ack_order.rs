//! Acknowledgements leave in arrival order (MQTT §4.6), on the embedded broker (rumqttd, which
//! drops a connection that acks out of order) and on mosquitto (which tolerates it, so only the
//! reconnect count tells). The stream mixes readings with malformed messages and station acks —
//! the two kinds of message that finish before the readings ahead of them — and the test checks
//! that firegrid never had to reconnect and stored every reading exactly once.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use support::fleet::{self, TestDevice};
use support::{Mosquitto, VictoriaMetrics, VmOptions};
use tokio_util::sync::CancellationToken;

const READINGS: u64 = 10_000;
const EVERY: u64 = 100;

/// The messages to publish, the (device, seq) pairs they carry, and how many are refused.
type Stream = (Vec<(String, Vec<u8>)>, BTreeSet<(String, u64)>, usize);

/// 10,000 readings; after every 100th one a malformed reading and a station's ack (of an
/// incident that does not exist, so the dispatch stage refuses it and dead-letters it).
fn stream(devices: &[TestDevice]) -> Stream {
    let now = firegrid_ingest::clock::now_ms();
    let mut msgs = Vec::new();
    let mut want = BTreeSet::new();
    let mut refused = 0;
    for i in 0..READINGS {
        let d = &devices[(i as usize) % devices.len()];
        let seq = i / devices.len() as u64 + 1;
        msgs.push((fleet::topic(d), fleet::payload(d, seq, now - 60_000 + i as i64).into_bytes()));
        want.insert((d.id.clone(), seq));
        if (i + 1) % EVERY == 0 {
            msgs.push((fleet::topic(d), br#"{"seq":1,"values":{"obscuration_db_m":"high"}}"#.to_vec()));
            let ack = format!(r#"{{"incident_id":"INC-none-{i}","action":"ack","by":"test"}}"#);
            msgs.push(("firegrid/v1/ack/d-500112".to_owned(), ack.into_bytes()));
            refused += 2;
        }
    }
    (msgs, want, refused)
}

async fn stored_exactly_once(vm: &VictoriaMetrics, want: &BTreeSet<(String, u64)>) -> Result<()> {
    support::eventually(Duration::from_secs(60), || async {
        Ok(fleet::stored_pairs(vm).await?.is_superset(want).then_some(()))
    })
    .await?;
    let got = fleet::stored_pairs(vm).await?;
    ensure!(&got == want, "stored {} pairs, published {}", got.len(), want.len());
    let series = vm.export(r#"{__name__=~"(smoke|electrical|forest_ir)_seq"}"#).await?;
    let samples: usize = series.iter().map(|s| s.values.len()).sum();
    ensure!(samples == want.len(), "{samples} samples for {} readings: some stored twice", want.len());
    Ok(())
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> Result<f64> {
    support::api::metric(&format!("http://{addr}"), name).await
}

/// Runs firegrid on `config`, publishes the stream through `publish`, and checks the promise.
async fn check(
    config: firegrid::Config,
    vm: &VictoriaMetrics,
    devices: &[TestDevice],
    publish: impl std::future::Future<Output = Result<()>>,
    watch_port: Option<u16>,
) -> Result<()> {
    let shutdown = CancellationToken::new();
    let running = firegrid::start(config.validate()?, shutdown.clone()).await?;
    let addr = running.http_addr;
    support::eventually(Duration::from_secs(10), || async {
        Ok(reqwest::get(format!("http://{addr}/readyz")).await?.status().is_success().then_some(()))
    })
    .await?;
    let mut watch = match watch_port {
        Some(port) => Some(support::watch::DeadLetterWatch::start(port).await?),
        None => None,
    };
    let (_, want, refused) = stream(devices);
    publish.await?;
    stored_exactly_once(vm, &want).await?;
    if let Some(watch) = watch.as_mut() {
        let letters = watch.collect(refused, Duration::from_secs(30)).await;
        ensure!(letters.len() == refused, "{} dead letters of {refused}", letters.len());
    }
    support::eventually(Duration::from_secs(30), || async {
        Ok((metric(addr, "firegrid_deadletters_published_total").await? == refused as f64).then_some(()))
    })
    .await?;
    // Every message is acknowledged: nothing waits in the ack sequence.
    support::eventually(Duration::from_secs(10), || async {
        Ok((metric(addr, "firegrid_mqtt_unacked_messages").await? == 0.0).then_some(()))
    })
    .await?;
    let connects = metric(addr, "firegrid_mqtt_connections_total").await?;
    ensure!(connects == 1.0, "firegrid connected {connects} times: an ack left out of order");
    shutdown.cancel();
    running.wait().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_leave_in_arrival_order_on_the_embedded_broker() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let vm = VictoriaMetrics::start_with(VmOptions { dedup: false, ..Default::default() }).await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(200);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let port = support::free_port()?;
        let mut config = fleet::harness_config(dir.path(), &reg, "embedded", &vm.url(), "firegrid-ack-order");
        config.mqtt.embedded_listen = format!("127.0.0.1:{port}");
        let (msgs, _, _) = stream(&devices);
        let publish = support::publish::publish_all_v311(port, "ack-order-publisher", msgs);
        check(config, &vm, &devices, publish, None).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_leave_in_arrival_order_on_mosquitto() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start_with(VmOptions { dedup: false, ..Default::default() }).await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(200);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let config = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-ack-order");
        let (msgs, _, _) = stream(&devices);
        let publish = support::publish::publish_all(mqtt.port(), "ack-order-publisher", msgs);
        check(config, &vm, &devices, publish, Some(mqtt.port())).await
    })
    .await?
}
