//! `firegrid demo`: the whole system on one machine with nothing installed — the embedded
//! broker and store, a generated Chongqing registry (渝中区, 渝北区, 巫溪县), API tokens, the
//! simulator publishing the fleet with fires, electrical faults, a forest hotspot and hazards
//! from the first minute on, and the dispatcher console. Runs until Ctrl-C.
//!
//! Its secrets are files only their owner may read (mode 0600): the API tokens and the embedded
//! broker's users — a `publisher` the simulator logs in as, whose password the banner prints for
//! your own publishers. Anonymous MQTT clients are refused.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firegrid_alerting::access::private_file::write_private;
use firegrid_ingest::config::Secret;
use firegrid_ingest::RegistryPaths;
use firegrid_simulator::fleet::{generate_registry, paths_in, write_registry, FleetSpec};
use firegrid_simulator::run::{run_scenario_until, RunSpec};
use firegrid_simulator::scenario::ScenarioKind;
use tokio_util::sync::CancellationToken;

mod incidents;

use crate::broker::users::{random_secret, UsersError};
use crate::config::Config;

/// Demo failures.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The registry could not be generated.
    #[error("generating the registry: {0}")]
    Simulator(#[from] firegrid_simulator::error::SimError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::LoadError),
    /// The service failed.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// No randomness for tokens and passwords.
    #[error(transparent)]
    Random(#[from] UsersError),
}

/// The broker user the simulator (and your own publishers) log in as.
const PUBLISHER: &str = "publisher";

/// Options of `firegrid demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where everything is kept (registry, tokens, incidents, readings).
    pub data_dir: PathBuf,
    /// HTTP address of the console and API.
    pub http_listen: String,
    /// Where the embedded broker takes publishers.
    pub mqtt_listen: String,
    /// Stop after this long (`None` = until Ctrl-C).
    pub duration: Option<Duration>,
}

/// One round of the simulator: every scenario kind at least once, then the next round.
const ROUND: Duration = Duration::from_secs(180);

/// The scenarios the demo plays, in order, one every few seconds.
const SCENARIOS: [ScenarioKind; 8] = [
    ScenarioKind::KitchenFire,
    ScenarioKind::ArcFault,
    ScenarioKind::ForestHotspot,
    ScenarioKind::LowBattery,
    ScenarioKind::CookingSteam,
    ScenarioKind::Tamper,
    ScenarioKind::ResidualCurrentCreep,
    ScenarioKind::SunGlint,
];

/// How long the simulator gets, once the demo stops, to hand what it published to the broker.
const SIMULATOR_DRAIN: Duration = Duration::from_secs(3);
/// How long the demo keeps readings: a newcomer who leaves it running does not fill the disk.
const DEMO_RETENTION_DAYS: u32 = 1;
/// The most the demo's readings file may take; its oldest hours are dropped past it (checked
/// every minute). The demo writes about 3 MB of readings a minute, so this holds about 6 hours.
const DEMO_MAX_BYTES: u64 = 1 << 30;
/// About the most the demo's incident file takes (the banner says it): it holds the incidents of
/// the last 6 h 15 min (`incidents`), which the demo raises at about 290 an hour, each of about
/// 26 KB with its evidence, audit trail and at most `dispatch.max_escalations` escalations per tier per
/// `respond` (measured at 17 minutes with `scripts/soak-demo.sh`: 81 incidents in 2.08 MB):
/// ~1,800 incidents, ~50 MB, plus the write-ahead log (~4 MB) and a margin for the incidents
/// still escalating when measured.
const INCIDENTS_MAX_MB: u64 = 60;
/// The embedded broker's in-memory log per filter in the demo: about 30 s of the simulator's
/// readings (~270 KB/s), far more than the in-process consumer ever lags. rumqttd counts only
/// topic and payload against it, while each message it holds costs about three times that
/// (its ~250-byte `Publish` record in a doubling `Vec`, and the 8 KiB network read buffer its
/// payload is a slice of, kept whole while any message of it is in the log): with 32 MiB the
/// demo's RSS was 150 MB at 6 minutes, with 8 MiB 108 MB (debug builds, `scripts/soak-demo.sh`).
const DEMO_BROKER_LOG_BYTES: u64 = 8 << 20;

/// The files a demo keeps in its data directory: the registry, the API tokens and the broker's
/// users, with the two secrets the banner prints.
struct DemoFiles {
    registry: RegistryPaths,
    tokens_file: PathBuf,
    dispatcher_token: String,
    users_file: PathBuf,
    publisher_password: String,
}

/// Writes what is missing of the registry, tokens and users (an earlier run's files are kept).
fn prepare(data_dir: &Path) -> Result<DemoFiles, DemoError> {
    std::fs::create_dir_all(data_dir).map_err(|source| DemoError::Io { path: data_dir.to_owned(), source })?;
    let registry_dir = data_dir.join("registry");
    let registry = paths_in(&registry_dir);
    if !registry.devices.exists() {
        write_registry(&generate_registry(&FleetSpec::default())?, &registry_dir)?;
    }
    let tokens_file = data_dir.join("tokens.csv");
    let dispatcher_token = ensure_tokens(&tokens_file, &registry)?;
    let users_file = data_dir.join("broker-users.csv");
    let publisher_password = ensure_users(&users_file)?;
    Ok(DemoFiles { registry, tokens_file, dispatcher_token, users_file, publisher_password })
}

/// The standalone configuration (embedded broker and store) over the demo's files.
fn config(opts: &DemoOptions, files: &DemoFiles) -> Config {
    let mut config = Config::standalone();
    config.mqtt.embedded_listen = opts.mqtt_listen.clone();
    config.mqtt.client_id = "firegrid-demo".into();
    config.http.listen = opts.http_listen.clone();
    config.data.dir = opts.data_dir.display().to_string();
    config.api.tokens_file = files.tokens_file.display().to_string();
    config.mqtt.embedded_users_file = files.users_file.display().to_string();
    config.mqtt.embedded_log_bytes = DEMO_BROKER_LOG_BYTES;
    config.registry.devices = files.registry.devices.display().to_string();
    config.registry.stations = files.registry.stations.display().to_string();
    config.registry.grids = files.registry.grids.display().to_string();
    config.store.embedded.retention_days = DEMO_RETENTION_DAYS;
    config.store.embedded.max_bytes = DEMO_MAX_BYTES;
    config
}

/// The demo's store prunes an hour at a time, so its cap never drops a whole day of readings.
fn bounded(mut settings: crate::Settings) -> crate::Settings {
    if let crate::config::StoreSettings::Embedded(options) = &mut settings.store {
        options.partition = firegrid_ingest::store::embedded::Partition::Hour;
    }
    settings
}

/// What the demo prints once it runs: where the console is and the secrets to use it.
fn banner(opts: &DemoOptions, files: &DemoFiles, http: SocketAddr, mqtt: Option<SocketAddr>) -> String {
    let mut banner = String::from("\n  firegrid demo is running.\n");
    let token = &files.dispatcher_token;
    banner.push_str(&format!("  console:           http://{http}/   (dispatcher token: {token})\n"));
    banner.push_str(&format!("  station tokens:    {}\n", files.tokens_file.display()));
    if let Some(m) = mqtt {
        banner.push_str(&format!("  MQTT (3.1.1):      mqtt://{m}  — publish your own readings under firegrid/v1/…\n"));
        banner.push_str(&format!(
            "  MQTT login:        user {PUBLISHER}, password {}   (users: {})\n",
            files.publisher_password,
            files.users_file.display()
        ));
    }
    banner.push_str(&format!(
        "  readings (SQLite): {}   (the last {} h, at most {} MiB: the oldest hours are dropped first)\n",
        opts.data_dir.join("readings.sqlite3").display(),
        DEMO_RETENTION_DAYS * 24,
        DEMO_MAX_BYTES >> 20
    ));
    banner.push_str(&format!(
        "  incidents:         {}   (open ones are closed by `{}` {} min after they open, closed ones\n                     deleted after {} h: at most about {INCIDENTS_MAX_MB} MB)\n",
        firegrid_alerting::store::db_path(&opts.data_dir).display(),
        incidents::ACTOR,
        incidents::CLOSE_AFTER.as_secs() / 60,
        incidents::KEEP_CLOSED.as_secs() / 3600
    ));
    banner.push_str(&format!("  metrics:           http://{http}/metrics\n"));
    banner.push_str(&format!("  Ctrl-C stops it; the data stays in {}.\n\n", opts.data_dir.display()));
    banner
}

/// The simulator's run: the demo fleet from its registry files, logged in as the publisher.
fn simulation(files: &DemoFiles, mqtt: Option<SocketAddr>) -> RunSpec {
    RunSpec {
        host: mqtt.map_or_else(|| "127.0.0.1".into(), |m| m.ip().to_string()),
        port: mqtt.map_or(1883, |m| m.port()),
        client_id: "firegrid-demo-sim".into(),
        fleet: FleetSpec::default(),
        registry: Some(files.registry.clone()),
        speedup: 60.0,
        // Rounds of a few minutes, one after the other: the simulator plans a round's scenarios
        // up front (and leaves out those that could not finish within it).
        duration: ROUND,
        scenarios: SCENARIOS.to_vec(),
        every: Some(Duration::from_secs(4)),
        truth_path: None,
        // The first fire starts at once: a newcomer sees a dispatch within the first minute.
        lead: Some(Duration::from_secs(1)),
        credentials: Some((PUBLISHER.to_owned(), Secret(files.publisher_password.clone()))),
        ..RunSpec::default()
    }
}

/// Plays rounds of the simulation until `stop`; a failed round is retried after 5 s.
async fn simulate(mut spec: RunSpec, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(e) = run_scenario_until(&spec, &stop).await {
            tracing::error!(event = "simulator_failed", error = %e, "retrying in 5 s");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = stop.cancelled() => return,
            }
        }
        // A new seed each round picks new households: the same ones would only add evidence
        // to the incidents they opened in the previous round. The first round keeps the
        // default seed, whose first kitchen fire is in a vulnerable household (critical).
        spec.fleet.seed = spec.fleet.seed.wrapping_add(1);
    }
}

/// Cancels `demo` after `d`, unless it was cancelled before.
async fn stop_after(d: Duration, demo: CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(d) => demo.cancel(),
        () = demo.cancelled() => {}
    }
}

/// Prepares the files, starts the service and the simulator, and runs until `shutdown` (or
/// `opts.duration`). Shutdown is a tree: the demo's token (a child of `shutdown`, also cancelled
/// by the timer or by the service ending early) stops the simulator (its child) first, so what
/// it published reaches the broker; then the service's own token starts the service's ordered
/// shutdown.
pub async fn run(opts: DemoOptions, shutdown: CancellationToken) -> Result<(), DemoError> {
    let files = prepare(&opts.data_dir)?;
    let settings = bounded(config(&opts, &files).validate()?);
    let mqtt = settings.mqtt.embedded;
    let service = CancellationToken::new();
    let running = crate::run::start(settings, service.clone()).await?;
    // Not println!: a closed stdout (a pipe whose reader left) must not stop the demo.
    let mut out = std::io::stdout();
    let _ = out.write_all(banner(&opts, &files, running.http_addr, mqtt).as_bytes()).and_then(|()| out.flush());
    let demo = shutdown.child_token();
    let sim = tokio::spawn(simulate(simulation(&files, mqtt), demo.child_token()));
    if let Some(engine) = running.engine.clone() {
        tokio::spawn(incidents::keep_bounded(engine, opts.data_dir.clone(), demo.child_token()));
    }
    if let Some(d) = opts.duration {
        tokio::spawn(stop_after(d, demo.clone()));
    }
    let mut service_done = std::pin::pin!(running.wait());
    let ended_early = tokio::select! {
        r = &mut service_done => Some(r),
        () = demo.cancelled() => None,
    };
    demo.cancel();
    if tokio::time::timeout(SIMULATOR_DRAIN, sim).await.is_err() {
        tracing::warn!(event = "simulator_drain_timeout", "the simulator did not finish its publishes in time");
    }
    service.cancel();
    let result = match ended_early {
        Some(r) => r,
        None => service_done.await,
    };
    Ok(result?)
}

/// Writes a token file (admin, dispatcher, one per station and per grid, mode 0600) unless one
/// exists; returns the dispatcher's token.
fn ensure_tokens(file: &Path, paths: &RegistryPaths) -> Result<String, DemoError> {
    let io = |source| DemoError::Io { path: file.to_owned(), source };
    let dispatcher = |cols: &[&str]| match cols {
        [token, "dispatcher", ..] => Some((*token).to_owned()),
        _ => None,
    };
    if let Some(t) = existing(file, dispatcher).map_err(io)? {
        return Ok(t);
    }
    let reg = firegrid_ingest::Registry::load(paths)
        .map_err(|e| DemoError::Io { path: paths.devices.clone(), source: std::io::Error::other(e.to_string()) })?;
    let mut out = String::from("# token,role,subject — generated by `firegrid demo`; keep this file private\n");
    let dispatcher = random_secret()?;
    out.push_str(&format!("{},admin,\n{dispatcher},dispatcher,\n", random_secret()?));
    for s in reg.stations() {
        out.push_str(&format!("{},station,{}\n", random_secret()?, s.station_id));
    }
    let mut grids: Vec<_> = reg.grids().map(|g| g.grid_id.clone()).collect();
    grids.sort();
    for g in grids {
        out.push_str(&format!("{},grid,{g}\n", random_secret()?));
    }
    write_private(file, &out).map_err(io)?;
    Ok(dispatcher)
}

/// Writes the embedded broker's users file (the publisher, mode 0600) unless one exists;
/// returns the publisher's password.
fn ensure_users(file: &Path) -> Result<String, DemoError> {
    let io = |source| DemoError::Io { path: file.to_owned(), source };
    let publisher = |cols: &[&str]| match cols {
        [user, password, ..] if *user == PUBLISHER => Some((*password).to_owned()),
        _ => None,
    };
    if let Some(p) = existing(file, publisher).map_err(io)? {
        return Ok(p);
    }
    let password = random_secret()?;
    let text = format!(
        "# username,password — the embedded broker's users, generated by `firegrid demo`; keep this file private\n\
         {PUBLISHER},{password}\n"
    );
    write_private(file, &text).map_err(io)?;
    Ok(password)
}

/// From a file an earlier demo run wrote: what `pick` finds in the first row (comments skipped)
/// whose columns it recognises. The file is made private again (0600) if its mode was loosened:
/// it is the demo's own.
fn existing(file: &Path, pick: impl Fn(&[&str]) -> Option<String>) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let found = text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let cols: Vec<&str> = l.split(',').map(str::trim).collect();
        pick(&cols)
    });
    if found.is_some() {
        #[cfg(unix)]
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use firegrid_alerting::store::SqliteStore;

    #[test]
    fn the_demo_deletes_incidents_closed_before_its_retention_with_their_rows_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let conn = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir.path())).unwrap();
        // (id, status, updated_at_ms): closed long ago, closed lately, open long ago.
        for (id, status, at) in
            [("old-closed", "resolved", 1_000), ("new-closed", "false_alarm", 9_000), ("old-open", "open", 1_000)]
        {
            conn.execute(
                "INSERT INTO incidents (id, status, class, severity, county, township, opened_at_ms, updated_at_ms, doc)
                 VALUES (?1, ?2, 'fire', 'high', 'c', 't', ?3, ?3, '{}')",
                rusqlite::params![id, status, at],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO evidence (incident_id, device_id, kind, ts_ms, received_at_ms, status, reason, values_json)
                 VALUES (?1, 'sd-1', 'smoke', ?2, ?2, 'alarm', 'smoke', '{}')",
                rusqlite::params![id, at],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO audit (incident_id, at_ms, event, to_status, severity, actor, note)
                 VALUES (?1, ?2, 'opened', ?3, 'high', 'engine', '')",
                rusqlite::params![id, at, status],
            )
            .unwrap();
        }
        assert_eq!(store.prune_closed(5_000).unwrap(), 1);
        for table in ["incidents", "evidence", "audit"] {
            let column = if table == "incidents" { "id" } else { "incident_id" };
            let mut stmt = conn.prepare(&format!("SELECT {column} FROM {table} ORDER BY {column}")).unwrap();
            let ids: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(ids, ["new-closed", "old-open"], "{table}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_second_demo_run_reuses_its_publisher_and_makes_the_file_private_again() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broker-users.csv");
        let first = ensure_users(&file).unwrap();
        let mode = || std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(), 0o600);
        let users = crate::broker::users::BrokerUsers::load(&file).unwrap();
        assert!(users.check(PUBLISHER, &first), "the file holds the printed password");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ensure_users(&file).unwrap(), first);
        assert_eq!(mode(), 0o600);
    }
}
