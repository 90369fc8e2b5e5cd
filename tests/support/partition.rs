//! Alert partitions with the real binary (DESIGN §9): a firegrid.toml whose incident store is
//! the harness's PostgreSQL and whose `[alerting]` names a partition, its `alert` instances
//! (one shared MQTT client id: the consumer is `{client_id}-{partition}`), and which of them
//! leads, read from `firegrid_partition_leader`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::process::Firegrid;

/// The partition the tests run.
pub const PARTITION: &str = "east";
/// Its one county (the dispatch fixtures' 渝北区).
pub const COUNTY: &str = "500112";
/// The instances' shared client id.
pub const CLIENT_ID: &str = "fg-alert";

/// The dispatch fixtures' config file at `config` with the PostgreSQL store at `pg_url` and
/// partition `name` of `county` (`lease_ms`), written beside it as `firegrid-{name}.toml`.
pub fn partition_config(config: &Path, pg_url: &str, (name, county): (&str, &str), lease_ms: u64) -> Result<PathBuf> {
    let mut text = std::fs::read_to_string(config)?;
    text.push_str(&format!(
        "[incidents]\nbackend = \"postgres\"\n[incidents.postgres]\nurl = \"{pg_url}\"\n\
         [alerting]\npartition = \"{name}\"\ncounties = [\"{county}\"]\npartition_lease_ms = {lease_ms}\n"
    ));
    let path = config.with_file_name(format!("firegrid-{name}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Starts alert instance `name` of the partition (its own data directory and log).
pub async fn start_alert(dir: &Path, config: &Path, name: &str) -> Result<Firegrid> {
    let env = super::scale::role_env("alert", CLIENT_ID, "", &dir.join(name));
    Firegrid::start(config, env, &dir.join(format!("{name}.log"))).await
}

/// An alert instance (see [`start_alert`]) once it leads `partition`: within 20 s, a few leases
/// as deployed.
pub async fn start_leader(dir: &Path, config: &Path, name: &str, partition: &str) -> Result<Firegrid> {
    let f = start_alert(dir, config, name).await?;
    leads(&f, partition, Duration::from_secs(20)).await?;
    Ok(f)
}

/// `firegrid_partition_leader` of an instance (1 leader, 0 standby); an error while it is not
/// serving (between a standby's endpoint and a term's service).
pub async fn leading(f: &Firegrid) -> Result<bool> {
    Ok(f.metric(&format!("firegrid_partition_leader{{partition=\"{PARTITION}\"}}")).await? == 1.0)
}

/// `firegrid_partition_epoch` of an instance.
pub async fn epoch(f: &Firegrid) -> Result<f64> {
    f.metric(&format!("firegrid_partition_epoch{{partition=\"{PARTITION}\"}}")).await
}

/// Waits until exactly one of `instances` leads; its index.
pub async fn leader(instances: &[&Firegrid], timeout: Duration) -> Result<usize> {
    super::eventually(timeout, || async {
        let mut leaders = Vec::new();
        for (i, f) in instances.iter().enumerate() {
            if leading(f).await.unwrap_or(false) {
                leaders.push(i);
            }
        }
        Ok((leaders.len() == 1).then(|| leaders[0]))
    })
    .await
    .context("no single leader")
}

/// The second partition of the tests, `west`, whose county (重庆 500113) has no devices.
pub const WEST: (&str, &str) = ("west", "500113");

/// Servers and the config files of two partitions on one PostgreSQL store: `east` (the
/// fixtures' devices and stations) and [`WEST`].
pub struct TwoPartitions {
    /// The shared store.
    pub pg: super::postgres::Postgres,
    /// Its database's URL (the instances').
    pub url: String,
    /// The broker.
    pub mqtt: super::Mosquitto,
    /// The readings store.
    pub vm: super::VictoriaMetrics,
    /// East's config file.
    pub east: PathBuf,
    /// West's config file.
    pub west: PathBuf,
}

/// Starts the servers and writes both partitions' configs (`lease_ms` each); `west_mqtt` is
/// added to west's `[mqtt]` table (a topic prefix of its own, say).
pub async fn two_partitions(dir: &Path, lease_ms: u64, west_mqtt: &str) -> Result<TwoPartitions> {
    use super::dispatch::{devices, stations};
    two_partitions_with(dir, lease_ms, west_mqtt, &devices(), &stations("")).await
}

/// [`two_partitions`] with a registry of `devices` and `stations` (and the fixtures' grids).
pub async fn two_partitions_with(
    dir: &Path,
    lease_ms: u64,
    west_mqtt: &str,
    devices: &[firegrid_ingest::Device],
    stations: &[firegrid_ingest::Station],
) -> Result<TwoPartitions> {
    use super::dispatch::{grids, write_config, write_registry};
    let pg = super::postgres::Postgres::start().await?;
    let url = pg.create_database()?;
    let mqtt = super::Mosquitto::start().await?;
    let vm = super::VictoriaMetrics::start().await?;
    let reg = write_registry(dir, devices, stations, &grids(""))?;
    let config = write_config(dir, &mqtt.url(), &vm.url(), &reg, "")?;
    let east = partition_config(&config, &url, (PARTITION, COUNTY), lease_ms)?;
    let west = partition_config(&config, &url, WEST, lease_ms)?;
    let text = std::fs::read_to_string(&west)?.replacen("[mqtt]\n", &format!("[mqtt]\n{west_mqtt}\n"), 1);
    std::fs::write(&west, text)?;
    Ok(TwoPartitions { pg, url, mqtt, vm, east, west })
}

/// A row of `forwarded_actions` as the tests read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardedRow {
    /// The row id.
    pub id: i64,
    /// `pending`, `claimed`, `applied` or `cancelled`.
    pub state: String,
    /// The verdict code, or `expired` for a row a sweep cancelled.
    pub result_code: Option<String>,
    /// `http` or `mqtt`.
    pub origin: String,
    /// Its age by the database's clock, seconds.
    pub age_seconds: f64,
}

/// Every row of `forwarded_actions` in the store at `url`, oldest first.
pub async fn forwarded_rows(url: &str) -> Result<Vec<ForwardedRow>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.context("harness session")?;
    let task = tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT id, state, result_code, origin, extract(epoch FROM now() - created_at)::float8
             FROM forwarded_actions ORDER BY id",
            &[],
        )
        .await;
    task.abort();
    Ok(rows?
        .iter()
        .map(|r| ForwardedRow {
            id: r.get(0),
            state: r.get(1),
            result_code: r.get(2),
            origin: r.get(3),
            age_seconds: r.get(4),
        })
        .collect())
}

/// Waits until `f` leads `partition`.
pub async fn leads(f: &Firegrid, partition: &str, timeout: Duration) -> Result<()> {
    let series = format!("firegrid_partition_leader{{partition=\"{partition}\"}}");
    super::eventually(timeout, || async { Ok(f.metric(&series).await.ok().filter(|v| *v == 1.0).map(|_| ())) })
        .await
        .with_context(|| format!("it did not lead {partition}; log:\n{}", f.log_tail()))
}
