//! The alert engine: owns detection, correlation and the incident store. [`Engine::run`] consumes
//! enriched readings from a bounded channel in batches, ticks the offline and persistence timers,
//! applies actions sent through an [`EngineHandle`], writes every change to SQLite (on the store
//! thread) *before* making it visible, then emits one `fire_incident` line per transition.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use firegrid_ingest::pipeline::AlertInput;
use firegrid_ingest::{AckSequencer, AckToken};
use firegrid_ingest::{Registry, SharedRegistry};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{AlertingConfig, ConfigError, Settings};
use crate::core::AlertCore;
use crate::correlate::{CorrelateError, Outcome};
use crate::health::EngineHealth;
use crate::incident::{Action, Class, Event, Incident, TransitionError};
use crate::metrics::Metrics;
use crate::outbox::{DispatchPlan, Dispatcher, OutboxEntry};
use crate::store::{
    Abandon, AbandonReason, IncidentFilter, IncidentRecord, OutboxRow, Store, StoreError, StoreThread, Unroutable,
};

/// Most readings evaluated per batch (one store transaction per batch).
const BATCH: usize = 512;

/// What can go wrong in the engine or an operation on it.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The `[alerting]` configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The incident store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metrics could not be registered.
    #[error("alerting metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// No incident has this id.
    #[error("no incident {0}")]
    NotFound(String),
    /// The lifecycle forbids the action.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The engine is not running.
    #[error("the alert engine has stopped")]
    Stopped,
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

type Reply = oneshot::Sender<Result<Incident, AlertError>>;

enum Command {
    Act { id: String, action: Action, actor: String, note: String, reply: Reply },
    Notified { id: String, stations: Vec<String>, grids: Vec<String>, outbox: Vec<OutboxEntry>, reply: Reply },
}

/// A cheap, cloneable handle for the API (and later the dispatch stage).
#[derive(Debug, Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    reader: StoreThread,
    writer: StoreThread,
    outbox_signal: Arc<tokio::sync::Notify>,
    health: Arc<EngineHealth>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Act { id, action, .. } => write!(f, "Act({id}, {action})"),
            Command::Notified { id, .. } => write!(f, "Notified({id})"),
        }
    }
}

impl EngineHandle {
    /// Incidents matching the filter, newest first.
    pub async fn list(&self, filter: IncidentFilter) -> Result<Vec<Incident>, AlertError> {
        Ok(self.reader.call(move |s| s.list(&filter)).await??)
    }

    /// One incident with evidence and audit trail.
    pub async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, AlertError> {
        let id = id.to_owned();
        Ok(self.reader.call(move |s| s.get(&id)).await??)
    }

    /// Applies a responder action; `actor` is recorded in the audit trail.
    pub async fn act(&self, id: &str, action: Action, actor: &str, note: &str) -> Result<Incident, AlertError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Act { id: id.to_owned(), action, actor: actor.to_owned(), note: note.to_owned(), reply };
        self.commands.send(cmd).await.map_err(|_| AlertError::Stopped)?;
        rx.await.map_err(|_| AlertError::Stopped)?
    }

    /// For the dispatch stage: records the stations and grids notified (they may then act on the
    /// incident), moves an open fire to `dispatched`, and enqueues `outbox` entries — all in one
    /// store transaction.
    pub async fn record_notified(
        &self,
        id: &str,
        stations: Vec<String>,
        grids: Vec<String>,
        outbox: Vec<OutboxEntry>,
    ) -> Result<Incident, AlertError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Notified { id: id.to_owned(), stations, grids, outbox, reply };
        self.commands.send(cmd).await.map_err(|_| AlertError::Stopped)?;
        rx.await.map_err(|_| AlertError::Stopped)?
    }

    /// For the dispatch stage: outbox entries not yet delivered and due by `now_ms`, oldest first.
    pub async fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, AlertError> {
        Ok(self.writer.call(move |s| s.due_outbox(now_ms, limit)).await??)
    }

    /// For the dispatch stage: [`EngineHandle::due_outbox`] past its first `offset` rows.
    pub async fn due_outbox_page(
        &self,
        now_ms: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<OutboxEntry>, AlertError> {
        Ok(self.writer.call(move |s| s.due_outbox_page(now_ms, limit, offset)).await??)
    }

    /// For the dispatch stage: pending webhooks of closed incidents or enqueued before
    /// `created_before_ms`.
    pub async fn webhooks_to_abandon(&self, created_before_ms: i64) -> Result<Vec<Abandon>, AlertError> {
        Ok(self.writer.call(move |s| s.webhooks_to_abandon(created_before_ms)).await??)
    }

    /// For the dispatch stage: records rows as abandoned; returns how many changed.
    pub async fn outbox_abandoned(&self, rows: Vec<(String, AbandonReason)>, at_ms: i64) -> Result<usize, AlertError> {
        Ok(self.writer.call(move |s| s.mark_abandoned(&rows, at_ms)).await??)
    }

    /// For the console: active incidents with no recipient, longest unroutable first.
    pub async fn unroutable(&self) -> Result<Vec<Unroutable>, AlertError> {
        Ok(self.reader.call(|s| s.unroutable()).await??)
    }

    /// For the dispatch stage: records a failed attempt; the entry is due again at `next_attempt_ms`.
    pub async fn outbox_failed(
        &self,
        idempotency_key: &str,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), AlertError> {
        let (key, error) = (idempotency_key.to_owned(), error.to_owned());
        Ok(self.writer.call(move |s| s.mark_failed(&key, next_attempt_ms, &error)).await??)
    }

    /// For the dispatch stage: marks outbox entries delivered in one transaction.
    pub async fn outbox_delivered_many(&self, keys: Vec<String>, at_ms: i64) -> Result<usize, AlertError> {
        Ok(self.writer.call(move |s| s.mark_delivered_many(&keys, at_ms)).await??)
    }

    /// For the dispatch stage: deletes outbox rows delivered before `before_ms`.
    pub async fn prune_outbox(&self, before_ms: i64) -> Result<usize, AlertError> {
        Ok(self.writer.call(move |s| s.prune_delivered(before_ms)).await??)
    }

    /// The engine's health (for `/readyz`).
    pub fn health(&self) -> Arc<EngineHealth> {
        self.health.clone()
    }

    /// Wakes the delivery stage: notified after every commit that enqueued notifications.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// For the dispatch stage: marks an outbox entry delivered (false when it already was).
    pub async fn outbox_delivered(&self, idempotency_key: &str, at_ms: i64) -> Result<bool, AlertError> {
        let key = idempotency_key.to_owned();
        Ok(self.writer.call(move |s| s.mark_delivered(&key, at_ms)).await??)
    }

    /// How `target` (a station id, or `grid:{grid_id}`) was notified of an incident: the distinct
    /// `role`s of its outbox rows (`respond`, `verify`, `rectify`, `forward_119`), for the
    /// permission table ([`crate::permissions`]).
    pub async fn notification_roles(&self, id: &str, target: &str) -> Result<Vec<String>, AlertError> {
        let (id, target) = (id.to_owned(), target.to_owned());
        Ok(self.reader.call(move |s| s.notification_roles(&id, &target)).await??)
    }

    /// For the console: the incident's outbox rows, oldest first, and its dispatch state (JSON).
    pub async fn dispatch_log(&self, id: &str) -> Result<(Vec<OutboxRow>, Option<String>), AlertError> {
        let id = id.to_owned();
        Ok(self.reader.call(move |s| s.dispatch_log(&id)).await??)
    }
}

/// The alert engine (see the module doc).
#[derive(Debug)]
pub struct Engine {
    settings: Arc<Settings>,
    registry: SharedRegistry,
    watched: Arc<Registry>,
    core: AlertCore,
    writer: StoreThread,
    metrics: Metrics,
    commands: mpsc::Receiver<Command>,
    handle: EngineHandle,
    duplicates_seen: u64,
    lines_closed: bool,
    dispatcher: Option<Box<dyn Dispatcher>>,
}

impl std::fmt::Debug for dyn Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Engine {
    /// Validates the configuration, opens (or creates) `data_dir/incidents.sqlite3`, resumes the
    /// active incidents, starts watching the registry's devices for silence and registers the
    /// metrics. Blocking file I/O: call it at start-up.
    pub fn open(
        config: AlertingConfig,
        registry: SharedRegistry,
        data_dir: &Path,
        metrics: &prometheus::Registry,
    ) -> Result<Engine, AlertError> {
        let settings = Arc::new(config.validate()?);
        let store = Store::open(data_dir)?;
        let active = store.active_incidents()?;
        let counters = store.counters()?;
        let rule_state = store.rule_states()?;
        let reader = StoreThread::spawn(Store::open_reader(data_dir)?, "alert-store-read")?;
        let writer = StoreThread::spawn(store, "alert-store-write")?;
        let metrics = Metrics::register(metrics)?;
        let mut core = AlertCore::new(settings.clone());
        tracing::info!(
            event = "alert_engine_resumed",
            active = active.len(),
            devices = rule_state.len(),
            "alert engine resumes incidents and rule state"
        );
        for (device, error) in core.restore(active, counters, rule_state) {
            tracing::warn!(event = "rule_state_undecodable", device = %device, error = %error,
                "stored rule state does not decode; the device's rules start afresh");
        }
        let watched = registry.snapshot();
        core.watch_registry(&watched, now_ms());
        let (tx, commands) = mpsc::channel(64);
        let handle = EngineHandle {
            commands: tx,
            reader,
            writer: writer.clone(),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            health: Arc::new(EngineHealth::default()),
        };
        let engine = Engine {
            settings,
            registry,
            watched,
            core,
            writer,
            metrics,
            commands,
            handle,
            duplicates_seen: 0,
            lines_closed: false,
            dispatcher: None,
        };
        engine.update_gauges();
        Ok(engine)
    }

    /// Installs the dispatch stage: it plans notifications for every transition, persisted with it.
    pub fn set_dispatcher(&mut self, dispatcher: impl Dispatcher) {
        self.dispatcher = Some(Box::new(dispatcher));
    }

    /// A handle for the API and the dispatch stage; valid while [`Engine::run`] runs.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` is cancelled or `readings` closes; readings already queued are
    /// evaluated and persisted before it returns.
    pub async fn run(
        mut self,
        mut readings: mpsc::Receiver<AlertInput>,
        incident_lines: mpsc::Sender<String>,
        shutdown: CancellationToken,
    ) -> Result<(), AlertError> {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        let health = self.handle.health.clone();
        loop {
            // Each piece of work below counts as one for the stall check of `/readyz`.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(cmd) = self.commands.recv() => {
                    health.busy(now_ms());
                    self.command(cmd, &incident_lines).await;
                }
                n = readings.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    health.busy(now_ms());
                    self.evaluate(&mut batch, &incident_lines).await?;
                }
                _ = tick.tick() => {
                    health.busy(now_ms());
                    self.rewatch();
                    let now = now_ms();
                    let mut out = self.core.on_tick(now);
                    if let Some(d) = self.dispatcher.as_mut() {
                        let plans = d.tick(now);
                        self.apply_plans(&mut out, plans, now);
                    }
                    self.commit(out, &incident_lines).await?;
                }
            }
            health.idle();
        }
        while let Ok(er) = readings.try_recv() {
            batch.push(er);
            if batch.len() >= BATCH {
                self.evaluate(&mut batch, &incident_lines).await?;
            }
        }
        self.evaluate(&mut batch, &incident_lines).await?;
        tracing::info!("alert engine stopped");
        Ok(())
    }

    /// Evaluates a batch of readings, commits what they changed, then completes their parts of
    /// the MQTT acks: a reading is acknowledged only once its consequences are durable.
    async fn evaluate(&mut self, batch: &mut Vec<AlertInput>, lines: &mpsc::Sender<String>) -> Result<(), AlertError> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut out = Outcome::default();
        let mut acks: Vec<AckToken> = Vec::with_capacity(batch.len());
        for input in batch.drain(..) {
            out.merge(self.core.on_reading(&input.reading, now));
            acks.extend(input.ack);
        }
        let dups = self.core.duplicates();
        self.metrics.duplicates.inc_by(dups - self.duplicates_seen);
        self.duplicates_seen = dups;
        self.commit(out, lines).await?;
        AckSequencer::complete_all(acks);
        Ok(())
    }

    /// Picks up devices added by a registry reload (O(devices), only when the registry changed).
    fn rewatch(&mut self) {
        let now = self.registry.snapshot();
        if !Arc::ptr_eq(&now, &self.watched) {
            self.core.watch_registry(&now, now_ms());
            self.watched = now;
        }
    }

    async fn command(&mut self, cmd: Command, lines: &mpsc::Sender<String>) {
        let now = now_ms();
        let (id, action, result, reply) = match cmd {
            Command::Act { id, action, actor, note, reply } => {
                let r = self.core.act(&id, action, &actor, &note, now);
                (id, action, r, reply)
            }
            Command::Notified { id, stations, grids, outbox, reply } => {
                let r = self.core.notified(&id, &stations, &grids, "dispatch", now).map(|mut o| {
                    o.outbox = outbox;
                    o
                });
                (id, Action::Dispatched, r, reply)
            }
        };
        let answer = match result {
            Ok(out) => {
                // A repeated action changes nothing: the answer is the incident as it is.
                let inc =
                    out.incidents.iter().find(|i| i.id == id).or_else(|| self.core.correlator().get(&id)).cloned();
                match self.commit(out, lines).await {
                    Ok(()) => inc.ok_or_else(|| AlertError::NotFound(id.clone())),
                    Err(e) => Err(e),
                }
            }
            Err(CorrelateError::Transition(t)) => Err(AlertError::Transition(t)),
            Err(CorrelateError::NotActive(_)) => self.closed_or_missing(&id, action).await,
        };
        let _ = reply.send(answer);
    }

    /// An action on an id that is not active: the closed incident unchanged when the action
    /// repeats what closed it, else refused with its status; or not found.
    async fn closed_or_missing(&self, id: &str, action: Action) -> Result<Incident, AlertError> {
        let key = id.to_owned();
        match self.handle.reader.call(move |s| s.get(&key)).await?? {
            Some(rec) if rec.incident.repeats(action) => Ok(rec.incident),
            Some(rec) => Err(AlertError::Transition(TransitionError::Illegal {
                incident_id: rec.incident.id.clone(),
                class: rec.incident.class,
                status: rec.incident.status,
                action,
            })),
            None => Err(AlertError::NotFound(id.to_owned())),
        }
    }

    /// Persists an outcome (retrying while the store fails, so nothing is lost), then counts and
    /// emits its transitions.
    async fn commit(&mut self, mut out: Outcome, lines: &mpsc::Sender<String>) -> Result<(), AlertError> {
        self.plan(&mut out);
        if out.is_empty() && out.counters.is_empty() && out.outbox.is_empty() && out.dispatch_state.is_empty() {
            self.update_gauges();
            return Ok(());
        }
        let out = Arc::new(out);
        let mut delay = Duration::from_millis(50);
        loop {
            let o = out.clone();
            match self.writer.call(move |s| s.write(&o)).await {
                Ok(Ok(())) => {
                    self.handle.health.committed(true);
                    break;
                }
                Ok(Err(e)) => {
                    self.handle.health.committed(false);
                    tracing::error!(event = "incident_store_write_failed", error = %e, retry_in_ms = delay.as_millis() as u64, "acknowledgements wait until the store commits");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let out = &*out;
        if !out.outbox.is_empty() {
            self.handle.outbox_signal.notify_one();
        }
        for a in &out.audit {
            let Some(inc) = out.incidents.iter().find(|i| i.id == a.incident_id) else { continue };
            if a.event == Event::Opened {
                self.metrics.opened.with_label_values(&[inc.class.as_str(), a.severity.as_str()]).inc();
                tracing::info!(incident = %inc.id, class = %inc.class, severity = %a.severity, "incident opened");
            } else {
                tracing::info!(incident = %inc.id, event = %a.event, status = %a.to_status, severity = %a.severity,
                    actor = %a.actor, "incident transition");
            }
            let line = crate::line::encode(a, inc);
            if !self.lines_closed && lines.send(line).await.is_err() {
                self.lines_closed = true;
                tracing::warn!("fire_incident line channel closed; transitions are kept in the incident store only");
            }
        }
        self.update_gauges();
        Ok(())
    }

    /// Asks the dispatch stage about every transition of `out` and folds its plans in.
    fn plan(&mut self, out: &mut Outcome) {
        let Some(d) = self.dispatcher.as_mut() else { return };
        let now = now_ms();
        for ev in &out.evidence {
            d.observe(ev);
        }
        let mut plans = Vec::new();
        for a in &out.audit {
            if let Some(inc) = out.incidents.iter().find(|i| i.id == a.incident_id) {
                let p = d.plan(a, inc, now);
                if !p.is_empty() {
                    plans.push((a.incident_id.clone(), p));
                }
            }
        }
        self.apply_plans(out, plans, now);
    }

    fn apply_plans(&mut self, out: &mut Outcome, plans: Vec<(String, DispatchPlan)>, now: i64) {
        for (id, p) in plans {
            if !(p.stations.is_empty() && p.grids.is_empty()) {
                match self.core.notified(&id, &p.stations, &p.grids, "dispatch", now) {
                    Ok(o) => out.merge(o),
                    Err(e) => tracing::debug!(incident = %id, error = %e, "notified list not updated"),
                }
            }
            out.outbox.extend(p.outbox);
            if let Some(state) = p.state {
                out.dispatch_state.push((id, state));
            }
        }
    }

    fn update_gauges(&self) {
        let counts = self.core.correlator().open_counts();
        for (c, n) in Class::ALL.iter().zip(counts) {
            self.metrics.open.with_label_values(&[c.as_str()]).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.metrics.offline.set(i64::try_from(self.core.offline_count()).unwrap_or(i64::MAX));
        let (registered, unregistered) = self.core.detector().held();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.state_devices.with_label_values(&["registered"]).set(gauge(registered));
        self.metrics.state_devices.with_label_values(&["unregistered"]).set(gauge(unregistered));
        let suppressed = self.core.unregistered_suppressed();
        let new = suppressed.saturating_sub(self.metrics.unregistered_suppressed.get());
        if new > 0 {
            self.metrics.unregistered_suppressed.inc_by(new);
            tracing::warn!(
                event = "unregistered_alarms_suppressed",
                new,
                total = suppressed,
                limit = self.settings.trust.unregistered_max_open_incidents,
                "alarms of unregistered devices stored only: the open unverified incidents are at their limit"
            );
        }
    }
}
