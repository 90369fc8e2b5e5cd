//! A reading is acknowledged only after the alert engine has committed what it changed, and the
//! rule state that later decisions depend on survives a restart: the real binary is killed with
//! SIGKILL five times at random moments of a stream with fires in it (each fire is two
//! consecutive smoke readings over the alarm value, the smoke rule's confirmation), and after the
//! last restart every fire has exactly one incident and its station's `respond` notification.
//! A second test splits one confirmation deterministically across a kill.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_ingest::Device;
use support::dispatch::{self, ADMIN};
use support::process::Firegrid;
use support::registry::detector;
use support::watch::DispatchWatch;
use support::{Mosquitto, VictoriaMetrics};

const FIRES: usize = 20;
const BACKGROUND: usize = 200;
const RATE: u32 = 400;
const MICRO: &str = "ms-500112002001";

fn topic(device: &str) -> String {
    format!("firegrid/v1/500112/500112002/smoke/{device}")
}

fn reading(ts: i64, seq: u64, obscuration: f64) -> Vec<u8> {
    format!(r#"{{"ts":{ts},"seq":{seq},"values":{{"obscuration_db_m":{obscuration},"temperature_c":24.0}}}}"#)
        .into_bytes()
}

/// Households `hh-0…` of two detectors each and `BACKGROUND` lone detectors, all in 五星路社区.
fn devices() -> Vec<Device> {
    let at = |id: String, hh: String| Device { address: "5 栋".to_owned(), ..detector(&id, &hh) };
    let fires = (0..FIRES)
        .flat_map(|k| [at(format!("sd-{k}-a"), format!("hh-{k}")), at(format!("sd-{k}-b"), format!("hh-{k}"))]);
    let background = (0..BACKGROUND).map(|i| at(format!("bg-{i}"), format!("bh-{i}")));
    fires.chain(background).collect()
}

struct Rig {
    _dir: tempfile::TempDir,
    mqtt: Mosquitto,
    _vm: VictoriaMetrics,
    firegrid: Firegrid,
    watch: DispatchWatch,
}

impl Rig {
    async fn start() -> Result<Rig> {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let reg = dispatch::write_registry(dir.path(), &devices(), &dispatch::stations(""), &dispatch::grids(""))?;
        let config = dispatch::write_config(dir.path(), &mqtt.url(), &vm.url(), &reg, "")?;
        let firegrid = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        let watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
        Ok(Rig { _dir: dir, mqtt, _vm: vm, firegrid, watch })
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.firegrid.http_port)
    }

    /// Waits until firegrid has acknowledged every message it took (the engine committed them).
    async fn settled(&self) -> Result<()> {
        support::eventually(Duration::from_secs(30), || async {
            let received = self.firegrid.metric("firegrid_messages_received_total{kind=\"smoke\"}").await?;
            let unacked = self.firegrid.metric("firegrid_mqtt_unacked_messages").await?;
            Ok((received > 0.0 && unacked == 0.0).then_some(()))
        })
        .await
    }

    /// Fire incidents per household, from the API.
    async fn fires_by_household(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let v = dispatch::get(&self.api(), ADMIN, "/api/v1/incidents?class=fire&limit=1000").await?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for inc in v["incidents"].as_array().context("incidents")? {
            let hh = inc["household_id"].as_str().unwrap_or_default().to_owned();
            out.entry(hh).or_default().push(inc["id"].as_str().unwrap_or_default().to_owned());
        }
        Ok(out)
    }
}

/// Incident ids the micro station was told to `respond` to.
fn responded(seen: &[(String, serde_json::Value)]) -> BTreeSet<String> {
    seen.iter()
        .filter(|(t, m)| t.ends_with(&format!("/dispatch/{MICRO}")) && m["role"] == "respond")
        .filter_map(|(_, m)| m["incident_id"].as_str().map(str::to_owned))
        .collect()
}

/// 40 s of background readings at 400/s with `FIRES` fires, each fire's two readings 1 s apart.
fn stream(start_ms: i64) -> Vec<(String, Vec<u8>)> {
    let total = 40 * RATE as usize;
    let mut fires: BTreeMap<usize, (String, u64)> = BTreeMap::new();
    for k in 0..FIRES {
        let first = 400 + k * 700;
        fires.insert(first, (format!("sd-{k}-a"), 1));
        fires.insert(first + RATE as usize, (format!("sd-{k}-a"), 2));
    }
    (0..total)
        .map(|i| {
            let ts = start_ms + (i as i64) * 1000 / i64::from(RATE);
            match fires.get(&i) {
                Some((dev, seq)) => (topic(dev), reading(ts, *seq, 0.31)),
                None => {
                    let n = i % BACKGROUND;
                    (topic(&format!("bg-{n}")), reading(ts, (i / BACKGROUND) as u64 + 1, 0.02))
                }
            }
        })
        .collect()
}

/// Five kill moments between 3 and 37 s, at least 5 s apart, from a seed printed for replay.
fn kill_moments(seed: u64) -> Vec<Duration> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..5).map(|i| Duration::from_millis(3_000 + i * 7_000 + next() % 2_000)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_during_a_stream_of_fires_lose_no_fire_and_open_none_twice() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let mut rig = Rig::start().await?;
        let seed = u64::try_from(firegrid_ingest::clock::now_ms()).unwrap_or(1);
        println!("kill seed {seed}");
        let msgs = stream(firegrid_ingest::clock::now_ms());
        let port = rig.mqtt.port();
        let publisher = tokio::spawn(async move { support::publish::publish_paced(port, "fires", msgs, RATE).await });
        let started = tokio::time::Instant::now();
        for at in kill_moments(seed) {
            tokio::time::sleep_until(started + at).await;
            rig.firegrid.kill9_and_restart().await?;
        }
        publisher.await??;

        // Every fire: one incident of its household, and the micro station told to respond.
        let fires = support::eventually(Duration::from_secs(60), || async {
            let fires = rig.fires_by_household().await?;
            Ok((fires.len() >= FIRES).then_some(fires))
        })
        .await
        .with_context(|| format!("not every fire opened an incident; log:\n{}", rig.firegrid.log_tail()))?;
        let ids: BTreeSet<String> = fires.values().flatten().cloned().collect();
        rig.watch.until(Duration::from_secs(60), |seen| responded(seen).is_superset(&ids)).await?;
        rig.settled().await?;
        let fires = rig.fires_by_household().await?;
        let twice: Vec<_> = fires.iter().filter(|(_, ids)| ids.len() != 1).collect();
        ensure!(twice.is_empty(), "households with more than one fire incident: {twice:?}");
        let want: BTreeSet<String> = (0..FIRES).map(|k| format!("hh-{k}")).collect();
        let got: BTreeSet<String> = fires.keys().cloned().collect();
        ensure!(got == want, "fire incidents of {got:?}, fires in {want:?}");
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_reading_smoke_confirmation_split_across_a_sigkill_is_still_confirmed() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut rig = Rig::start().await?;
        let now = firegrid_ingest::clock::now_ms();
        support::publish::publish_all(rig.mqtt.port(), "first", vec![(topic("sd-0-a"), reading(now, 1, 0.31))]).await?;
        // Acknowledged means the engine committed the reading's rule state (one reading over).
        rig.settled().await?;
        ensure!(rig.fires_by_household().await?.is_empty(), "one reading over the alarm value is not a fire yet");
        rig.firegrid.kill9_and_restart().await?;
        let now = firegrid_ingest::clock::now_ms();
        support::publish::publish_all(rig.mqtt.port(), "second", vec![(topic("sd-0-a"), reading(now, 2, 0.33))])
            .await?;
        let fires = support::eventually(Duration::from_secs(30), || async {
            let fires = rig.fires_by_household().await?;
            Ok((!fires.is_empty()).then_some(fires))
        })
        .await
        .with_context(|| format!("the confirmation was lost with the kill; log:\n{}", rig.firegrid.log_tail()))?;
        ensure!(fires.keys().eq(["hh-0"].iter()), "{fires:?}");
        let ids: BTreeSet<String> = fires.values().flatten().cloned().collect();
        rig.watch.until(Duration::from_secs(30), |seen| responded(seen).is_superset(&ids)).await?;
        Ok(())
    })
    .await?
}
