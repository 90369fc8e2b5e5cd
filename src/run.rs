//! Wiring and shutdown: builds every part from validated settings, runs them as tasks joined
//! by bounded channels, and on shutdown stops intake, drains, flushes, acknowledges and
//! disconnects — in that order, within a bounded time. A task that ends on its own before
//! shutdown is an error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use firegrid_alerting::stage::{DispatchStage, StageError};
use firegrid_alerting::{AlertError, Engine, SharedTokens, TokenSet};
use firegrid_ingest::consumer::{self, ConnState};
use firegrid_ingest::embedded_store::{EmbeddedStore, EmbeddedStoreError};
use firegrid_ingest::metrics::IngestMetrics;
use firegrid_ingest::pipeline::{MqttWriteSink, Pipeline};
use firegrid_ingest::registry::{RegistryError, SharedRegistry};
use firegrid_ingest::spool::{Spool, SpoolError};
use firegrid_ingest::store::Store;
use firegrid_ingest::writer::{InfluxV2, StoreHealth, WriterError};
use firegrid_ingest::writer_task::Writer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, BrokerError};
use crate::broker_users::{SharedUsers, UsersError};
use crate::config::{Settings, StoreSettings};
use crate::http::{self, HttpState};

/// Time the writer gets after intake stops to write what it holds.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);
/// How often the embedded store deletes points past their retention.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Time the MQTT client gets to send its last acks and disconnect.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The registry could not be loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The MQTT client could not be set up.
    #[error(transparent)]
    Mqtt(#[from] consumer::ConsumerError),
    /// The store client could not be set up.
    #[error(transparent)]
    Store(#[from] WriterError),
    /// The embedded broker could not start.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The embedded store could not be opened.
    #[error(transparent)]
    EmbeddedStore(#[from] EmbeddedStoreError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The HTTP listener could not bind.
    #[error("http.listen {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The alert engine could not start.
    #[error("alert engine: {0}")]
    Alerting(#[from] AlertError),
    /// The dispatch stage could not start.
    #[error("dispatch: {0}")]
    Dispatch(#[from] StageError),
    /// The API token file is invalid.
    #[error(transparent)]
    Tokens(#[from] firegrid_alerting::auth::TokenError),
    /// The embedded broker's users file is invalid.
    #[error(transparent)]
    BrokerUsers(#[from] UsersError),
    /// A task ended before shutdown.
    #[error("the {0} task stopped unexpectedly")]
    TaskExited(&'static str),
}

/// A started service.
pub struct Running {
    /// The address the HTTP server listens on (useful with port 0).
    pub http_addr: SocketAddr,
    /// The registry (reload from tests or signals).
    pub registry: SharedRegistry,
    handle: JoinHandle<Result<(), RunError>>,
}

impl Running {
    /// Waits until the service has stopped.
    pub async fn wait(self) -> Result<(), RunError> {
        self.handle.await.unwrap_or(Err(RunError::TaskExited("supervisor")))
    }
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), RunError> {
    start(settings, shutdown).await?.wait().await
}

/// Starts every part and returns once the HTTP server is listening.
pub async fn start(settings: Settings, shutdown: CancellationToken) -> Result<Running, RunError> {
    let metrics_registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&metrics_registry)?;
    let registry = SharedRegistry::load(settings.registry.clone())?;
    tracing::info!(
        event = "registry_loaded",
        devices = registry.snapshot().device_count(),
        stations = registry.snapshot().stations().len()
    );

    let mut engine = Engine::open(settings.alerting.clone(), registry.clone(), &settings.data_dir, &metrics_registry)?;
    let dispatch = DispatchStage::new(
        settings.dispatch.clone(),
        &mut engine,
        registry.clone(),
        &settings.data_dir,
        &metrics_registry,
        &settings.mqtt.topic_prefix,
    )?;
    let tokens = load_tokens(&settings.tokens_file)?;
    let state = Arc::new(ConnState::default());
    let health = Arc::new(StoreHealth::default());
    let mut settings = settings;
    let broker_users = settings.embedded_users_file.as_deref().map(SharedUsers::load).transpose()?;
    if let Some(listen) = settings.mqtt.embedded {
        let internal = broker::start(listen, settings.mqtt.max_packet_bytes, broker_users.clone())?;
        settings.mqtt.host = internal.addr.ip().to_string();
        settings.mqtt.port = internal.addr.port();
        settings.mqtt.credentials = Some((internal.username, internal.password));
    }
    let (client, eventloop) = consumer::connect(&settings.mqtt)?;
    let (acker, outbound) = consumer::outbound(client.clone(), state.clone(), metrics.clone());
    let outbound = tokio::spawn(outbound);
    let store = match &settings.store {
        StoreSettings::Influx(s) => Store::Influx(InfluxV2::new(s.clone())?),
        StoreSettings::Embedded { retention } => {
            let e = EmbeddedStore::open(&settings.data_dir, *retention)?;
            tracing::info!(event = "embedded_store", file = %e.path().display(), "readings go to the embedded SQLite store");
            Store::Embedded(e)
        }
    };
    // The embedded store's retention: an hourly delete of points older than `retention_days`.
    let retention = match &store {
        Store::Embedded(e) => Some(tokio::spawn(e.clone().run_retention(RETENTION_EVERY, shutdown.clone()))),
        Store::Influx(_) => None,
    };
    let spool = open_spool(&settings, &metrics)?;

    let listener = tokio::net::TcpListener::bind(settings.http_listen)
        .await
        .map_err(|source| RunError::Bind { addr: settings.http_listen, source })?;
    let http_addr = listener.local_addr().map_err(|source| RunError::Bind { addr: settings.http_listen, source })?;

    let window = usize::from(settings.mqtt.receive_maximum);
    let (msg_tx, msg_rx) = mpsc::channel(window + 64);
    let (batch_tx, batch_rx) = mpsc::channel(settings.ingest.pending_batches.get());
    // Bounded: a slow alert engine slows intake (the broker holds the backlog) rather than lose a reading.
    let (readings_tx, readings_rx) = mpsc::channel(8192);
    let (incident_tx, incident_rx) = mpsc::channel(1024);

    let mqtt_stop = CancellationToken::new();
    let intake_stop = CancellationToken::new();
    let writer_abort = CancellationToken::new();
    let http_stop = CancellationToken::new();

    let event_loop = consumer::EventLoopTask {
        eventloop,
        client,
        settings: settings.mqtt.clone(),
        readings: msg_tx,
        control: Some(dispatch.control_route()),
        state: state.clone(),
        sequencer: acker.sequencer().clone(),
        metrics: metrics.clone(),
    };
    let event_loop = tokio::spawn(event_loop.run(mqtt_stop.clone()));
    let sink = Arc::new(MqttWriteSink {
        acker: acker.clone(),
        prefix: settings.mqtt.topic_prefix.clone(),
        metrics: metrics.clone(),
    });
    let writer =
        Writer { store, sink, spool, retry: settings.store_retry, health: health.clone(), metrics: metrics.clone() };
    let writer = tokio::spawn(writer.run(batch_rx, writer_abort.clone()));
    let pipeline = Pipeline {
        prefix: settings.mqtt.topic_prefix.clone(),
        limits: settings.ingest.limits,
        registry: registry.clone(),
        batch_max_lines: settings.ingest.batch_max_lines.get(),
        batch_max_age: settings.ingest.batch_max_age,
        flush_at_unacked: (window * usize::from(settings.ingest.batch_window_percent) / 100).max(1),
        batch_idle: settings.ingest.batch_idle,
        batches: batch_tx,
        readings: Some(readings_tx),
        extra_lines: Some(incident_rx),
        acker: acker.clone(),
        metrics: metrics.clone(),
    };
    let pipeline = tokio::spawn(pipeline.run(msg_rx, intake_stop.clone()));

    let alert_stop = CancellationToken::new();
    let console = firegrid_alerting::console::api::router(
        engine.handle(),
        tokens.clone(),
        registry.clone(),
        dispatch.availability(),
    )
    .merge(firegrid_alerting::console::router());
    let api = firegrid_alerting::router(engine.handle(), tokens.clone())
        .merge(dispatch.router(tokens.clone()))
        .merge(console);
    let dispatch_stop = CancellationToken::new();
    let dispatch = dispatch.spawn(engine.handle(), acker.clone(), &settings.mqtt, dispatch_stop.clone())?;
    let engine_health = engine.handle().health();
    let alerting = tokio::spawn(engine.run(readings_rx, incident_tx, alert_stop.clone()));
    let app = http::router(HttpState {
        metrics: metrics_registry,
        mqtt: state,
        store: health,
        alerting: Some(engine_health),
    })
    .merge(api);
    let http_stop2 = http_stop.clone();
    let http =
        tokio::spawn(
            async move { axum::serve(listener, app).with_graceful_shutdown(http_stop2.cancelled_owned()).await },
        );
    tracing::info!(event = "started", http = %http_addr, "firegrid is running");

    let reloadable = Reloadable { registry: registry.clone(), tokens, broker_users };
    let reload = tokio::spawn(reload_on_sighup(reloadable, shutdown.clone()));

    let handle = tokio::spawn(async move {
        let mut event_loop = event_loop;
        let mut writer = writer;
        let mut pipeline = pipeline;
        let mut http = http;
        let mut alerting = alerting;
        let early = tokio::select! {
            _ = shutdown.cancelled() => None,
            _ = &mut event_loop => Some("mqtt event loop"),
            _ = &mut writer => Some("writer"),
            _ = &mut pipeline => Some("pipeline"),
            _ = &mut http => Some("http"),
            r = &mut alerting => {
                if let Ok(Err(e)) = r { tracing::error!(event = "alerting_failed", error = %e); }
                Some("alert engine")
            }
        };
        if let Some(name) = early {
            tracing::error!(event = "task_exited", task = name, "stopping");
        }
        tracing::info!(event = "shutdown", "stopping intake, flushing, acknowledging, disconnecting");
        intake_stop.cancel();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, &mut pipeline).await;
        // The pipeline is done: the engine evaluates and persists what is queued, then stops.
        alert_stop.cancel();
        if early != Some("alert engine") && tokio::time::timeout(DRAIN_TIMEOUT, &mut alerting).await.is_err() {
            alerting.abort();
        }
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await.is_err() {
            writer_abort.cancel();
            let _ = writer.await;
        }
        // Stop delivery before the disconnect; undelivered rows stay in the outbox for the next start.
        dispatch_stop.cancel();
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, dispatch).await;
        acker.disconnect();
        let mut outbound = outbound;
        if tokio::time::timeout(DISCONNECT_TIMEOUT, &mut outbound).await.is_err() {
            outbound.abort();
        }
        mqtt_stop.cancel();
        if tokio::time::timeout(DISCONNECT_TIMEOUT, &mut event_loop).await.is_err() {
            event_loop.abort();
        }
        http_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut http).await;
        reload.abort();
        if let Some(r) = retention {
            r.abort();
        }
        tracing::info!(event = "stopped");
        match early {
            Some(name) => Err(RunError::TaskExited(name)),
            None => Ok(()),
        }
    });
    Ok(Running { http_addr, registry, handle })
}

/// Opens the spool and reports what recovery found.
fn open_spool(settings: &Settings, metrics: &IngestMetrics) -> Result<Option<Arc<std::sync::Mutex<Spool>>>, RunError> {
    let Some(cfg) = settings.spool.clone() else { return Ok(None) };
    let (spool, rec) = Spool::open(cfg)?;
    if rec.truncated_bytes > 0 {
        tracing::warn!(
            event = "spool_recovered",
            damaged_segments = rec.damaged_segments,
            truncated_bytes = rec.truncated_bytes,
            "a torn or corrupt tail was cut; those batches were never acknowledged and the broker redelivers them"
        );
    }
    if rec.records > 0 {
        tracing::info!(
            event = "spool_replay_pending",
            records = rec.records,
            bytes = spool.bytes(),
            "replaying the spool into the store"
        );
    }
    metrics.spool_truncated_bytes.inc_by(rec.truncated_bytes);
    Ok(Some(Arc::new(std::sync::Mutex::new(spool))))
}

/// The API tokens, shared by the routers and reloaded on SIGHUP; without a token file the API
/// answers 401 to every call (nothing is served without a token) and says so in the log, until a
/// reload finds the file.
fn load_tokens(path: &std::path::Path) -> Result<SharedTokens, RunError> {
    if !path.exists() {
        tracing::warn!(event = "no_api_tokens", file = %path.display(), "the incident API refuses every call until this file exists");
        return Ok(SharedTokens::with_file(TokenSet::default(), path));
    }
    Ok(SharedTokens::load(path)?)
}

/// What SIGHUP reloads: the registry, the API tokens and the embedded broker's users. A file
/// that fails to load keeps what was in force.
struct Reloadable {
    registry: SharedRegistry,
    tokens: SharedTokens,
    broker_users: Option<SharedUsers>,
}

impl Reloadable {
    fn reload(&self) {
        match self.registry.reload() {
            Ok(r) => tracing::info!(event = "registry_reloaded", devices = r.device_count()),
            Err(e) => tracing::error!(event = "registry_reload_failed", error = %e, "keeping the previous registry"),
        }
        match self.tokens.reload() {
            Ok(n) => tracing::info!(event = "tokens_reloaded", tokens = n),
            Err(e) => tracing::error!(event = "tokens_reload_failed", error = %e, "keeping the previous tokens"),
        }
        match self.broker_users.as_ref().and_then(SharedUsers::reload) {
            Some(Ok(n)) => tracing::info!(event = "broker_users_reloaded", users = n),
            Some(Err(e)) => {
                tracing::error!(event = "broker_users_reload_failed", error = %e, "keeping the previous users");
            }
            None => {}
        }
    }
}

#[cfg(unix)]
async fn reload_on_sighup(what: Reloadable, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!(event = "sighup_unavailable", "registry and token reload on SIGHUP is off");
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        what.reload();
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_what: Reloadable, shutdown: CancellationToken) {
    shutdown.cancelled().await;
}
