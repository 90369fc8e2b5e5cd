//! Building the service from validated settings: opening every part (registry, metrics,
//! incident store, dispatch, broker, store, spool, HTTP listener), joining them with bounded
//! channels and spawning each as a [`Part`] that stops at its node of the [`ShutdownTree`].
//!
//! Which parts start is the role's ([`Role::parts`](crate::role::Role::parts)), read once here
//! in [`start`]: without alerting, the engine, the dispatch stage and the incident API are
//! never opened (their [`Part`]s are absent); without stored readings, the pipeline hands every
//! reading to the engine only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::future::Future;

use firegrid_alerting::forward::Forwarder;
use firegrid_alerting::store::IncidentBackend;
use firegrid_alerting::{AlertError, DispatchStage, Engine, EngineHandle, SharedTokens, TokenSet};
use firegrid_ingest::batch_pool::BatchPool;
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
use crate::role::RoleParts;
use crate::run::keeper::{self, KeeperMetrics};
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
    pub(super) memory: Part<()>,
}

/// What the parts share, opened before anything is spawned.
struct Core {
    settings: Settings,
    /// What the role starts.
    role: RoleParts,
    metrics_registry: prometheus::Registry,
    metrics: IngestMetrics,
    service_metrics: crate::metrics::ServiceMetrics,
    registry: SharedRegistry,
    broker_users: Option<SharedUsers>,
    conn: Arc<ConnState>,
    health: Arc<StoreHealth>,
}

/// The alert engine and its dispatch stage, opened (their stores recovered), not yet running,
/// and the API tokens of the router that serves them.
struct Alerting {
    engine: Engine,
    dispatch: DispatchStage,
    tokens: SharedTokens,
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
/// with the alert engine when alerting runs.
struct Ingest {
    writer: Part<()>,
    pipeline: Part<()>,
    retention: Option<Part<()>>,
    to_engine: Option<EngineChannels>,
}

/// The alert engine's ends of its channels with the pipeline: readings in, `fire_incident` lines
/// out to the store.
type EngineChannels = (mpsc::Receiver<AlertInput>, mpsc::Sender<String>);

/// The alert engine and the dispatch stage running, and the HTTP app that serves them.
struct Spawned {
    engine: Part<Result<(), AlertError>>,
    dispatch: Part<()>,
    app: axum::Router,
    handle: Option<EngineHandle>,
}

/// What [`start`] started: the parts, the HTTP address, the registry and, when alerting runs,
/// the alert engine's handle.
pub(super) struct Started {
    pub(super) parts: Parts,
    pub(super) http_addr: SocketAddr,
    pub(super) registry: SharedRegistry,
    pub(super) engine: Option<EngineHandle>,
}

/// Opens and spawns every part; returns them with the HTTP address and the registry.
pub(super) async fn start(settings: Settings, tree: &ShutdownTree) -> Result<Started, RunError> {
    let (core, alerting) = open(settings)?;
    let addr = core.settings.http_listen;
    let listener = TcpListener::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
    let http_addr = listener.local_addr().map_err(|source| RunError::Bind { addr, source })?;
    let mqtt = connect(&core, alerting.as_ref().map(|a| &a.dispatch), tree)?;
    let tokens = alerting.as_ref().map(|a| a.tokens.clone());
    let mut ingest = spawn_ingest(&core, mqtt.messages, &mqtt.acker, tree)?;
    let event_loop = Part::spawn("mqtt event loop", mqtt.event_loop.run(connection_stop(&core.settings, tree)));
    let spawned = match (alerting, ingest.to_engine.take()) {
        (Some(alerting), Some(channels)) => spawn_alerting(alerting, &core, &mqtt.acker, tree, channels)?,
        // The role opened both the engine and its channels, or neither.
        _ => without_alerting(&core),
    };
    let limits = core.settings.http_limits;
    let http = Part::spawn("http", crate::http_serve::serve(listener, spawned.app, limits, tree.service.clone()));
    let role = core.settings.role;
    tracing::info!(event = "started", http = %http_addr, role = role.as_str(), "firegrid is running: {}", role.summary());
    let reloadable = Reloadable { registry: core.registry.clone(), tokens, broker_users: core.broker_users };
    let reload = Part::spawn("sighup watcher", reload_on_sighup(reloadable, tree.service.clone()));
    let keeper_metrics = KeeperMetrics {
        trims: core.service_metrics.memory_trims.clone(),
        free_bytes: core.service_metrics.allocator_free_bytes.clone(),
    };
    let memory = Part::spawn("memory keeper", keeper::keep(keeper_metrics, tree.service.clone()));
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
        memory,
    };
    Ok(Started { parts, http_addr, registry: core.registry, engine: spawned.handle })
}

/// When the consumer's event loop stops: at the tree's `disconnect`, and for a partition
/// leader also when its term ends (a connection lost then is not reopened: the session is the
/// next leader's).
fn connection_stop(settings: &Settings, tree: &ShutdownTree) -> CancellationToken {
    let stop = tree.disconnect.child_token();
    if let Some(term) = &settings.term {
        let (ended, stop) = (term.ended.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = ended.cancelled() => stop.cancel(),
                () = stop.cancelled() => {}
            }
        });
    }
    stop
}

/// Metrics, the registry, the alert engine and its dispatch stage and the API tokens (when the
/// role alerts), and the broker (the embedded one started here, its address put into the MQTT
/// settings).
fn open(mut settings: Settings) -> Result<(Core, Option<Alerting>), RunError> {
    let role = settings.role.parts();
    let metrics_registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&metrics_registry)?;
    let service_metrics = crate::metrics::register(&metrics_registry)?;
    if let Some(term) = &settings.term {
        term.metrics.register(&metrics_registry)?;
    }
    let loaded = crate::registry_files::load(&settings)?;
    if loaded.defaulted_empty {
        tracing::warn!(
            event = "registry_absent",
            devices = %settings.registry.devices.display(),
            "no [registry] configured and the default registry files are absent: starting with an empty registry, \
             so every device is unregistered and the alerting.unregistered policy applies; set [registry] in a config \
             file (docs/DESIGN.md §3)"
        );
    }
    let registry = SharedRegistry::from_registry(settings.registry.clone(), loaded.registry);
    tracing::info!(
        event = "registry_loaded",
        devices = registry.snapshot().device_count(),
        stations = registry.snapshot().stations().len()
    );
    let alerting = if role.alerting { Some(open_alerting(&settings, &registry, &metrics_registry)?) } else { None };
    let broker_users = settings.embedded_users_file.as_deref().map(SharedUsers::load).transpose()?;
    if let Some(listen) = settings.mqtt.embedded {
        let internal = broker::start(
            listen,
            settings.mqtt.max_packet_bytes,
            broker_users.clone(),
            settings.embedded_broker_log_bytes,
        )?;
        settings.mqtt.host = internal.addr.ip().to_string();
        settings.mqtt.port = internal.addr.port();
        settings.mqtt.credentials = Some((internal.username, internal.password));
    }
    let core = Core {
        settings,
        role,
        metrics_registry,
        metrics,
        service_metrics,
        registry,
        broker_users,
        conn: Arc::new(ConnState::default()),
        health: Arc::new(StoreHealth::default()),
    };
    Ok((core, alerting))
}

/// The alert engine (its incident store opened and recovered), its dispatch stage and the API
/// tokens.
fn open_alerting(
    settings: &Settings,
    registry: &SharedRegistry,
    metrics_registry: &prometheus::Registry,
) -> Result<Alerting, RunError> {
    // A partition leader's engine writes under its epoch, and its dispatch asks its guard.
    let term = settings.term.as_ref();
    let mut engine =
        Engine::open_fenced(settings.alerting.clone(), registry.clone(), &settings.incidents, term, metrics_registry)?;
    if let (Some(term), IncidentBackend::Postgres { url }) = (term, &settings.incidents) {
        // Actions on other partitions' incidents go to their leaders; this one's, from them.
        engine.serve_forwarded(Forwarder::start(url.clone(), term.scope.clone()));
    }
    let mut dispatch =
        DispatchStage::new(settings.dispatch.clone(), &mut engine, &settings.mqtt.topic_prefix, metrics_registry)?;
    if let Some(term) = &settings.term {
        dispatch = dispatch.with_guard(term.guard.clone());
    }
    Ok(Alerting { engine, dispatch, tokens: load_tokens(&settings.tokens_file)? })
}

/// The API tokens, shared by the routers and reloaded on SIGHUP; without a token file the API
/// answers 401 to every call (nothing is served without a token) and says so in the log, until a
/// reload finds the file.
pub(super) fn load_tokens(path: &std::path::Path) -> Result<SharedTokens, RunError> {
    if !path.exists() {
        tracing::warn!(event = "no_api_tokens", file = %path.display(), "the incident API refuses every call until this file exists");
        return Ok(SharedTokens::with_file(TokenSet::default(), path));
    }
    Ok(SharedTokens::load(path)?)
}

/// The MQTT client: its event loop feeding a queue the size of the broker's window (control
/// messages routed to the dispatch stage), and the acker, whose task sends what is queued and
/// the DISCONNECT once the tree's `ack` node is cancelled.
fn connect(core: &Core, dispatch: Option<&DispatchStage>, tree: &ShutdownTree) -> Result<Mqtt, RunError> {
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
        control: dispatch.map(DispatchStage::control_route),
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
/// the store, its retention timer and the spool; returns the channels to the alert engine when
/// the role alerts. The writer runs in every role: an alert-only instance stores its incident
/// lines.
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
    let (readings_tx, incident_rx, to_engine) = if core.role.alerting {
        let (readings_tx, readings) = mpsc::channel(ALERT_QUEUE);
        let (incidents, incident_rx) = mpsc::channel(INCIDENT_QUEUE);
        (Some(readings_tx), Some(incident_rx), Some((readings, incidents)))
    } else {
        (None, None, None)
    };
    let prefix = s.mqtt.topic_prefix.clone();
    let sink = Arc::new(MqttWriteSink { acker: acker.clone(), prefix: prefix.clone(), metrics: core.metrics.clone() });
    let window = usize::from(s.mqtt.receive_maximum);
    let flush_at_unacked = (window * usize::from(s.ingest.batch_window_percent) / 100).max(1);
    let pool = batch_pool(s.ingest.batch_max_lines.get(), flush_at_unacked, s.ingest.pending_batches.get());
    let writer = Writer {
        store,
        sink,
        spool,
        retry: s.store_retry,
        health: core.health.clone(),
        metrics: core.metrics.clone(),
        pool: pool.clone(),
    };
    let writer = Part::spawn("writer", writer.run(batch_rx, tree.flush.clone()));
    let pipeline = Pipeline {
        prefix,
        limits: s.ingest.limits,
        registry: core.registry.clone(),
        batch_max_lines: s.ingest.batch_max_lines.get(),
        batch_max_age: s.ingest.batch_max_age,
        flush_at_unacked,
        batch_idle: s.ingest.batch_idle,
        batches: batch_tx,
        pool,
        store_readings: core.role.store_readings,
        readings: readings_tx,
        extra_lines: incident_rx,
        acker: acker.clone(),
        metrics: core.metrics.clone(),
    };
    let pipeline = Part::spawn("pipeline", pipeline.run(messages, tree.intake.clone()));
    Ok(Ingest { writer, pipeline, retention, to_engine })
}

/// The batches the pipeline fills and the writer hands back: sized for the lines a batch holds
/// before it is flushed — `batch_max_lines`, or fewer when the window share `flush_at_unacked`
/// (from `receive_maximum`) comes first — and as many kept as can be in flight: the writer's
/// queue, the batch being written and the one being filled.
fn batch_pool(batch_max_lines: usize, flush_at_unacked: usize, pending_batches: usize) -> BatchPool {
    BatchPool::new(batch_max_lines.min(flush_at_unacked), pending_batches + 2)
}

/// The store the writer writes to, and for the embedded store its retention timer (every minute
/// it drops tables past `retention_days` or over `max_bytes`), stopped with the service.
fn open_store(
    settings: &Settings,
    metrics: &IngestMetrics,
    tree: &ShutdownTree,
) -> Result<(Store, Option<Part<()>>), RunError> {
    match &settings.store {
        StoreSettings::Influx(s) => {
            Ok((Store::Influx(InfluxV2::new(s.clone())?.with_wire_counters(metrics.store_wire())), None))
        }
        StoreSettings::Embedded(options) => {
            let e = EmbeddedStore::open(&settings.data_dir, *options)?;
            if let Some(kept) = e.kept_beside() {
                tracing::warn!(
                    event = "embedded_store_old_schema_kept",
                    file = %kept.path.display(),
                    points = kept.points,
                    "the readings file had the old schema: kept read-only beside the new one (query it with sqlite3, \
                     or delete it when no longer needed)"
                );
            }
            tracing::info!(
                event = "embedded_store",
                file = %e.path().display(),
                durability = ?options.durability,
                "readings go to the embedded SQLite store"
            );
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
    (readings, incidents): EngineChannels,
) -> Result<Spawned, RunError> {
    let Alerting { engine, dispatch, tokens } = alerting;
    let handle = engine.handle();
    // One router for the incident and dispatch API and the console.
    let api = dispatch.router(handle.clone(), tokens);
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
    Ok(Spawned { engine, dispatch, app, handle: Some(handle) })
}

/// Without alerting: no engine, no dispatch stage (their parts absent), and an HTTP app of the
/// built-in endpoints only (`/metrics`, `/healthz`, `/readyz`), behind the same HTTP layers.
fn without_alerting(core: &Core) -> Spawned {
    let app = http::router(HttpState {
        metrics: core.metrics_registry.clone(),
        mqtt: core.conn.clone(),
        store: core.health.clone(),
        alerting: None,
        service: core.service_metrics.clone(),
    });
    let app = crate::http_layers::apply(app, core.service_metrics.http_requests.clone());
    Spawned { engine: Part::absent("alert engine"), dispatch: Part::absent("dispatch"), app, handle: None }
}
