//! Every station and grid-manager message of the contract (DESIGN §6) over MQTT end to end, with a
//! real mosquitto and VictoriaMetrics: a station's `ack`, `on_scene`, `resolve` and `false_alarm`
//! on `{prefix}/ack/{station_id}`; a grid manager's `confirm`, `ack` and `rectified` on
//! `{prefix}/ack/grid/{grid_id}` (and its `resolve` of a fire refused with a dead letter);
//! availability `busy` and `available` on `{prefix}/status/{station_id}`; and a reading with
//! status `test` is stored and raises nothing.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use support::dispatch::{devices, get, grids, stations, write_registry, write_tokens, ADMIN};
use support::registry::GRID;
use support::watch::DeadLetterWatch;
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

const MICRO: &str = "ms-500112002001";
const SECOND_MICRO: &str = "ms-500112002002";

/// A running firegrid with the dispatch fixtures, and the brokers it talks to.
struct Rig {
    mqtt: Mosquitto,
    vm: VictoriaMetrics,
    api: String,
    shutdown: CancellationToken,
    running: firegrid::Running,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Result<Rig> {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let reg = write_registry(dir.path(), &devices(), &stations(""), &grids(""))?;
        let client_id = format!("firegrid-station-actions-{}", std::process::id());
        let mut c = support::fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), &client_id);
        c.api.tokens_file = write_tokens(dir.path())?.display().to_string();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        Ok(Rig { mqtt, vm, api, shutdown, running, _dir: dir })
    }

    /// Publishes one message (QoS 1, acknowledged by the broker).
    async fn publish(&self, topic: String, payload: String) -> Result<()> {
        support::publish::publish_all(self.mqtt.port(), "station-actions-pub", vec![(topic, payload.into_bytes())])
            .await
    }

    /// A reading of device `device` (all are smoke detectors of 五星路社区) with `status` and `values`.
    async fn reading(&self, device: &str, seq: u64, status: &str, values: &str) -> Result<()> {
        let ts = firegrid_ingest::clock::now_ms();
        let topic = format!("firegrid/v1/500112/500112002/smoke/{device}");
        self.publish(topic, format!(r#"{{"ts":{ts},"seq":{seq},"status":"{status}","values":{values}}}"#)).await
    }

    /// `action` on incident `id` from `sender` (`ms-…` a station, `grid/{grid_id}` a grid manager).
    async fn act(&self, sender: &str, id: &str, action: &str) -> Result<()> {
        let body = format!(r#"{{"incident_id":"{id}","action":"{action}","by":"李四","note":"{action}"}}"#);
        self.publish(format!("firegrid/v1/ack/{sender}"), body).await
    }

    /// Waits for the incident of `class` with `device` among its devices, in `status`, once `grid`
    /// was notified (a fire is then `dispatched`; a hazard stays `open` until acknowledged).
    async fn incident(&self, class: &str, device: &str, status: &str) -> Result<Value> {
        let found = support::eventually(Duration::from_secs(15), || async {
            let list = get(&self.api, ADMIN, "/api/v1/incidents").await?;
            let found = list["incidents"].as_array().context("incidents")?.iter().find(|i| {
                i["class"] == class
                    && i["status"] == status
                    && i["devices"].as_array().is_some_and(|d| d.iter().any(|d| d == device))
                    && i["notified_grids"].as_array().is_some_and(|g| g.iter().any(|g| g == GRID))
            });
            Ok(found.cloned())
        })
        .await;
        match found {
            Ok(v) => Ok(v),
            Err(e) => {
                let list = get(&self.api, ADMIN, "/api/v1/incidents").await?;
                Err(e.context(format!("a {class} incident of {device} {status}; the incidents: {list}")))
            }
        }
    }

    /// Waits for incident `id` to reach `status`; returns its detail (incident and audit).
    async fn reaches(&self, id: &str, status: &str) -> Result<Value> {
        support::eventually(Duration::from_secs(15), || async {
            let v = get(&self.api, ADMIN, &format!("/api/v1/incidents/{id}")).await?;
            Ok((v["incident"]["status"] == status).then_some(v))
        })
        .await
        .with_context(|| format!("incident {id} {status}"))
    }

    /// Waits for station `station`'s availability to read `status`.
    async fn station_is(&self, station: &str, status: &str) -> Result<()> {
        support::eventually(Duration::from_secs(15), || async {
            let v = get(&self.api, ADMIN, "/api/v1/stations").await?;
            let ok = v["stations"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["station_id"] == station && s["status"] == status));
            Ok(ok.then_some(()))
        })
        .await
        .with_context(|| format!("{station} {status}"))
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.running.wait()).await??;
        Ok(())
    }
}

/// Whether incident detail `v` has an audit entry of `event` by `actor`.
fn audited(v: &Value, event: &str, actor: &str) -> bool {
    v["audit"].as_array().is_some_and(|a| a.iter().any(|e| e["event"] == event && e["actor"] == actor))
}

fn id(incident: &Value) -> Result<String> {
    Ok(incident["id"].as_str().context("incident id")?.to_owned())
}

const ALARM: &str = r#"{"obscuration_db_m":0.42,"alarm":true}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_station_and_grid_action_over_mqtt_moves_the_incident_as_the_contract_says() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let rig = Rig::start().await?;
        let mut dead = DeadLetterWatch::start(rig.mqtt.port()).await?;
        let grid = format!("grid/{GRID}");
        let grid_actor = format!("grid:{GRID}");

        // A fire: the grid manager (told to verify) confirms it, may not resolve it; the micro
        // station (told to respond) acknowledges, is on scene and resolves it.
        rig.reading("sd-1", 1, "alarm", ALARM).await?;
        let fire = id(&rig.incident("fire", "sd-1", "dispatched").await?)?;
        rig.act(&grid, &fire, "confirm").await?;
        let v = support::eventually(Duration::from_secs(15), || async {
            let v = get(&rig.api, ADMIN, &format!("/api/v1/incidents/{fire}")).await?;
            Ok(audited(&v, "confirmed", &grid_actor).then_some(v))
        })
        .await
        .context("the grid manager's confirm audited")?;
        ensure!(v["incident"]["confirmed_by"] == grid_actor.as_str(), "{}", v["incident"]);
        rig.act(&grid, &fire, "resolve").await?;
        let letters = dead.collect(1, Duration::from_secs(10)).await;
        ensure!(letters.first().is_some_and(|l| l["reason"] == "forbidden"), "{letters:?}");
        for (action, status) in [("ack", "acknowledged"), ("on_scene", "on_scene"), ("resolve", "resolved")] {
            rig.act(MICRO, &fire, action).await?;
            let v = rig.reaches(&fire, status).await?;
            ensure!(audited(&v, status, &format!("station:{MICRO}")), "{action} audited: {}", v["audit"]);
        }

        // A neighbour's alarm the micro station finds to be no fire.
        rig.reading("sd-3", 1, "alarm", ALARM).await?;
        let other = id(&rig.incident("fire", "sd-3", "dispatched").await?)?;
        rig.act(MICRO, &other, "false_alarm").await?;
        rig.reaches(&other, "false_alarm").await?;

        // A detector reporting a fault: a hazard for the grid manager to rectify (整改).
        rig.reading("sd-2", 1, "fault", r#"{"obscuration_db_m":0.01,"alarm":false}"#).await?;
        let hazard = id(&rig.incident("hazard", "sd-2", "open").await?)?;
        for (action, status) in [("ack", "acknowledged"), ("rectified", "rectified")] {
            rig.act(&grid, &hazard, action).await?;
            let v = rig.reaches(&hazard, status).await?;
            ensure!(audited(&v, status, &grid_actor), "{action} audited: {}", v["audit"]);
        }

        // Availability over MQTT, both ways.
        for status in ["busy", "available"] {
            rig.publish(format!("firegrid/v1/status/{SECOND_MICRO}"), format!(r#"{{"status":"{status}"}}"#)).await?;
            rig.station_is(SECOND_MICRO, status).await?;
        }
        rig.stop().await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_with_status_test_over_mqtt_is_stored_and_never_alarms() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let rig = Rig::start().await?;
        // The test button of a neighbour's detector (alarm values, status `test`), then a real
        // alarm of another household as a marker: once its incident exists, the test reading
        // before it has been evaluated.
        rig.reading("sd-3", 7, "test", ALARM).await?;
        rig.reading("sd-1", 1, "alarm", ALARM).await?;
        rig.incident("fire", "sd-1", "dispatched").await?;
        let list = get(&rig.api, ADMIN, "/api/v1/incidents").await?;
        let incidents = list["incidents"].as_array().context("incidents")?;
        ensure!(
            incidents.len() == 1 && !incidents.iter().any(|i| i.to_string().contains("sd-3")),
            "the test reading raised something: {incidents:?}"
        );
        let stored = support::eventually(Duration::from_secs(10), || async {
            let series = rig.vm.export(r#"smoke_seq{device_id="sd-3"}"#).await?;
            Ok(series.into_iter().find(|s| s.values.contains(&7.0)))
        })
        .await
        .context("the test reading stored")?;
        ensure!(stored.label("status") == Some("test"), "stored with its status: {:?}", stored.label("status"));
        rig.stop().await
    })
    .await?
}
