//! No incident without a recipient (DESIGN §6), end to end with a real mosquitto and
//! VictoriaMetrics: with every station off duty and no grid manager, a fire is unroutable —
//! counted, listed for the console's banner — and it is dispatched as soon as an admin sets a
//! station available through the HTTP API; a second one as soon as a registry reload brings a
//! new station.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_ingest::{Device, Tier};
use serde_json::Value;
use support::api::metric;
use support::dispatch::*;
use support::registry::{detector, neighbour, station, write_stations, COMMUNITY};
use support::watch::DispatchWatch;
use support::{fleet, Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

/// Two households of 五星路社区 without a grid manager.
fn gridless() -> Vec<Device> {
    vec![
        Device { grid_id: String::new(), ..detector("sd-u1", "hh-u1") },
        Device { grid_id: String::new(), ..neighbour("sd-u2", "hh-u2") },
    ]
}

/// The banner's list, as a dispatcher's console reads it.
async fn banner(base: &str, token: &str) -> Result<Vec<Value>> {
    Ok(get(base, token, "/api/v1/dispatch/unroutable").await?["incidents"].as_array().context("incidents")?.clone())
}

/// Waits until the banner lists exactly one incident, other than `except`; returns it.
async fn unroutable_one(base: &str, except: &str) -> Result<Value> {
    support::eventually(Duration::from_secs(20), || async {
        let list = banner(base, DISPATCHER).await?;
        Ok((list.len() == 1 && list[0]["incident_id"] != except).then(|| list[0].clone()))
    })
    .await
    .context("an unroutable incident in the console's list")
}

/// Waits until `station` gets the first round of `incident` on MQTT.
async fn dispatched_to(watch: &mut DispatchWatch, station: &str, incident: &str) -> Result<()> {
    let topic = format!("firegrid/v1/dispatch/{station}");
    watch
        .until(Duration::from_secs(20), |seen| {
            seen.iter()
                .any(|(t, v)| *t == topic && v["incident_id"] == incident && v["role"] == "respond" && v["seq"] == 1)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_incident_is_counted_shown_and_dispatched_once_a_station_is_available_or_registered() -> Result<()>
{
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let mut off_duty = stations("");
        for s in &mut off_duty {
            s.available = false;
        }
        let reg = write_registry(dir.path(), &gridless(), &off_duty, &[])?;
        let client_id = format!("firegrid-unroutable-{}", std::process::id());
        let mut c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), &client_id);
        c.api.tokens_file = write_tokens(dir.path())?.display().to_string();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let base = format!("http://{}", running.http_addr);
        let mut watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;

        // Nobody to send the first fire to: counted, listed, not dispatched.
        support::publish::publish_all(mqtt.port(), "unroutable-sensor-1", vec![alarm("sd-u1", 1)]).await?;
        let first = unroutable_one(&base, "").await?;
        let id1 = first["incident_id"].as_str().context("incident_id")?.to_owned();
        ensure!(first["class"] == "fire" && first["unroutable_since_ms"].is_i64(), "{first}");
        ensure!(metric(&base, r#"firegrid_dispatch_unroutable_total{class="fire"}"#).await? == 1.0);
        ensure!(metric(&base, r#"firegrid_dispatch_unroutable{class="fire"}"#).await? == 1.0);
        ensure!(banner(&base, STATION).await?.is_empty(), "a station token sees no incident it was not notified of");
        let inc = get(&base, ADMIN, &format!("/api/v1/incidents/{id1}")).await?;
        ensure!(inc["incident"]["status"] == "open", "{inc}");
        let queued = notifications(&base, &id1).await?;
        ensure!(queued.iter().all(|n| n["channel"] != "mqtt"), "queued for nobody: {queued:?}");
        watch.sync().await?;
        ensure!(watch.seen.is_empty(), "dispatched to nobody, yet: {:?}", watch.seen);

        // An admin sets the covering micro station available over HTTP: the incident goes to it.
        let path = "/api/v1/stations/ms-500112002001/availability";
        ensure!(post(&base, ADMIN, path, r#"{"status":"available"}"#).await?.is_success());
        dispatched_to(&mut watch, "ms-500112002001", &id1).await?;
        support::eventually(Duration::from_secs(10), || async {
            let inc = get(&base, ADMIN, &format!("/api/v1/incidents/{id1}")).await?;
            Ok((inc["incident"]["status"] == "dispatched" && banner(&base, DISPATCHER).await?.is_empty()).then_some(()))
        })
        .await
        .context("dispatched and off the banner")?;
        ensure!(metric(&base, r#"firegrid_dispatch_unroutable{class="fire"}"#).await? == 0.0);

        // The station is busy again; a second fire is unroutable until a registry reload brings a new station.
        ensure!(post(&base, ADMIN, path, r#"{"status":"busy"}"#).await?.is_success());
        support::publish::publish_all(mqtt.port(), "unroutable-sensor-2", vec![alarm("sd-u2", 1)]).await?;
        let second = unroutable_one(&base, &id1).await?;
        let id2 = second["incident_id"].as_str().context("incident_id")?.to_owned();
        ensure!(metric(&base, r#"firegrid_dispatch_unroutable_total{class="fire"}"#).await? == 2.0);
        let second = station(
            "ms-500112002009",
            "五星路二号微型消防站",
            Tier::Micro,
            ("500112002", COMMUNITY),
            (29.7208, 106.6305),
        );
        write_stations(&reg, &[off_duty, vec![second]].concat())?;
        running.registry.reload()?;
        dispatched_to(&mut watch, "ms-500112002009", &id2).await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(banner(&base, DISPATCHER).await?.is_empty().then_some(()))
        })
        .await
        .context("off the banner after the reload")?;
        ensure!(
            metric(&base, r#"firegrid_dispatch_unroutable_total{class="fire"}"#).await? == 2.0,
            "counted once each"
        );
        ensure!(metric(&base, r#"firegrid_dispatch_unroutable{class="fire"}"#).await? == 0.0);

        shutdown.cancel();
        running.wait().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}
