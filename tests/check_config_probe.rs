//! `firegrid check-config --probe` with the real binary against a real mosquitto (with a password
//! file) and a real VictoriaMetrics: a wrong broker password and an unreachable store each give
//! their own line and exit 1; the right ones give `probe ok` and exit 0. (A wrong InfluxDB 1.x
//! database is probed in tests/deploy_dashboards, where the InfluxDB server lives.) The broker is
//! probed in the consumer's protocol, MQTT 5 or 3.1.1 (`mqtt.protocol`).

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};
use support::process::run_to_status;
use support::{Mosquitto, MosquittoOptions, VictoriaMetrics};

const USER: (&str, &str) = ("firegrid", "right-password-0123456789");

fn write_config(dir: &Path, mqtt_url: &str, password: &str, store_url: &str, protocol: &str) -> Result<String> {
    let reg = support::fleet::write_registry(dir, &support::fleet::devices(3))?;
    let mut c = support::fleet::harness_config(dir, &reg, mqtt_url, store_url, "probe-test");
    c.mqtt.protocol = protocol.into();
    c.mqtt.username = USER.0.into();
    c.mqtt.password = firegrid_ingest::config::Secret(password.into());
    let path = dir.join("firegrid.toml");
    std::fs::write(&path, toml::to_string(&c)?)?;
    Ok(path.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_broker_password_and_an_unreachable_store_each_get_their_own_line() -> Result<()> {
    wrong_password_and_unreachable_store_each_get_their_own_line("5", "p5").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mqtt_3_1_1_a_wrong_broker_password_and_an_unreachable_store_each_get_their_own_line() -> Result<()> {
    wrong_password_and_unreachable_store_each_get_their_own_line("3.1.1", "p2").await
}

/// The body of both tests: `protocol` is `mqtt.protocol`, `logged` how mosquitto names it in its
/// log of the probe's login (`p5`, `p2`).
async fn wrong_password_and_unreachable_store_each_get_their_own_line(protocol: &str, logged: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let passwd = support::passwords::password_file(dir.path(), &[USER])?;
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: format!("password_file {}\n", passwd.display()),
        ..Default::default()
    })
    .await?;
    let nowhere = format!("http://127.0.0.1:{}", support::free_port()?);
    let conf = write_config(dir.path(), &broker.url(), "wrong-password", &nowhere, protocol)?;
    let (code, text) = run_to_status(&["check-config", "--probe", "--config", &conf], &[], Duration::from_secs(30))?;
    ensure!(code == Some(1), "exit {code:?}: {text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("probe failed: ")).collect();
    ensure!(failed.len() == 2, "one line per failure: {text}");
    ensure!(failed.iter().any(|l| l.contains("mqtt.url") && l.contains("mqtt.password")), "{text}");
    ensure!(failed.iter().any(|l| l.contains("store.influxdb.url") && l.contains("unreachable")), "{text}");
    ensure!(!text.contains("wrong-password"), "no password in the output: {text}");

    let vm = VictoriaMetrics::start().await?;
    let conf = write_config(dir.path(), &broker.url(), USER.1, &vm.url(), protocol)?;
    let (code, text) = run_to_status(&["check-config", "--probe", "--config", &conf], &[], Duration::from_secs(30))?;
    ensure!(code == Some(0) && text.contains("probe ok"), "exit {code:?}: {text}");
    let want = format!("as probe-test-probe ({logged}, c1,");
    ensure!(broker.logs().contains(&want), "no `{want}` in the broker's log:\n{}", broker.logs());
    Ok(())
}
