//! Dispatch under background load: the simulator's load generator (`firegrid simulate load --qos 1`)
//! sends readings of the sample registry of deploy/registry through a real mosquitto to firegrid
//! (and a real VictoriaMetrics), while a probe publishes fire alarms, each from a different
//! household, and waits for their notifications on the dispatch topics.
//!
//! * In CI: 250 probes, one every 10 ms, under 2,000 readings/s — every one must be dispatched
//!   (a few seconds).
//! * The measurement (ignored by default): `firegrid_dispatch_seconds` and the time from a
//!   sensor's publish to its station's dispatch topic, one probe every 100 ms under 20,000
//!   readings/s. Run: `cargo test --release --test dispatch_latency -- --ignored --nocapture`.
//!
//! Each runs on both incident stores: SQLite, and PostgreSQL on a private server of the harness
//! (`…_on_postgres`), so the two figures come from the same load and the same probes.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

/// Alarms the probe publishes, each from its own household.
const PROBES: usize = 250;

/// A load, the probes' pace under it, how long the load runs, and the incident store.
struct Load {
    rate: u32,
    seconds: u64,
    probe_every: Duration,
    store: Store,
}

/// The incident store of a run.
#[derive(Clone, Copy, Debug)]
enum Store {
    Sqlite,
    Postgres,
}

/// Smoke devices of distinct households: `(device_id, topic)`.
fn probe_devices(root: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(root.join("deploy/registry/devices.csv"))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 || f[1] != "smoke" || !seen.insert(f[6].to_owned()) {
            continue;
        }
        out.push((f[0].to_owned(), format!("firegrid/v1/{}/{}/smoke/{}", f[2], f[3], f[0])));
    }
    Ok(out)
}

/// Probe timings, ms: end to end, and split at firegrid's receive time into publish → firegrid
/// (broker and ingest queue) and firegrid → probe.
#[derive(Default)]
struct Samples {
    latencies: Vec<f64>,
    inbound: Vec<f64>,
    outbound: Vec<f64>,
}

impl Samples {
    fn record(
        &mut self,
        sent: &mut HashMap<String, (Instant, i64)>,
        d: String,
        at: Instant,
        received: i64,
        arrived: i64,
    ) {
        if let Some((t0, t0_ms)) = sent.remove(&d) {
            self.latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
            self.inbound.push((received - t0_ms) as f64);
            self.outbound.push((arrived - received) as f64);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A firegrid (in-process), the load and the probes: the samples of the probes dispatched, the
/// load generator's report, and the `/metrics` text at the end.
async fn probe_under_load(load: &Load) -> Result<(Samples, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mqtt = Mosquitto::start().await?;
    let vm = VictoriaMetrics::start().await?;
    let dir = tempfile::tempdir()?;
    let mut c = firegrid::Config::default();
    c.mqtt.url = mqtt.url();
    c.mqtt.client_id = format!("firegrid-latency-{}", std::process::id());
    c.store.influxdb.url = vm.url();
    for (k, v) in
        [("devices", &mut c.registry.devices), ("stations", &mut c.registry.stations), ("grids", &mut c.registry.grids)]
    {
        *v = root.join(format!("deploy/registry/{k}.csv")).display().to_string();
    }
    c.http.listen = "127.0.0.1:0".into();
    c.data.dir = dir.path().join("data").display().to_string();
    let _pg = match load.store {
        Store::Sqlite => None,
        Store::Postgres => {
            let pg = support::Postgres::start().await?;
            c.incidents.backend = "postgres".into();
            c.incidents.postgres.url = pg.create_database()?;
            Some(pg)
        }
    };
    let shutdown = CancellationToken::new();
    let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
    let api = format!("http://{}", running.http_addr);

    let (client, mut arrived_rx, probe_loop) = probe(mqtt.port()).await?;
    let load_child = tokio::process::Command::new(env!("CARGO_BIN_EXE_firegrid"))
        .args(["simulate", "load", "--url", &mqtt.url(), "--rate", &load.rate.to_string(), "--qos", "1", "--json"])
        .args(["--duration", &format!("{}s", load.seconds), "--registry-dir"])
        .arg(root.join("deploy/registry"))
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("load generator")?;
    // Probe once the load runs through the pipeline: two seconds' worth of it taken in.
    support::eventually(Duration::from_secs(60), || async {
        let received = support::api::metric_sum(&api, "firegrid_messages_received_total", &[]).await?;
        Ok((received >= 2.0 * f64::from(load.rate)).then_some(()))
    })
    .await
    .context("the load reaching firegrid")?;

    let devices = probe_devices(root)?;
    ensure!(devices.len() >= PROBES);
    let mut sent: HashMap<String, (Instant, i64)> = HashMap::new();
    let mut samples = Samples::default();
    for (i, (id, topic)) in devices.iter().take(PROBES).enumerate() {
        let ts = firegrid_ingest::clock::now_ms();
        let payload = format!(
            r#"{{"ts":{ts},"seq":{},"status":"alarm","values":{{"obscuration_db_m":0.4,"alarm":true}}}}"#,
            1_000_000 + i
        );
        sent.insert(id.clone(), (Instant::now(), firegrid_ingest::clock::now_ms()));
        client.publish(topic.clone(), QoS::AtLeastOnce, false, payload).await?;
        let until = Instant::now() + load.probe_every;
        while let Ok(Some((d, at, rec, arr))) = tokio::time::timeout_at(until.into(), arrived_rx.recv()).await {
            samples.record(&mut sent, d, at, rec, arr);
        }
    }
    let until = Instant::now() + Duration::from_secs(10);
    while !sent.is_empty() {
        match tokio::time::timeout_at(until.into(), arrived_rx.recv()).await {
            Ok(Some((d, at, rec, arr))) => samples.record(&mut sent, d, at, rec, arr),
            _ => break,
        }
    }
    let out = load_child.wait_with_output().await?;
    let metrics = reqwest::get(format!("{api}/metrics")).await?.text().await?;
    probe_loop.abort();
    shutdown.cancel();
    running.wait().await?;
    Ok((samples, String::from_utf8_lossy(&out.stdout).into_owned(), metrics))
}

/// What the probe's subscription saw: `(device_id, arrival, received_at, now_ms)` per first round.
type Arrivals = tokio::sync::mpsc::UnboundedReceiver<(String, Instant, i64, i64)>;

/// The probe: a client subscribed to every dispatch topic (SUBACK awaited), publishing alarms.
async fn probe(port: u16) -> Result<(AsyncClient, Arrivals, tokio::task::JoinHandle<()>)> {
    let mut opts = MqttOptions::new("latency-probe", "127.0.0.1", port);
    opts.set_max_packet_size(Some(1 << 20)).set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(opts, 1000);
    client.subscribe("firegrid/v1/dispatch/#", QoS::AtLeastOnce).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), el.poll()).await.context("SUBACK")? {
            Ok(Event::Incoming(Packet::SubAck(_))) => break,
            Ok(_) => {}
            Err(e) => anyhow::bail!("probe: {e}"),
        }
    }
    let (arrived_tx, arrived_rx) = tokio::sync::mpsc::unbounded_channel();
    let probe_loop = tokio::spawn(async move {
        while let Ok(ev) = el.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) {
                    if v["seq"] == 1 {
                        if let Some(d) = v["evidence"][0]["device_id"].as_str() {
                            let received = v["received_at"].as_i64().unwrap_or(0);
                            let _ = arrived_tx.send((d.to_owned(), now, received, firegrid_ingest::clock::now_ms()));
                        }
                    }
                }
            }
        }
    });
    Ok((client, arrived_rx, probe_loop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_alarm_is_dispatched_under_background_load() -> Result<()> {
    every_probe_dispatched(Store::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_alarm_is_dispatched_under_background_load_on_postgres() -> Result<()> {
    every_probe_dispatched(Store::Postgres).await
}

async fn every_probe_dispatched(store: Store) -> Result<()> {
    let load = Load { rate: 2000, seconds: 8, probe_every: Duration::from_millis(10), store };
    let (samples, report, _) =
        tokio::time::timeout(Duration::from_secs(120), probe_under_load(&load)).await.context("bounded")??;
    println!("load generator: {}", report.trim());
    let n = samples.latencies.len();
    ensure!(n == PROBES, "{n} of {PROBES} probes were dispatched under {} readings/s", load.rate);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn dispatch_latency_under_twenty_thousand_readings_per_second() -> Result<()> {
    measure(Store::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn dispatch_latency_under_twenty_thousand_readings_per_second_on_postgres() -> Result<()> {
    measure(Store::Postgres).await
}

/// The measurement under 20,000 readings/s (rate overridable with `FIREGRID_LATENCY_RATE`).
async fn measure(store: Store) -> Result<()> {
    let rate = std::env::var("FIREGRID_LATENCY_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(20_000);
    let load = Load { rate, seconds: 40, probe_every: Duration::from_millis(100), store };
    println!("incident store: {store:?}, {rate} readings/s");
    let (samples, load_report, metrics) = probe_under_load(&load).await?;
    let received: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("firegrid_messages_received_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let Samples { mut latencies, mut inbound, mut outbound } = samples;
    latencies.sort_by(f64::total_cmp);
    inbound.sort_by(f64::total_cmp);
    outbound.sort_by(f64::total_cmp);
    println!("load generator: {}", load_report.trim());
    println!("firegrid received {received} readings");
    println!(
        "sensor publish -> station dispatch topic: n={} (of {PROBES}) p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  publish -> firegrid receipt: p50={:.0} ms p99={:.0} ms; receipt -> probe: p50={:.0} ms p99={:.0} ms",
        percentile(&inbound, 0.5),
        percentile(&inbound, 0.99),
        percentile(&outbound, 0.5),
        percentile(&outbound, 0.99)
    );
    for l in metrics.lines().filter(|l| l.starts_with("firegrid_dispatch_seconds")) {
        println!("{l}");
    }
    ensure!(latencies.len() == PROBES, "{} of {PROBES} probes were dispatched", latencies.len());
    Ok(())
}
