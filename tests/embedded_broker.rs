//! The embedded broker is not open to anyone (DESIGN §7): with `mqtt.embedded_users_file` an
//! anonymous client or a wrong password is refused and a user gets in (real MQTT 3.1.1 clients),
//! while firegrid's own consumer and dispatch connection still get in on the internal listener; a
//! grid manager's forged `false_alarm` of a critical fire over MQTT is a `forbidden` dead letter;
//! and a non-loopback `embedded_listen` without users is refused by `run` and `check-config` (the
//! real binary).

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_alerting::access::private_file::write_private;
use support::login::{login, session, Login};
use support::process::run_to_exit;
use tokio_util::sync::CancellationToken;

const DISPATCHER: &str = "dispatcher-token-0123456789abcdef";
const PUBLISHER: (&str, &str) = ("platform-yubei", "publisher-password-0123456789");
const GRID: (&str, &str) = ("grid-500112002001-g1", "grid-password-0123456789");
const STATION: (&str, &str) = ("ms-500112002001", "station-password-0123456789");
const ALARM_TOPIC: &str = "firegrid/v1/500112/500112002/smoke/sd-eb-1";

/// A vulnerable household's smoke detector in 五星路社区 (渝北区); the stations and the grid of the
/// dispatch fixtures.
fn write_registry(dir: &Path) -> Result<firegrid_ingest::RegistryPaths> {
    let devices = [firegrid_ingest::Device { vulnerable: true, ..support::registry::detector("sd-eb-1", "hh-eb-1") }];
    support::dispatch::write_registry(dir, &devices, &support::dispatch::stations(""), &support::dispatch::grids(""))
}

/// firegrid in-process with the embedded broker on a free loopback port and a users file.
async fn start(dir: &Path) -> Result<(firegrid::Running, u16, CancellationToken)> {
    let reg = write_registry(dir)?;
    let users = format!(
        "username,password\n{},{}\n{},{}\n{},{}\n",
        PUBLISHER.0, PUBLISHER.1, GRID.0, GRID.1, STATION.0, STATION.1
    );
    write_private(&dir.join("users.csv"), &users)?;
    write_private(&dir.join("tokens.csv"), &format!("{DISPATCHER},dispatcher,duty\n"))?;
    let port = support::free_port()?;
    let mut c = firegrid::Config::standalone();
    c.mqtt.embedded_listen = format!("127.0.0.1:{port}");
    c.mqtt.embedded_users_file = dir.join("users.csv").display().to_string();
    c.mqtt.client_id = format!("firegrid-embedded-broker-{}", std::process::id());
    c.registry.devices = reg.devices.display().to_string();
    c.registry.stations = reg.stations.display().to_string();
    c.registry.grids = reg.grids.display().to_string();
    c.api.tokens_file = dir.join("tokens.csv").display().to_string();
    c.http.listen = "127.0.0.1:0".into();
    c.data.dir = dir.join("data").display().to_string();
    let shutdown = CancellationToken::new();
    let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
    let readyz = format!("http://{}/readyz", running.http_addr);
    support::eventually(Duration::from_secs(10), || {
        let url = readyz.clone();
        async move {
            let v: serde_json::Value = reqwest::get(url).await?.json().await?;
            Ok((v["mqtt_connected"] == true).then_some(()))
        }
    })
    .await
    .context("firegrid's own consumer logs in to the embedded broker")?;
    Ok((running, port, shutdown))
}

fn alarm() -> Vec<u8> {
    let ts = firegrid_ingest::clock::now_ms();
    format!(r#"{{"ts":{ts},"seq":1,"status":"alarm","values":{{"obscuration_db_m":0.42,"alarm":true}}}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_users_an_anonymous_client_is_refused_and_a_user_gets_in() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let (running, port, shutdown) = start(dir.path()).await?;
        let anonymous = login(port, "anonymous", None).await?;
        ensure!(matches!(anonymous, Login::Refused(_)), "an anonymous client was let in");
        let wrong = login(port, "wrong", Some((PUBLISHER.0, "not-the-password-0123456789"))).await?;
        ensure!(matches!(wrong, Login::Refused(_)), "a wrong password was accepted");
        let unknown = login(port, "unknown", Some(("nobody", PUBLISHER.1))).await?;
        ensure!(matches!(unknown, Login::Refused(_)), "an unknown user was accepted");
        let mut publisher = session(port, "publisher", Some(PUBLISHER)).await?;
        publisher.publish(ALARM_TOPIC, &alarm()).await?;
        // firegrid's consumer (its internal credentials) receives what the user published.
        let metrics = format!("http://{}/metrics", running.http_addr);
        support::eventually(Duration::from_secs(10), || {
            let url = metrics.clone();
            async move {
                let text = reqwest::get(url).await?.text().await?;
                Ok(text
                    .lines()
                    .any(|l| l.starts_with("firegrid_messages_received_total") && !l.ends_with(" 0"))
                    .then_some(()))
            }
        })
        .await
        .context("the user's reading reaches firegrid")?;
        drop(publisher);
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_managers_false_alarm_of_a_critical_fire_over_mqtt_is_a_forbidden_dead_letter() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let (running, port, shutdown) = start(dir.path()).await?;
        let mut watch = session(port, "watch", Some(PUBLISHER)).await?;
        watch.subscribe("firegrid/v1/deadletter").await?;
        watch.subscribe("firegrid/v1/dispatch/grid/#").await?;
        let mut publisher = session(port, "publisher", Some(PUBLISHER)).await?;
        publisher.publish(ALARM_TOPIC, &alarm()).await?;
        let (_, dispatch) = watch.receive(Duration::from_secs(20), |t, _| t.contains("/dispatch/grid/")).await?;
        let dispatch: serde_json::Value = serde_json::from_slice(&dispatch)?;
        ensure!(dispatch["role"] == "verify" && dispatch["severity"] == "critical", "{dispatch}");
        let id = dispatch["incident_id"].as_str().context("incident_id")?.to_owned();

        let mut grid = session(port, "grid", Some(GRID)).await?;
        let forged = format!(r#"{{"incident_id":"{id}","action":"false_alarm","by":"王芳","note":"误报"}}"#);
        grid.publish("firegrid/v1/ack/grid/500112002001-g1", forged.as_bytes()).await?;
        let (_, dl) = watch.receive(Duration::from_secs(10), |t, _| t.ends_with("/deadletter")).await?;
        let dl: serde_json::Value = serde_json::from_slice(&dl)?;
        ensure!(dl["reason"] == "forbidden", "{dl}");
        ensure!(dl["detail"].as_str().is_some_and(|d| d.contains("to verify, which allows confirm only")), "{dl}");

        let mut station = session(port, "station", Some(STATION)).await?;
        let ack = format!(r#"{{"incident_id":"{id}","action":"ack","by":"张三","note":"出动"}}"#);
        station.publish("firegrid/v1/ack/ms-500112002001", ack.as_bytes()).await?;
        let url = format!("http://{}/api/v1/incidents/{id}", running.http_addr);
        let http = reqwest::Client::new();
        let rec = support::eventually(Duration::from_secs(10), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let v: serde_json::Value = http.get(url).bearer_auth(DISPATCHER).send().await?.json().await?;
                Ok((v["incident"]["status"] == "acknowledged").then_some(v))
            }
        })
        .await?;
        ensure!(!rec["audit"].to_string().contains("grid:500112002001-g1"), "the forged ack left no trace: {rec}");
        drop((watch, publisher, grid, station));
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await
    .context("test timed out")?
}

#[test]
fn a_non_loopback_embedded_listen_without_users_is_refused_by_run_and_check_config() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = support::free_port()?;
    for command in ["check-config", "run"] {
        let listen = format!("0.0.0.0:{port}");
        let data = dir.path().join("data").display().to_string();
        let env = [("FIREGRID_MQTT__EMBEDDED_LISTEN", listen.as_str()), ("FIREGRID_DATA__DIR", data.as_str())];
        let (ok, stderr) = run_to_exit(&[command], &env, Duration::from_secs(20))
            .with_context(|| format!("`firegrid {command}` with an anonymous broker on 0.0.0.0"))?;
        ensure!(!ok, "`firegrid {command}` accepted it: {stderr}");
        ensure!(
            stderr.contains("mqtt.embedded_users_file")
                && stderr.contains("0.0.0.0:")
                && stderr.contains("mosquitto or EMQX"),
            "`firegrid {command}` says what to fix: {stderr}"
        );
    }
    Ok(())
}
