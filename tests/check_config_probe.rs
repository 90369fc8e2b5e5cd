//! `firegrid check-config --probe` with the real binary against a real mosquitto (with a password
//! file) and a real VictoriaMetrics: a wrong broker password and an unreachable store each give
//! their own line and exit 1; the right ones give `probe ok` and exit 0. (A wrong InfluxDB 1.x
//! database is probed in tests/deploy_dashboards, where the InfluxDB server lives.) The broker is
//! probed in the consumer's protocol, MQTT 5 or 3.1.1 (`mqtt.protocol`).

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
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

/// A config of the harness's broker and store whose incident store is PostgreSQL at `pg_url`,
/// as partition `east`.
fn write_pg_config(dir: &Path, mqtt_url: &str, store_url: &str, pg_url: &str) -> Result<String> {
    let reg = support::fleet::write_registry(dir, &support::fleet::devices(3))?;
    let mut c = support::fleet::harness_config(dir, &reg, mqtt_url, store_url, "probe-pg");
    c.incidents.backend = "postgres".into();
    c.incidents.postgres.url = pg_url.into();
    c.alerting.partition = "east".into();
    c.alerting.counties = vec!["500112".into()];
    let path = dir.join("firegrid-pg.toml");
    std::fs::write(&path, toml::to_string(&c)?)?;
    Ok(path.display().to_string())
}

/// `check-config --probe` of `conf`: its exit code and output.
fn probe(conf: &str) -> Result<(Option<i32>, String)> {
    run_to_status(&["check-config", "--probe", "--config", conf], &[], Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reports_the_incident_stores_schema_and_the_partitions_lease_and_names_the_key_it_cannot_reach(
) -> Result<()> {
    use firegrid_alerting::partition::LeaseClient;
    use firegrid_alerting::store::{blocking, PgStore, PgUrl};
    let dir = tempfile::tempdir()?;
    let (broker, vm) = (Mosquitto::start().await?, VictoriaMetrics::start().await?);
    let pg = support::postgres::Postgres::start().await?;
    let url = pg.create_database()?;

    // A database no instance has started on: reported, not migrated by the probe.
    let conf = write_pg_config(dir.path(), &broker.url(), &vm.url(), &url)?;
    let (code, text) = probe(&conf)?;
    ensure!(code == Some(0) && text.contains("probe ok"), "exit {code:?}: {text}");
    ensure!(text.contains("not migrated yet") && text.contains("TLS off"), "{text}");
    ensure!(text.contains("partition east: no instance has held the lease yet"), "{text}");
    let (code, text) = probe(&conf)?;
    ensure!(code == Some(0) && text.contains("not migrated yet"), "the probe migrated the database: {text}");

    // Migrated, and an instance holds the lease.
    let u = PgUrl::parse(&url)?;
    let migrated = u.clone();
    blocking(move || PgStore::connect(&migrated).map(drop))?;
    let mut lease = LeaseClient::new(u, "east", "fg-alert@host:1:2", Duration::from_secs(30));
    let epoch = lease.attempt().await?.context("the lease was not granted")?;
    let (code, text) = probe(&conf)?;
    ensure!(code == Some(0), "exit {code:?}: {text}");
    // The newest migration in the repository (alerting/migrations/postgres/NNNN_*.sql) is the binary's.
    let newest = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("alerting/migrations/postgres"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.split('_').next()?.parse::<u32>().ok())
        .max()
        .context("no migration")?;
    let want = format!("schema version {newest} (this binary's: {newest})");
    ensure!(text.contains(&want), "no `{want}` in: {text}");
    let held = format!("partition east: lease held by fg-alert@host:1:2 at epoch {epoch}, expires in ");
    ensure!(text.contains(&held), "no `{held}` in: {text}");

    // A database that does not exist, in a URL with a password: the key named, the password not.
    let missing = url.replace("firegrid@", "firegrid:pg-s3cret-word@").replace("/firegrid_1", "/no_such_db");
    let conf = write_pg_config(dir.path(), &broker.url(), &vm.url(), &missing)?;
    let (code, text) = probe(&conf)?;
    ensure!(code == Some(1), "exit {code:?}: {text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("probe failed: ")).collect();
    ensure!(failed.len() == 1 && failed[0].contains("incidents.postgres.url"), "{text}");
    ensure!(failed[0].contains("database does not exist"), "{text}");
    ensure!(!text.contains("pg-s3cret-word"), "the password in the output: {text}");
    Ok(())
}
