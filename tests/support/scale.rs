//! Scale-out fixtures (DESIGN §9): the real binary in a role (`ingest` on a shared group,
//! `alert`), a backlog of a test fleet's readings, what the store holds of it counted per reading,
//! and what each instance received.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Result};

use super::fleet::{self, TestDevice};
use super::process::Firegrid;

/// One reading: `(device_id, seq)`.
pub type Pair = (String, u64);

/// The environment that puts an instance into `role`, with its own client id (a persistent
/// session of its own), data directory and, when not empty, shared group.
pub fn role_env(role: &str, client_id: &str, shared_group: &str, data_dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("FIREGRID_NODE__ROLE".to_owned(), role.to_owned()),
        ("FIREGRID_MQTT__CLIENT_ID".to_owned(), client_id.to_owned()),
        ("FIREGRID_DATA__DIR".to_owned(), data_dir.display().to_string()),
    ];
    if !shared_group.is_empty() {
        env.push(("FIREGRID_MQTT__SHARED_GROUP".to_owned(), shared_group.to_owned()));
    }
    env
}

/// Writes `c` as `dir/firegrid.toml` for the real binary.
pub fn write_config(dir: &Path, c: &firegrid::Config) -> Result<PathBuf> {
    let path = dir.join("firegrid.toml");
    std::fs::write(&path, toml::to_string(c)?)?;
    Ok(path)
}

/// Starts an `ingest` instance of group `group` as client `client_id`, logging to `dir/{client_id}.log`.
pub async fn start_ingest(dir: &Path, config: &Path, client_id: &str, group: &str) -> Result<Firegrid> {
    let env = role_env("ingest", client_id, group, &dir.join(client_id));
    Firegrid::start(config, env, &dir.join(format!("{client_id}.log"))).await
}

/// `per_device` readings of every device, seq numbers from `first_seq`, measured in the last minute.
pub fn readings(devices: &[TestDevice], first_seq: u64, per_device: u64) -> Vec<(String, Vec<u8>)> {
    let now = firegrid_ingest::clock::now_ms();
    let mut out = Vec::with_capacity(devices.len() * per_device as usize);
    for seq in first_seq..first_seq + per_device {
        for d in devices {
            let ts = now - 60_000 + (seq as i64) * 3;
            out.push((fleet::topic(d), fleet::payload(d, seq, ts).into_bytes()));
        }
    }
    out
}

/// The readings [`readings`] publishes, as pairs.
pub fn pairs(devices: &[TestDevice], first_seq: u64, per_device: u64) -> BTreeSet<Pair> {
    devices.iter().flat_map(|d| (first_seq..first_seq + per_device).map(move |s| (d.id.clone(), s))).collect()
}

/// How many times the store holds each reading (its sample in the `*_seq` series; run
/// VictoriaMetrics without deduplication to see every write).
pub async fn stored_counts(vm: &super::VictoriaMetrics) -> Result<BTreeMap<Pair, usize>> {
    let mut out = BTreeMap::new();
    for s in vm.export(r#"{__name__=~"(smoke|electrical|forest_ir)_seq"}"#).await? {
        let dev = s.label("device_id").unwrap_or_default().to_owned();
        for v in &s.values {
            *out.entry((dev.clone(), *v as u64)).or_default() += 1;
        }
    }
    Ok(out)
}

/// Waits (polling the store every second, at most `timeout`) until it holds every reading of
/// `want`; returns the counts of those readings.
pub async fn wait_stored(
    vm: &super::VictoriaMetrics,
    want: &BTreeSet<Pair>,
    timeout: Duration,
) -> Result<BTreeMap<Pair, usize>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut got = stored_counts(vm).await?;
        got.retain(|p, _| want.contains(p));
        if got.len() == want.len() {
            return Ok(got);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {} readings stored within {timeout:?}; missing e.g. {:?}",
            got.len(),
            want.len(),
            want.iter().find(|p| !got.contains_key(*p))
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The MQTT messages an instance received (`firegrid_messages_received_total`, every kind).
pub async fn received(f: &Firegrid) -> Result<f64> {
    super::api::metric_sum(&format!("http://127.0.0.1:{}", f.http_port), "firegrid_messages_received_total", &[]).await
}

/// Publishes warm-up readings of device `wu-{n}` (outside any test fleet) until every instance
/// has received one: each has subscribed, so the broker routes the group's share to it from now
/// on. Returns how many warm-up readings went out.
pub async fn warm_up(broker_port: u16, instances: &[&Firegrid]) -> Result<u64> {
    let mut sent = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = true;
        for f in instances {
            all &= received(f).await? > 0.0;
        }
        if all {
            return Ok(sent);
        }
        ensure!(tokio::time::Instant::now() < deadline, "not every instance received a warm-up reading");
        sent += 1;
        let p = format!(r#"{{"seq":{sent},"status":"normal","values":{{"obscuration_db_m":0.01}}}}"#);
        let t = "firegrid/v1/500112/500112100/smoke/wu-1".to_owned();
        super::publish::publish_all(broker_port, "warm-up", vec![(t, p.into_bytes())]).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until an instance is idle: nothing unacknowledged and its received count unchanged
/// over one poll interval (500 ms — idleness is a condition over time), at most `timeout`.
/// Returns the received count.
pub async fn idle(f: &Firegrid, timeout: Duration) -> Result<f64> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = -1.0;
    loop {
        let now = received(f).await?;
        let unacked = f.metric("firegrid_mqtt_unacked_messages").await?;
        if now == last && unacked == 0.0 {
            return Ok(now);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "not idle within {timeout:?}: {now} received, {unacked} unacked"
        );
        last = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until a shared group routes every new reading to `survivor`: probe readings (device
/// `wu-2`) are published one at a time until three in a row reach it. While another member's
/// session lives, mosquitto's round robin sends it every other probe. At most 30 s.
pub async fn expired_from_group(broker_port: u16, survivor: &Firegrid) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (mut seq, mut in_a_row) = (0u64, 0);
    while in_a_row < 3 {
        ensure!(tokio::time::Instant::now() < deadline, "the group still routes probes elsewhere after 30 s");
        seq += 1;
        let before = received(survivor).await?;
        let p = format!(r#"{{"seq":{seq},"status":"normal","values":{{"obscuration_db_m":0.01}}}}"#);
        let t = "firegrid/v1/500112/500112100/smoke/wu-2".to_owned();
        super::publish::publish_all(broker_port, "probe", vec![(t, p.into_bytes())]).await?;
        // A probe that does not reach the survivor within the bound went to the other member.
        let reached = super::eventually(Duration::from_millis(500), || async {
            Ok((received(survivor).await? > before).then_some(()))
        })
        .await
        .is_ok();
        in_a_row = if reached { in_a_row + 1 } else { 0 };
    }
    Ok(())
}
