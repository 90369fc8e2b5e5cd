//! A reading is acknowledged only after the alert engine has committed what it changed, and
//! `/readyz` says so when the engine cannot: the incident database is locked from outside (a
//! real SQLite lock on firegrid's own file), an alarm arrives, and the test checks that its
//! message stays unacknowledged and `/readyz` answers 503 with the reason — then that releasing
//! the lock lets the incident open and the ack leave.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet;
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

async fn get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String)> {
    let r = reqwest::get(format!("http://{addr}{path}")).await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> Result<f64> {
    support::api::metric(&format!("http://{addr}"), name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_is_not_acknowledged_while_the_incident_store_cannot_commit_and_readyz_says_why() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let devices = fleet::devices(10);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-alert-health");
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let addr = running.http_addr;
        support::eventually(Duration::from_secs(10), || async {
            Ok((get(addr, "/readyz").await?.0 == 200).then_some(()))
        })
        .await?;

        // Hold the incident database's write lock from another connection.
        let db = rusqlite::Connection::open(dir.path().join("data/incidents.sqlite3"))?;
        db.execute_batch("BEGIN IMMEDIATE")?;

        let d = devices.iter().find(|d| d.kind == "smoke" && d.registered).context("a registered smoke detector")?;
        let alarm = br#"{"seq":1,"status":"alarm","values":{"obscuration_db_m":0.4,"alarm":true}}"#.to_vec();
        support::publish::publish_all(mqtt.port(), "alarm", vec![(fleet::topic(d), alarm)]).await?;

        let (code, body) = support::eventually(Duration::from_secs(30), || async {
            let (code, body) = get(addr, "/readyz").await?;
            Ok((code == 503 && body.contains("incident_store_failing")).then_some((code, body)))
        })
        .await?;
        ensure!(code == 503, "{body}");
        // Stored (the store's part is done), but not acknowledged: the engine's part is not.
        ensure!(
            metric(addr, "firegrid_mqtt_unacked_messages").await? == 1.0,
            "the alarm's ack must wait for the engine"
        );

        db.execute_batch("ROLLBACK")?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((metric(addr, "firegrid_mqtt_unacked_messages").await? == 0.0 && get(addr, "/readyz").await?.0 == 200)
                .then_some(()))
        })
        .await?;
        let (_, text) = get(addr, "/metrics").await?;
        ensure!(
            text.lines().any(|l| l.starts_with("firegrid_incidents_opened_total{class=\"fire\"") && !l.ends_with(" 0")),
            "the fire opens once the store commits"
        );
        shutdown.cancel();
        running.wait().await?;
        Ok(())
    })
    .await?
}
