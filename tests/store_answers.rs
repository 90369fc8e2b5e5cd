//! What firegrid does with the store's refusals, against a real InfluxDB 1.x (VictoriaMetrics
//! never answers 400 for a line, nor 401): a line refused with 400 is found by bisecting the
//! batch and dead-lettered with the server's message while the rest of the batch is stored; a
//! store refusing the credentials (401) or the write (403, a user without the write privilege)
//! leaves the readings in the spool and `/readyz` says `unauthorized`.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::influxdb::{InfluxDb, DATABASE};
use support::watch::DeadLetterWatch;
use support::Mosquitto;
use tokio_util::sync::CancellationToken;

/// Settings for firegrid writing to `store_url` (an InfluxDB 1.x) through the v1 API with `token`.
fn settings(
    dir: &Path,
    mqtt: &Mosquitto,
    store_url: &str,
    devices: &[TestDevice],
    token: &str,
) -> Result<firegrid::Settings> {
    let reg = fleet::write_registry(dir, devices)?;
    let client_id = format!("firegrid-store-answers-{}", std::process::id());
    let mut c = fleet::harness_config(dir, &reg, &mqtt.url(), store_url, &client_id);
    c.store.influxdb.api = "v1".into();
    c.store.influxdb.bucket = DATABASE.into();
    c.store.influxdb.token = firegrid_ingest::config::Secret(token.to_owned());
    Ok(c.validate()?)
}

/// One reading per registered device, seq 1, at `ts`.
fn readings(devices: &[TestDevice], ts: i64) -> Vec<(String, Vec<u8>)> {
    devices.iter().filter(|d| d.registered).map(|d| (fleet::topic(d), fleet::payload(d, 1, ts).into_bytes())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_store_refuses_with_400_is_dead_lettered_with_its_message_and_the_rest_of_the_batch_is_stored(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let influx = InfluxDb::start().await?;
        let dir = tempfile::tempdir()?;
        let devices: Vec<TestDevice> = fleet::devices(40).into_iter().filter(|d| d.kind != "forest_ir").collect();
        let ts = firegrid_ingest::clock::now_ms() - 10_000;
        // Smoke's `battery_pct` already holds a string in this shard: InfluxDB answers 400 "field
        // type conflict" to every smoke line firegrid writes, and takes the electrical ones.
        influx.write_lines(&format!("smoke,device_id=seed battery_pct=\"full\" {ts}")).await?;
        let shutdown = CancellationToken::new();
        let running =
            firegrid::start(settings(dir.path(), &mqtt, &influx.url(), &devices, "")?, shutdown.clone()).await?;
        let mut dead = DeadLetterWatch::start(mqtt.port()).await?;
        let sent = readings(&devices, ts);
        let smoke = devices.iter().filter(|d| d.registered && d.kind == "smoke").count();
        let electrical = sent.len() - smoke;
        support::publish::publish_all(mqtt.port(), "store-400-pub", sent).await?;

        let letters = dead.collect(smoke, Duration::from_secs(30)).await;
        ensure!(letters.len() == smoke, "{} dead letters for {smoke} smoke readings: {letters:?}", letters.len());
        for l in &letters {
            ensure!(l["reason"] == "store_rejected", "{l}");
            let detail = l["detail"].as_str().unwrap_or_default();
            ensure!(detail.contains("field type conflict"), "the server's message is in the dead letter: {l}");
            ensure!(l["topic"].as_str().is_some_and(|t| t.contains("/smoke/")), "{l}");
        }
        let stored = support::eventually(Duration::from_secs(10), || async {
            let rows = influx.rows("SELECT residual_current_ma FROM electrical").await?;
            Ok((rows.len() >= electrical).then_some(rows.len()))
        })
        .await
        .context("the electrical readings of the same batches stored")?;
        ensure!(stored == electrical, "{stored} electrical rows for {electrical} readings");
        let api = format!("http://{}", running.http_addr);
        let rejected = support::api::metric(&api, "firegrid_write_batches_total{outcome=\"rejected\"}").await?;
        ensure!(rejected > smoke as f64, "bisecting splits batches before single lines are refused ({rejected})");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refusing_the_credentials_spools_the_readings_and_readyz_says_unauthorized() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let influx = InfluxDb::start_with(true).await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(30);
        let s = settings(dir.path(), &mqtt, &influx.url(), &devices, "not-a-valid-token")?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        let sent = readings(&devices, firegrid_ingest::clock::now_ms() - 10_000);
        let n = sent.len() as f64;
        support::publish::publish_all(mqtt.port(), "store-401-pub", sent).await?;

        spooled_and_unauthorized(&api, n).await?;
        ensure!(influx.rows("SELECT * FROM smoke").await?.is_empty(), "nothing got past the refusal");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_forbidding_the_write_spools_the_readings_and_readyz_says_unauthorized() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let influx = InfluxDb::start_with(true).await?;
        // A user InfluxDB knows, allowed to read the database and not to write it: its writes
        // are answered 403. InfluxDB 1.6 reads no `Token` header, so the credentials go in the
        // URL (reqwest sends them as basic auth).
        influx.statement("CREATE USER reader WITH PASSWORD 'reader-pw'").await?;
        influx.statement(&format!("GRANT READ ON \"{DATABASE}\" TO reader")).await?;
        let store_url = influx.url().replace("http://", "http://reader:reader-pw@");
        let probe = reqwest::Client::new()
            .post(format!("{store_url}/write?db={DATABASE}"))
            .body("smoke,device_id=probe battery_pct=1")
            .send()
            .await?;
        ensure!(probe.status().as_u16() == 403, "InfluxDB answers a read-only user's write with 403: {probe:?}");
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(30);
        let s = settings(dir.path(), &mqtt, &store_url, &devices, "")?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(s, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        let sent = readings(&devices, firegrid_ingest::clock::now_ms() - 10_000);
        let n = sent.len() as f64;
        support::publish::publish_all(mqtt.port(), "store-403-pub", sent).await?;

        spooled_and_unauthorized(&api, n).await?;
        ensure!(influx.rows("SELECT * FROM smoke").await?.is_empty(), "nothing got past the refusal");
        let dead = support::api::metric_sum(&api, "firegrid_deadletters_published_total", &[]).await?;
        ensure!(dead == 0.0, "a refused write is not a refused line: {dead} dead letters");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}

/// Waits until `n` points are spooled and `/readyz` says 503 with `store: unauthorized`.
async fn spooled_and_unauthorized(api: &str, n: f64) -> Result<()> {
    let (status, body) = support::eventually(Duration::from_secs(30), || async {
        let r = reqwest::get(format!("{api}/readyz")).await?;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await?;
        let spooled = support::api::metric(api, "firegrid_spool_appended_points_total").await?;
        Ok((body["store"] == "unauthorized" && spooled >= n).then_some((status, body)))
    })
    .await
    .context("readings spooled and /readyz unauthorized")?;
    ensure!(status == 503 && body["ready"] == false, "not ready while the store refuses firegrid: {status} {body}");
    Ok(())
}
