//! A dispatch counts as delivered when the broker has it (DESIGN §6, §8): the real binary talks
//! to a real mosquitto through a TCP fault injector that swallows what the dispatch connection
//! sends. firegrid must leave every MQTT row pending while the broker has not acknowledged it,
//! and deliver it — each key at least once, which a station deduplicates to exactly once — after
//! a SIGKILL and restart, or after the connection is cut and re-established.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::dispatch::*;
use support::process::Firegrid;
use support::proxy::FaultProxy;
use support::watch::DispatchWatch;
use support::{Mosquitto, VictoriaMetrics};

/// firegrid behind the proxy, with a watcher on the real broker.
struct Setup {
    mqtt: Mosquitto,
    _vm: VictoriaMetrics,
    proxy: FaultProxy,
    fg: Firegrid,
    base: String,
    watch: DispatchWatch,
    _dir: tempfile::TempDir,
}

async fn setup() -> Result<Setup> {
    let mqtt = Mosquitto::start().await?;
    let vm = VictoriaMetrics::start().await?;
    let proxy = FaultProxy::start(mqtt.port()).await?;
    let dir = tempfile::tempdir()?;
    let reg = write_registry(dir.path(), &devices(), &stations(""), &grids(""))?;
    let dispatch = "retry_min_ms = 200\nretry_max_ms = 1000\noutbox_poll_ms = 100";
    let config = write_config(dir.path(), &proxy.url(), &vm.url(), &reg, dispatch)?;
    let fg = Firegrid::start(&config, vec![], &dir.path().join("firegrid.log")).await?;
    let base = format!("http://127.0.0.1:{}", fg.http_port);
    let watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
    support::eventually(Duration::from_secs(15), || async {
        Ok(fg.readyz().await.ok().filter(|v| v.to_string().contains("true")).map(|_| ()))
    })
    .await?;
    Ok(Setup { mqtt, _vm: vm, proxy, fg, base, watch, _dir: dir })
}

/// Swallows the dispatch connection, raises a critical fire and waits until firegrid has sent
/// every MQTT notification of it into the proxy; returns the incident and the message keys.
async fn fire_into_the_void(s: &Setup) -> Result<(String, BTreeSet<String>)> {
    s.proxy.swallow(true);
    support::publish::publish_all(s.mqtt.port(), "puback-sensor", vec![alarm("sd-1", 1)]).await?;
    let round = support::eventually(Duration::from_secs(20), || async {
        let Some(id) = incident_ids(&s.base).await?.first().cloned() else { return Ok(None) };
        let keys: BTreeSet<String> = notifications(&s.base, &id)
            .await?
            .iter()
            .filter(|n| n["channel"] == "mqtt")
            .map(|n| message_key(&id, n))
            .collect();
        let swallowed: BTreeSet<String> = s.proxy.swallowed().into_iter().collect();
        // micro, grid manager, township team, district.
        Ok((keys.len() == 4 && keys.is_subset(&swallowed)).then_some((id, keys)))
    })
    .await
    .context("firegrid sending every notification into the swallowing proxy")?;
    Ok(round)
}

/// Sum of `firegrid_dispatches_total{channel="mqtt",outcome=…}`.
async fn mqtt_count(base: &str, outcome: &str) -> Result<f64> {
    let outcome = format!(r#"outcome="{outcome}""#);
    support::api::metric_sum(base, "firegrid_dispatches_total", &[r#"channel="mqtt""#, &outcome]).await
}

/// Nothing reached the broker, and firegrid marked nothing delivered.
async fn nothing_delivered(s: &mut Setup, id: &str) -> Result<()> {
    for n in notifications(&s.base, id).await?.iter().filter(|n| n["channel"] == "mqtt") {
        ensure!(n["state"] == "pending" && n["delivered_at_ms"].is_null(), "delivered before the broker had it: {n}");
    }
    ensure!(mqtt_count(&s.base, "delivered").await? == 0.0, "counted as delivered before the broker had it");
    // Every notification went into the proxy already: had one passed, the broker would have it before the marker.
    s.watch.sync().await?;
    ensure!(s.watch.seen.is_empty(), "the broker got what the network dropped: {:?}", s.watch.seen);
    Ok(())
}

/// The station (the watcher, deduplicating by key) gets every key, and every row ends delivered
/// by a PUBACK after `since_ms`.
async fn every_key_delivered(s: &mut Setup, id: &str, keys: &BTreeSet<String>, since_ms: i64) -> Result<()> {
    support::eventually(Duration::from_secs(30), || async {
        let rows = notifications(&s.base, id).await?;
        let mqtt: Vec<&serde_json::Value> = rows.iter().filter(|n| n["channel"] == "mqtt").collect();
        let done = mqtt.iter().all(|n| n["state"] == "delivered" && n["delivered_at_ms"].as_i64() >= Some(since_ms));
        Ok((mqtt.len() == keys.len() && done).then_some(()))
    })
    .await
    .context("every MQTT row marked delivered, after the broker could have it")?;
    // Delivered means the broker has it: after the marker, the station has every copy it will get.
    s.watch.sync().await?;
    let per_key = s.watch.per_key();
    let received: BTreeSet<String> = per_key.keys().cloned().collect();
    ensure!(&received == keys, "after deduplication by key the station has {received:?}, expected {keys:?}");
    println!("messages per key at the station: {per_key:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_lost_on_the_way_to_the_broker_is_delivered_after_a_sigkill_and_restart_once_per_key() -> Result<()>
{
    tokio::time::timeout(Duration::from_secs(150), async {
        let mut s = setup().await?;
        let (id, keys) = fire_into_the_void(&s).await?;
        nothing_delivered(&mut s, &id).await?;

        s.fg.kill9();
        s.proxy.swallow(false);
        let back = firegrid_ingest::clock::now_ms();
        s.fg.kill9_and_restart().await?;
        every_key_delivered(&mut s, &id, &keys, back).await?;
        s.fg.stop(Duration::from_secs(10)).await
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_lost_before_a_reconnect_is_sent_again_on_the_new_connection() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut s = setup().await?;
        let (id, keys) = fire_into_the_void(&s).await?;
        nothing_delivered(&mut s, &id).await?;

        // The network recovers, but what it dropped is gone: only a new connection brings the rows over.
        s.proxy.swallow(false);
        let back = firegrid_ingest::clock::now_ms();
        s.proxy.cut_dispatch();
        every_key_delivered(&mut s, &id, &keys, back).await?;
        let failed = mqtt_count(&s.base, "failed").await?;
        ensure!(failed >= keys.len() as f64, "each row lost with the connection is a failed attempt: {failed}");
        s.fg.stop(Duration::from_secs(10)).await
    })
    .await
    .context("test timed out")?
}
