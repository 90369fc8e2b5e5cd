//! Builders shared by the integration tests: registered devices and readings of each kind.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

// The root harness's PostgreSQL (and what it stands on), by path: one copy of each helper.
#[path = "../../../tests/support/base.rs"]
pub mod base;
#[path = "../../../tests/support/pg_proxy.rs"]
pub mod pg_proxy;
#[path = "../../../tests/support/postgres.rs"]
pub mod postgres;
#[path = "../../../tests/support/server.rs"]
mod server;

use firegrid_ingest::{
    Device, DeviceRecord, ElectricalValues, EnrichedReading, ForestIrValues, Kind, Reading, SharedRegistry, SiteType,
    SmokeValues, Status, Values,
};

/// 2026-11-29 02:00 UTC (10:00 in Chongqing).
pub const T0: i64 = 1_795_917_600_000;
pub const S: i64 = 1000;
pub const MIN: i64 = 60 * S;

pub fn device(id: &str, kind: Kind, household: &str, site: SiteType, vulnerable: bool) -> Arc<DeviceRecord> {
    located(id, kind, household, site, vulnerable, 29.72, 106.63)
}

pub fn located(
    id: &str,
    kind: Kind,
    household: &str,
    site: SiteType,
    vulnerable: bool,
    lat: f64,
    lon: f64,
) -> Arc<DeviceRecord> {
    Arc::new(DeviceRecord::from(Device {
        device_id: id.to_owned(),
        kind,
        county: "500112".to_owned(),
        township: "500112002".to_owned(),
        community: "500112002003".to_owned(),
        grid_id: "g-1".to_owned(),
        household_id: household.to_owned(),
        address: "五星路 3 栋 2 单元 502 室".to_owned(),
        lat: Some(lat),
        lon: Some(lon),
        site_type: site,
        vulnerable,
    }))
}

pub fn reading(d: &Arc<DeviceRecord>, ts_ms: i64, seq: Option<u64>, status: Status, values: Values) -> EnrichedReading {
    EnrichedReading {
        reading: Reading {
            device_id: d.device_id().to_owned(),
            kind: d.kind(),
            county: d.county().to_owned(),
            township: d.township().to_owned(),
            ts_ms,
            received_at_ms: ts_ms,
            seq,
            status,
            values,
        },
        device: Some(d.clone()),
        location_mismatch: false,
    }
}

pub fn smoke(d: &Arc<DeviceRecord>, ts_ms: i64, obscuration: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::Smoke(SmokeValues { obscuration_db_m: obscuration, ..Default::default() }),
    )
}

pub fn smoke_with(d: &Arc<DeviceRecord>, ts_ms: i64, status: Status, v: SmokeValues) -> EnrichedReading {
    reading(d, ts_ms, None, status, Values::Smoke(v))
}

pub fn smoke_alarm(d: &Arc<DeviceRecord>, ts_ms: i64, seq: Option<u64>) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        seq,
        Status::Alarm,
        Values::Smoke(SmokeValues { obscuration_db_m: 0.4, alarm: Some(true), ..Default::default() }),
    )
}

pub fn electrical(d: &Arc<DeviceRecord>, ts_ms: i64, residual_ma: f64, cable_c: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::Electrical(ElectricalValues {
            residual_current_ma: residual_ma,
            cable_temp_c: vec![cable_c, 25.0],
            ..Default::default()
        }),
    )
}

pub fn forest(
    d: &Arc<DeviceRecord>,
    ts_ms: i64,
    max_temp_c: f64,
    hotspot_px: u32,
    smoke_score: Option<f64>,
) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::ForestIr(ForestIrValues { max_temp_c, hotspot_px, smoke_score, ..Default::default() }),
    )
}

pub fn forest_at(d: &Arc<DeviceRecord>, ts_ms: i64, lat: f64, lon: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::ForestIr(ForestIrValues {
            max_temp_c: 150.0,
            hotspot_px: 40,
            smoke_score: Some(0.9),
            lat: Some(lat),
            lon: Some(lon),
            ..Default::default()
        }),
    )
}

/// A pure alerting core (no store, no I/O) with `config`.
pub fn core_with(config: firegrid_alerting::AlertingConfig) -> firegrid_alerting::engine::AlertCore {
    firegrid_alerting::engine::AlertCore::new(Arc::new(config.validate().unwrap()))
}

/// Feeds readings to a core, each arriving at its `received_at_ms`, and merges the outcomes.
pub fn feed(
    core: &mut firegrid_alerting::engine::AlertCore,
    readings: impl IntoIterator<Item = EnrichedReading>,
) -> firegrid_alerting::incident::Outcome {
    let mut all = firegrid_alerting::incident::Outcome::default();
    for r in readings {
        let now = r.reading.received_at_ms;
        all.merge(core.on_reading(&r, now));
    }
    all
}

pub struct Running {
    pub handle: firegrid_alerting::EngineHandle,
    pub readings: tokio::sync::mpsc::Sender<EnrichedReading>,
    pub lines: tokio::sync::mpsc::Receiver<String>,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), firegrid_alerting::AlertError>>,
    pub metrics: prometheus::Registry,
}

pub fn empty_registry() -> firegrid_ingest::SharedRegistry {
    use firegrid_ingest::{Registry, RegistryPaths, SharedRegistry};
    let paths = RegistryPaths { devices: "d.csv".into(), stations: "s.csv".into(), grids: "g.csv".into() };
    SharedRegistry::from_registry(paths, Registry::default())
}

/// Opens an engine on `dir` and runs it on the current runtime.
pub fn start(dir: &std::path::Path) -> Running {
    start_with(dir, |_| {})
}

/// Opens an engine on `dir`, lets `setup` adjust it, and runs it on the current runtime.
pub fn start_with(dir: &std::path::Path, setup: impl FnOnce(&mut firegrid_alerting::Engine)) -> Running {
    start_full(dir, firegrid_alerting::AlertingConfig::default(), empty_registry(), setup)
}

/// Like [`start_with`], with a configuration and a registry.
pub fn start_full(
    dir: &std::path::Path,
    config: firegrid_alerting::AlertingConfig,
    registry: firegrid_ingest::SharedRegistry,
    setup: impl FnOnce(&mut firegrid_alerting::Engine),
) -> Running {
    let backend = firegrid_alerting::store::IncidentBackend::Sqlite { data_dir: dir.to_owned() };
    start_backend(&backend, config, registry, setup)
}

/// Like [`start_full`], on any incident store.
pub fn start_backend(
    backend: &firegrid_alerting::store::IncidentBackend,
    config: firegrid_alerting::AlertingConfig,
    registry: firegrid_ingest::SharedRegistry,
    setup: impl FnOnce(&mut firegrid_alerting::Engine),
) -> Running {
    let metrics = prometheus::Registry::new();
    let settings = config.validate().expect("a valid configuration");
    let mut engine = firegrid_alerting::Engine::open_on(settings, registry, backend, &metrics).expect("engine opens");
    setup(&mut engine);
    let handle = engine.handle();
    let (readings, mut rx) = tokio::sync::mpsc::channel::<EnrichedReading>(1024);
    // The engine takes readings with their ack parts (none here: no MQTT in these tests).
    let (inputs, inputs_rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some(reading) = rx.recv().await {
            if inputs.send(firegrid_ingest::AlertInput { reading, ack: None }).await.is_err() {
                return;
            }
        }
    });
    let (tx, lines) = tokio::sync::mpsc::channel(1024);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(engine.run(inputs_rx, tx, shutdown.clone()));
    Running { handle, readings, lines, shutdown, task, metrics }
}

impl Running {
    /// Sends a reading and waits for the next `fire_incident` line (at most 2 s).
    pub async fn line_after(&mut self, r: EnrichedReading) -> String {
        self.readings.send(r).await.expect("engine takes readings");
        self.next_line().await
    }

    pub async fn next_line(&mut self) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(2), self.lines.recv())
            .await
            .expect("a fire_incident line within 2 s")
            .expect("line channel open")
    }

    pub async fn stop(self) -> tokio::sync::mpsc::Receiver<String> {
        self.shutdown.cancel();
        self.task.await.expect("engine task").expect("engine stops cleanly");
        self.lines
    }

    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = prometheus::TextEncoder::new().encode_to_string(&self.metrics.gather()).expect("metrics encode");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else { continue };
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                continue;
            }
            if labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
                return rest.rsplit(' ').next().expect("value").parse().expect("number");
            }
        }
        panic!("metric {name}{labels:?} not found in\n{text}")
    }
}

/// A registry loaded from CSV files written into `dir`, with one row per `(device_id, kind)`.
pub fn registry_with(dir: &std::path::Path, devices: &[(&str, &str)]) -> firegrid_ingest::SharedRegistry {
    use firegrid_ingest::{RegistryPaths, SharedRegistry};
    let mut d = String::from(
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n",
    );
    for (id, kind) in devices {
        d.push_str(&format!("{id},{kind},500112,500112002,500112002003,g-1,,五星路,29.7,106.6,residential,false\n"));
    }
    let paths = RegistryPaths {
        devices: dir.join("devices.csv"),
        stations: dir.join("stations.csv"),
        grids: dir.join("grids.csv"),
    };
    std::fs::write(&paths.devices, d).unwrap();
    std::fs::write(
        &paths.stations,
        "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n",
    )
    .unwrap();
    std::fs::write(&paths.grids, "grid_id,community,manager,phone,webhook_url\n").unwrap();
    SharedRegistry::load(paths).unwrap()
}

/// The whole HTTP API over a running engine, with `tokens` and the stations of `registry`.
pub fn api(e: &Running, tokens: firegrid_alerting::TokenSet, registry: SharedRegistry) -> axum::Router {
    api_with(e, tokens, registry, firegrid_alerting::dispatch::Availability::default())
}

/// [`api`] with station availability set at run time.
pub fn api_with(
    e: &Running,
    tokens: firegrid_alerting::TokenSet,
    registry: SharedRegistry,
    availability: firegrid_alerting::dispatch::Availability,
) -> axum::Router {
    firegrid_alerting::http::router(firegrid_alerting::http::HttpParts {
        engine: e.handle.clone(),
        tokens: tokens.into(),
        registry,
        availability,
        events: firegrid_alerting::dispatch::SseHub::default(),
    })
}

/// The reading as from a device missing from the registry (the topic's location only).
pub fn unregistered(mut r: EnrichedReading) -> EnrichedReading {
    r.device = None;
    r
}

/// The reading as received at `at_ms` (its `ts` unchanged): `at_ms - ts` is its age on arrival.
pub fn received_at(mut r: EnrichedReading, at_ms: i64) -> EnrichedReading {
    r.reading.received_at_ms = at_ms;
    r
}

/// An incident store for a test: SQLite in a temporary directory, or a database on a private
/// PostgreSQL server of the harness — so one test body runs on both ([`on_both_stores!`]).
#[allow(clippy::large_enum_variant)]
pub enum TestStore {
    Sqlite(tempfile::TempDir),
    Postgres { server: postgres::Postgres, url: firegrid_alerting::store::PgUrl },
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        TestStore::Sqlite(tempfile::tempdir().unwrap())
    }

    pub async fn postgres() -> TestStore {
        let server = postgres::Postgres::start().await.expect("postgres starts");
        let url = firegrid_alerting::store::PgUrl::parse(&server.create_database().unwrap()).unwrap();
        TestStore::Postgres { server, url }
    }

    /// Where the engine opens its store.
    pub fn backend(&self) -> firegrid_alerting::store::IncidentBackend {
        use firegrid_alerting::store::IncidentBackend;
        match self {
            TestStore::Sqlite(dir) => IncidentBackend::Sqlite { data_dir: dir.path().to_owned() },
            TestStore::Postgres { url, .. } => IncidentBackend::Postgres { url: url.clone() },
        }
    }
}

/// Opens an engine on `store`, lets `setup` adjust it, and runs it on the current runtime.
pub fn start_on(store: &TestStore, setup: impl FnOnce(&mut firegrid_alerting::Engine)) -> Running {
    start_backend(&store.backend(), firegrid_alerting::AlertingConfig::default(), empty_registry(), setup)
}

/// Runs each `async fn name(store: TestStore)` of the list as two tests, `sqlite::name` and
/// `postgres::name`: the same promise on both incident stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::common::TestStore::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::common::TestStore::postgres().await).await
            })*
        }
    };
}
