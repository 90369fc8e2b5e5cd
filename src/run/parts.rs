//! Building the service from validated settings: opening every part (registry, metrics,
//! incident store, dispatch, broker, store, spool, HTTP listener), joining them with bounded
//! channels and spawning each as a [`Part`] that stops at its node of the [`ShutdownTree`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::future::Future;

use firegrid_alerting::{AlertError, DispatchStage, Engine, SharedTokens, TokenSet};
use firegrid_ingest::metrics::IngestMetrics;
use firegrid_ingest::mqtt::acker::{self, Acker};
use firegrid_ingest::mqtt::connection::ConnState;
use firegrid_ingest::mqtt::event_loop::EventLoopTask;
use firegrid_ingest::mqtt::message::Message;
use firegrid_ingest::mqtt::options;
use firegrid_ingest::pipeline::sink::MqttWriteSink;
use firegrid_ingest::pipeline::Pipeline;
use firegrid_ingest::store::embedded::EmbeddedStore;
use firegrid_ingest::store::influx::InfluxV2;
use firegrid_ingest::store::spool::Spool;
use firegrid_ingest::store::Store;
use firegrid_ingest::writer::health::StoreHealth;
use firegrid_ingest::writer::task::Writer;
use firegrid_ingest::{AlertInput, SharedRegistry};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::broker;
use crate::broker::users::SharedUsers;
use crate::config::{Settings, StoreSettings};
use crate::http::{self, HttpState};
use crate::run::reload::{reload_on_sighup, Reloadable};
use crate::run::shutdown::{Part, ShutdownTree};
use crate::run::{RunError, RETENTION_EVERY};

/// Room in the reading queue beyond the broker's window (control messages, a reconnect's burst).
const READING_QUEUE_SLACK: usize = 64;
/// Readings queued for the alert engine: a slow engine slows intake (the broker holds the
/// backlog) rather than lose a reading.
const ALERT_QUEUE: usize = 8192;
/// Incident lines queued from the alert engine to the pipeline.
const INCIDENT_QUEUE: usize = 1024;

/// Every part of a running service, spawned.
#[derive(Debug)]
pub(super) struct Parts {
    pub(super) event_loop: Part<()>,
    pub(super) pipeline: Part<()>,
    pub(super) alerting: Part<Result<(), AlertError>>,
    pub(super) writer: Part<()>,
    pub(super) dispatch: Part<()>,
    pub(super) acks: Part<()>,
    pub(super) http: Part<std::io::Result<()>>,
    pub(super) reload: Part<()>,
    pub(super) retention: Option<Part<()>>,
}

/// What the parts share, opened before anything is spawned.
struct Core {
    settings: Settings,
    metrics_registry: prometheus::Registry,
    metrics: IngestMetrics,
    service_metrics: crate::metrics::ServiceMetrics,
    registry: SharedRegistry,
    tokens: SharedTokens,
    broker_users: Option<SharedUsers>,
    conn: Arc<ConnState>,
    health: Arc<StoreHealth>,
}

/// The alert engine and its dispatch stage, opened (their stores recovered), not yet running.
struct Alerting {
    engine: Engine,
    dispatch: DispatchStage,
}

/// The MQTT client: the event loop task (not yet spawned) and the queue it fills, and the acker
/// with its task.
struct Mqtt {
    event_loop: EventLoopTask,
    messages: mpsc::Receiver<Message>,
    acker: Acker,
    acks: Part<()>,
}

/// The ingest path spawned (writer, pipeline, retention timer), and the channels it shares
/// with the alert engine.
struct Ingest {
    writer: Part<()>,
    pipeline: Part<()>,
    retention: Option<Part<()>>,
    readings: mpsc::Receiver<AlertInput>,
    incidents: mpsc::Sender<String>,
}

/// The alert engine and the dispatch stage running, and the HTTP app that serves them.
struct Spawned {
    engine: Part<Result<(), AlertError>>,
    dispatch: Part<()>,
    app: axum::Router,
}

/// Opens and spawns every part; returns them with the HTTP address and the registry.
pub(super) async fn start(
    settings: Settings,
    tree: &ShutdownTree,
) -> Result<(Parts, SocketAddr, SharedRegistry), RunError> {
    let (core, alerting) = open(settings)?;
    let addr = core.settings.http_listen;
    let listener = TcpListener::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
    let http_addr = listener.local_addr().map_err(|source| RunError::Bind { addr, source })?;
    let mqtt = connect(&core, &alerting.dispatch, tree)?;
    let mut ingest = spawn_ingest(&core, mqtt.messages, &mqtt.acker, tree)?;
    let event_loop = Part::spawn("mqtt event loop", mqtt.event_loop.run(tree.disconnect.clone()));
    let channels = (ingest.readings, ingest.incidents);
    let spawned = spawn_alerting(alerting, &core, &mqtt.acker, tree, channels)?;
    let limits = core.settings.http_limits;
    let http = Part::spawn("http", crate::http_serve::serve(listener, spawned.app, limits, tree.service.clone()));
    tracing::info!(event = "started", http = %http_addr, "firegrid is running");
    let reloadable =
        Reloadable { registry: core.registry.clone(), tokens: core.tokens.clone(), broker_users: core.broker_users };
    let reload = Part::spawn("sighup watcher", reload_on_sighup(reloadable, tree.service.clone()));
    let parts = Parts {
        event_loop,
        pipeline: ingest.pipeline,
        alerting: spawned.engine,
        writer: ingest.writer,
        dispatch: spawned.dispatch,
        acks: mqtt.acks,
        http,
        reload,
        retention: ingest.retention.take(),
    };
    Ok((parts, http_addr, core.registry))
}

/// Metrics, the registry, the alert engine and its dispatch stage, the API tokens and the broker
/// (the embedded one started here, its address put into the MQTT settings).
fn open(mut settings: Settings) -> Result<(Core, Alerting), RunError> {
    let metrics_registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&metrics_registry)?;
    let service_metrics = crate::metrics::register(&metrics_registry)?;
    let registry = SharedRegistry::load(settings.registry.clone())?;
    tracing::info!(
        event = "registry_loaded",
        devices = registry.snapshot().device_count(),
        stations = registry.snapshot().stations().len()
    );
    let mut engine = Engine::open(settings.alerting.clone(), registry.clone(), &settings.data_dir, &metrics_registry)?;
    let dispatch =
        DispatchStage::new(settings.dispatch.clone(), &mut engine, &settings.mqtt.topic_prefix, &metrics_registry)?;
    let tokens = load_tokens(&settings.tokens_file)?;
    let broker_users = settings.embedded_users_file.as_deref().map(SharedUsers::load).transpose()?;
    if let Some(listen) = settings.mqtt.embedded {
        let internal = broker::start(listen, settings.mqtt.max_packet_bytes, broker_users.clone())?;
        settings.mqtt.host = internal.addr.ip().to_string();
        settings.mqtt.port = internal.addr.port();
        settings.mqtt.credentials = Some((internal.username, internal.password));
    }
    let core = Core {
        settings,
        metrics_registry,
        metrics,
        service_metrics,
        registry,
        tokens,
        broker_users,
        conn: Arc::new(ConnState::default()),
        health: Arc::new(StoreHealth::default()),
    };
    Ok((core, Alerting { engine, dispatch }))
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

/// The MQTT client: its event loop feeding a queue the size of the broker's window (control
/// messages routed to the dispatch stage), and the acker, whose task sends what is queued and
/// the DISCONNECT once the tree's `ack` node is cancelled.
fn connect(core: &Core, dispatch: &DispatchStage, tree: &ShutdownTree) -> Result<Mqtt, RunError> {
    let (client, eventloop) = options::connect(&core.settings.mqtt)?;
    let (acker, outbound) = acker::outbound(client.clone(), core.conn.clone(), core.metrics.clone());
    let acks = Part::spawn("acker", acknowledge(outbound, acker.clone(), tree.ack.clone()));
    let window = usize::from(core.settings.mqtt.receive_maximum);
    let (messages_tx, messages) = mpsc::channel(window + READING_QUEUE_SLACK);
    let event_loop = EventLoopTask {
        eventloop,
        client,
        settings: core.settings.mqtt.clone(),
        readings: messages_tx,
        control: Some(dispatch.control_route()),
        state: core.conn.clone(),
        sequencer: acker.sequencer().clone(),
        metrics: core.metrics.clone(),
    };
    Ok(Mqtt { event_loop, messages, acker, acks })
}

/// Drives the acker's task; once `ack` is cancelled, queues the DISCONNECT behind every
/// acknowledgement already queued and lets the task send them all.
async fn acknowledge(outbound: impl Future<Output = ()>, acker: Acker, ack: CancellationToken) {
    let mut outbound = std::pin::pin!(outbound);
    tokio::select! {
        () = &mut outbound => return,
        () = ack.cancelled() => acker.disconnect(),
    }
    drop(acker);
    outbound.await;
}

/// Spawns the writer (forced to stop at `flush`) and the pipeline (stopping at `intake`), with
/// the store, its retention timer and the spool; returns the channels to the alert engine.
fn spawn_ingest(
    core: &Core,
    messages: mpsc::Receiver<Message>,
    acker: &Acker,
    tree: &ShutdownTree,
) -> Result<Ingest, RunError> {
    let s = &core.settings;
    let (store, retention) = open_store(s, &core.metrics, tree)?;
    let spool = open_spool(s, &core.metrics)?;
    let (batch_tx, batch_rx) = mpsc::channel(s.ingest.pending_batches.get());
    let (readings_tx, readings) = mpsc::channel(ALERT_QUEUE);
    let (incidents, incident_rx) = mpsc::channel(INCIDENT_QUEUE);
    let prefix = s.mqtt.topic_prefix.clone();
    let sink = Arc::new(MqttWriteSink { acker: acker.clone(), prefix: prefix.clone(), metrics: core.metrics.clone() });
    let writer =
        Writer { store, sink, spool, retry: s.store_retry, health: core.health.clone(), metrics: core.metrics.clone() };
    let writer = Part::spawn("writer", writer.run(batch_rx, tree.flush.clone()));
    let window = usize::from(s.mqtt.receive_maximum);
    let pipeline = Pipeline {
        prefix,
        limits: s.ingest.limits,
        registry: core.registry.clone(),
        batch_max_lines: s.ingest.batch_max_lines.get(),
        batch_max_age: s.ingest.batch_max_age,
        flush_at_unacked: (window * usize::from(s.ingest.batch_window_percent) / 100).max(1),
        batch_idle: s.ingest.batch_idle,
        batches: batch_tx,
        readings: Some(readings_tx),
        extra_lines: Some(incident_rx),
        acker: acker.clone(),
        metrics: core.metrics.clone(),
    };
    let pipeline = Part::spawn("pipeline", pipeline.run(messages, tree.intake.clone()));
    Ok(Ingest { writer, pipeline, retention, readings, incidents })
}

/// The store the writer writes to, and for the embedded store its retention timer (an hourly
/// delete of points older than `retention_days`), stopped with the service.
fn open_store(
    settings: &Settings,
    metrics: &IngestMetrics,
    tree: &ShutdownTree,
) -> Result<(Store, Option<Part<()>>), RunError> {
    match &settings.store {
        StoreSettings::Influx(s) => {
            Ok((Store::Influx(InfluxV2::new(s.clone())?.with_wire_counters(metrics.store_wire())), None))
        }
        StoreSettings::Embedded { retention } => {
            let e = EmbeddedStore::open(&settings.data_dir, *retention)?;
            tracing::info!(event = "embedded_store", file = %e.path().display(), "readings go to the embedded SQLite store");
            let timer = Part::spawn("retention timer", e.clone().run_retention(RETENTION_EVERY, tree.service.clone()));
            Ok((Store::Embedded(e), Some(timer)))
        }
    }
}

/// Opens the spool and reports what recovery found.
fn open_spool(settings: &Settings, metrics: &IngestMetrics) -> Result<Option<Arc<Mutex<Spool>>>, RunError> {
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
    Ok(Some(Arc::new(Mutex::new(spool))))
}

/// Spawns the dispatch stage (delivery stopping at `flush`) and the alert engine (stopping at
/// `drain`), and builds the whole HTTP app: the built-in endpoints, the incident and dispatch
/// API and the console.
fn spawn_alerting(
    alerting: Alerting,
    core: &Core,
    acker: &Acker,
    tree: &ShutdownTree,
    (readings, incidents): (mpsc::Receiver<AlertInput>, mpsc::Sender<String>),
) -> Result<Spawned, RunError> {
    let Alerting { engine, dispatch } = alerting;
    let (handle, tokens) = (engine.handle(), &core.tokens);
    // One router for the incident and dispatch API and the console.
    let api = dispatch.router(handle.clone(), tokens.clone());
    let dispatch = dispatch.spawn(handle.clone(), acker.clone(), &core.settings.mqtt, tree.flush.clone())?;
    let dispatch = Part::adopt("dispatch", dispatch);
    let app = http::router(HttpState {
        metrics: core.metrics_registry.clone(),
        mqtt: core.conn.clone(),
        store: core.health.clone(),
        alerting: Some(handle.health()),
        service: core.service_metrics.clone(),
    })
    .merge(api);
    let app = crate::http_layers::apply(app, core.service_metrics.http_requests.clone());
    let engine = Part::spawn("alert engine", engine.run(readings, incidents, tree.drain.clone()));
    Ok(Spawned { engine, dispatch, app })
}
