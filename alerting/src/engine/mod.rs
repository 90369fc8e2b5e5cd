//! The alert engine: owns detection, correlation and the incident store. [`Engine::run`] consumes
//! enriched readings from a bounded channel in batches, ticks the offline and persistence timers,
//! applies actions sent through an [`EngineHandle`], writes every change to SQLite (on the store
//! thread) *before* making it visible, then emits one `fire_incident` line per transition.
//!
//! - `core`: [`AlertCore`], the pure pipeline detect → correlate with an explicit clock (what
//!   scenario tests and the bench drive).
//! - `dispatcher`: the seam the dispatch stage plugs into ([`Dispatcher`], [`DispatchPlan`]).
//! - `handle` ([`EngineHandle`]), `health` (`/readyz`), `metrics`, `line` (`fire_incident`).
//! - `forwarded`: a partition leader's consumer of the actions other instances forwarded to it
//!   (DESIGN §9), and the verdict conversions that give them the same answer as a direct one.

mod core;
mod dispatcher;
mod forwarded;
mod handle;
mod health;
mod line;
mod metrics;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use firegrid_ingest::backoff::Backoff;
use firegrid_ingest::clock::now_ms;
use firegrid_ingest::{AckSequencer, AckToken, AlertInput, Registry, SharedRegistry};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use self::core::AlertCore;
pub use dispatcher::{DispatchPlan, Dispatcher};
pub(crate) use forwarded::answer_of;
use handle::Command;
pub use handle::EngineHandle;
pub use health::{EngineHealth, EngineState};
use metrics::Metrics;

use crate::detect::Rewatch;
use crate::incident::{Action, Class, CorrelateError, Event, Incident, Outcome, TransitionError};
use crate::settings::AlertSettings;
use crate::store::{self, IncidentBackend, IncidentStore, StoreError, StoreThread};

/// Most readings evaluated per batch (one store transaction per batch).
const BATCH: usize = 512;
/// Devices watched per step of a registry (re)load, between readings: a few milliseconds of the
/// engine's task each (issue 14: a million devices never hold intake for long).
const REWATCH_STEP: usize = 8192;

/// What can go wrong in the engine or an operation on it.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
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
    /// The owning leader refused a forwarded action: the lifecycle forbids it (its reason).
    #[error("{0}")]
    Conflict(String),
    /// A forwarded action was not applied, or the owning engine had stopped (why).
    #[error("{0}")]
    Unavailable(String),
    /// The owning leader took a forwarded action but did not answer in time (it will apply it).
    #[error("{0}")]
    Timeout(String),
    /// The owning leader failed applying a forwarded action (the detail is in its log).
    #[error("the owning leader failed: {0}")]
    Remote(String),
}

/// The timing of a registry watch done in steps.
#[derive(Debug)]
struct RewatchTiming {
    started: std::time::Instant,
    steps: u32,
    longest: Duration,
}

impl RewatchTiming {
    fn new() -> RewatchTiming {
        RewatchTiming { started: std::time::Instant::now(), steps: 0, longest: Duration::ZERO }
    }
}

/// The alert engine (see the module doc).
#[derive(Debug)]
pub struct Engine {
    settings: Arc<AlertSettings>,
    registry: SharedRegistry,
    /// Where the incident store lives.
    backend: IncidentBackend,
    /// The incidents this engine owns in a shared store (a partition's counties).
    scope: crate::partition::Scope,
    /// The registry snapshot whose devices are watched for silence.
    watched: Arc<Registry>,
    /// The watching of `watched` still under way, a step at a time between readings, with its
    /// timing: when it started, its steps, its longest step (the longest the engine's task, and
    /// so intake, was held by it: logged with `registry_watched`).
    rewatch: Option<(Rewatch, RewatchTiming)>,
    core: AlertCore,
    writer: StoreThread,
    metrics: Metrics,
    commands: mpsc::Receiver<Command>,
    handle: EngineHandle,
    /// Redeliveries already counted into the metric.
    duplicates_seen: u64,
    /// The `fire_incident` line channel closed: lines are no longer sent.
    lines_closed: bool,
    dispatcher: Option<Box<dyn Dispatcher>>,
    /// A partition leader's consumer of forwarded actions, started by [`Engine::run`].
    consumer: Option<forwarded::Consumer>,
}

impl std::fmt::Debug for dyn Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Engine {
    /// Opens (or creates) `data_dir/incidents.sqlite3` (see [`Engine::open_on`]).
    pub fn open(
        settings: AlertSettings,
        registry: SharedRegistry,
        data_dir: &Path,
        metrics: &prometheus::Registry,
    ) -> Result<Engine, AlertError> {
        Engine::open_on(settings, registry, &IncidentBackend::Sqlite { data_dir: data_dir.to_owned() }, metrics)
    }

    /// Opens (or creates, or migrates) the incident store of `backend`, resumes the active
    /// incidents and rule state, starts watching the registry's devices for silence and registers
    /// the metrics. `settings` come from [`crate::config::AlertingConfig::validate`]. Blocking
    /// I/O (on threads of its own): call it at start-up.
    pub fn open_on(
        settings: AlertSettings,
        registry: SharedRegistry,
        backend: &IncidentBackend,
        metrics: &prometheus::Registry,
    ) -> Result<Engine, AlertError> {
        Engine::open_fenced(settings, registry, backend, None, metrics)
    }

    /// [`Engine::open_on`] for a partition leader's `term`: it resumes only the incidents of
    /// the term's counties, and every write of the engine (incidents, the outbox, timers, rule
    /// state) checks the term's epoch in its transaction and fails with
    /// [`StoreError::Fenced`] once another instance holds the partition (see
    /// [`crate::partition`]). The state it resumes is loaded after the lease was granted: the
    /// warm start of a new leader.
    pub fn open_fenced(
        settings: AlertSettings,
        registry: SharedRegistry,
        backend: &IncidentBackend,
        term: Option<&crate::partition::Term>,
        metrics: &prometheus::Registry,
    ) -> Result<Engine, AlertError> {
        let settings = Arc::new(settings);
        let fence = term.map(crate::partition::Term::fence);
        let scope = term.map_or_else(crate::partition::Scope::all, |t| t.scope.clone());
        let (store, reader, active, counters, rule_state) = store::blocking(|| {
            let mut store = IncidentStore::open_backend(backend)?;
            store.set_fence(fence);
            let (mut active, counters, rule_state) =
                (store.active_incidents()?, store.counters()?, store.rule_states()?);
            // The shared store holds every partition's incidents: resume only this one's.
            active.retain(|i| scope.owns_county(&i.county));
            Ok((store, IncidentStore::open_reader(backend)?, active, counters, rule_state))
        })?;
        let reader = StoreThread::spawn(reader, "alert-store-read")?;
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
        let mut job = Rewatch::new(watched.clone());
        // A small registry is watched at once; a city's, in steps once the engine runs.
        let rewatch = (!core.rewatch_step(&mut job, REWATCH_STEP, now_ms())).then(|| (job, RewatchTiming::new()));
        let (tx, commands) = mpsc::channel(64);
        let handle = EngineHandle {
            commands: tx,
            reader,
            writer: writer.clone(),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            health: Arc::new(EngineHealth::default()),
            shared_store: matches!(backend, IncidentBackend::Postgres { .. }),
            forward: None,
        };
        let mut engine = Engine {
            settings,
            registry,
            backend: backend.clone(),
            scope,
            watched,
            rewatch,
            core,
            writer,
            metrics,
            commands,
            handle,
            duplicates_seen: 0,
            lines_closed: false,
            dispatcher: None,
            consumer: None,
        };
        engine.update_gauges();
        Ok(engine)
    }

    /// Installs the dispatch stage: it plans notifications for every transition, persisted with it.
    pub fn set_dispatcher(&mut self, dispatcher: impl Dispatcher) {
        self.dispatcher = Some(Box::new(dispatcher));
    }

    /// On a partition leader sharing a PostgreSQL store (DESIGN §9): actions on incidents the
    /// engine does not own go through `forwarder` to their owner, and [`Engine::run`] applies the
    /// actions other instances forwarded for the engine's counties. Call before
    /// [`Engine::handle`]; nothing happens on SQLite or outside a partition (`counties` `None`).
    pub fn serve_forwarded(&mut self, forwarder: Arc<crate::forward::Forwarder>) {
        let (IncidentBackend::Postgres { url }, Some(counties)) = (&self.backend, self.scope.county_list()) else {
            return;
        };
        self.consumer = Some(forwarded::Consumer {
            url: url.clone(),
            counties: counties.to_vec(),
            expired: self.metrics.forwarded_expired.clone(),
        });
        self.handle.forward = Some(forwarder);
    }

    /// The registry the engine watches (the dispatch stage routes over the same one).
    pub(crate) fn registry(&self) -> SharedRegistry {
        self.registry.clone()
    }

    /// Where the incident store is (the dispatch stage resumes its state from it).
    pub(crate) fn backend(&self) -> &IncidentBackend {
        &self.backend
    }

    /// The incidents this engine owns (the dispatch stage resumes and delivers only those).
    pub(crate) fn scope(&self) -> &crate::partition::Scope {
        &self.scope
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
        let consumer_stop = shutdown.child_token();
        // Not awaited: it may wait on a reply of this task, which ends below.
        let _consumer = self.consumer.take().map(|c| c.spawn(self.handle.clone(), consumer_stop.clone()));
        let _stop_consumer = consumer_stop.drop_guard();
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
                    // A step per batch too, so a steady stream of readings cannot starve it.
                    self.rewatch_step();
                }
                _ = tick.tick() => {
                    health.busy(now_ms());
                    self.tick(&incident_lines).await?;
                }
                // Yields first: the step runs once the worker has had the chance to run other
                // tasks (HTTP, the pipeline), so a city's watch never holds a worker for long.
                () = tokio::task::yield_now(), if self.rewatch.is_some() => {
                    health.busy(now_ms());
                    self.rewatch_step();
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
        tracing::info!(event = "alert_engine_stopped", "alert engine stopped");
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

    /// The timers: devices added by a registry reload are watched, offline devices and
    /// persisting alarms are raised, the dispatch stage's escalations fire.
    async fn tick(&mut self, lines: &mpsc::Sender<String>) -> Result<(), AlertError> {
        self.rewatch();
        let now = now_ms();
        let mut out = self.core.on_tick(now);
        if let Some(d) = self.dispatcher.as_mut() {
            let plans = d.tick(now);
            self.apply_plans(&mut out, plans, now);
        }
        self.commit(out, lines).await
    }

    /// Starts watching a reloaded registry (in steps, see [`Self::rewatch_step`]) when the
    /// registry changed; a job still under way for an older one is superseded.
    fn rewatch(&mut self) {
        let now = self.registry.snapshot();
        if !Arc::ptr_eq(&now, &self.watched) {
            tracing::info!(event = "registry_rewatch_started", devices = now.device_count());
            self.rewatch = Some((Rewatch::new(now.clone()), RewatchTiming::new()));
            self.watched = now;
            self.rewatch_step();
        }
    }

    /// One step of the registry watch under way, if any: [`REWATCH_STEP`] devices.
    fn rewatch_step(&mut self) {
        let Some((job, timing)) = self.rewatch.as_mut() else { return };
        let t = std::time::Instant::now();
        let done = self.core.rewatch_step(job, REWATCH_STEP, now_ms());
        timing.steps += 1;
        timing.longest = timing.longest.max(t.elapsed());
        if done {
            tracing::info!(
                event = "registry_watched",
                devices = job.registry().device_count(),
                steps = timing.steps,
                elapsed_ms = timing.started.elapsed().as_millis() as u64,
                longest_step_ms = timing.longest.as_secs_f64() * 1e3,
                "every device of the registry is watched for silence"
            );
            self.rewatch = None;
        }
    }

    async fn command(&mut self, cmd: Command, lines: &mpsc::Sender<String>) {
        match cmd {
            Command::Act { id, action, actor, note, reply } => {
                let (out, answer) = self.apply(&id, action, &actor, &note).await;
                let _ = reply.send(self.commit(out, lines).await.and(answer));
            }
            Command::Notified { id, stations, grids, outbox, reply } => {
                let r = self.core.notified(&id, &stations, &grids, "dispatch", now_ms()).map(|mut o| {
                    o.outbox = outbox;
                    o
                });
                let (out, answer) = self.answer(&id, Action::Dispatched, r).await;
                let _ = reply.send(self.commit(out, lines).await.and(answer));
            }
            Command::Forwarded { row, reply } => self.forwarded(row, reply, lines).await,
        }
    }

    /// Applies a responder action in memory: what to commit, and the answer once committed.
    async fn apply(
        &mut self,
        id: &str,
        action: Action,
        actor: &str,
        note: &str,
    ) -> (Outcome, Result<Incident, AlertError>) {
        let r = self.core.act(id, action, actor, note, now_ms());
        self.answer(id, action, r).await
    }

    /// The outcome to commit and the answer of an action's result on incident `id`.
    async fn answer(
        &mut self,
        id: &str,
        action: Action,
        result: Result<Outcome, CorrelateError>,
    ) -> (Outcome, Result<Incident, AlertError>) {
        match result {
            Ok(out) => {
                // A repeated action changes nothing: the answer is the incident as it is.
                let inc = out.incidents.iter().find(|i| i.id == id).or_else(|| self.core.correlator().get(id)).cloned();
                (out, inc.ok_or_else(|| AlertError::NotFound(id.to_owned())))
            }
            Err(CorrelateError::Transition(t)) => (Outcome::default(), Err(AlertError::Transition(t))),
            Err(CorrelateError::NotActive(_)) => (Outcome::default(), self.closed_or_missing(id, action).await),
        }
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
        if out.writes_nothing() {
            self.update_gauges();
            return Ok(());
        }
        let out = self.persist(out).await?;
        if !out.outbox.is_empty() {
            self.handle.outbox_signal.notify_one();
        }
        // The gauges first: whoever sees a transition's line then reads gauges that include it.
        self.update_gauges();
        self.emit(&out, lines).await;
        Ok(())
    }

    /// Writes an outcome in one transaction, retrying with a capped backoff while the store
    /// refuses (acknowledgements wait meanwhile). Fails only when the store thread is gone, or
    /// when another instance holds the partition or opened this incident. A retry that meets
    /// this outcome's own incident after a failure whose commit is unknown (its answer lost)
    /// compares with what is stored and carries on when the earlier attempt had committed; a
    /// retry of a change that opens nothing first asks the same ([`Engine::changed_before`]),
    /// so its audit entries are not written twice.
    async fn persist(&mut self, out: Outcome) -> Result<Arc<Outcome>, AlertError> {
        let out = Arc::new(out);
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut failed_before = false;
        loop {
            if failed_before && self.changed_before(&out).await {
                self.handle.health.committed(true);
                return Ok(out);
            }
            let o = out.clone();
            let result = match self.writer.call(move |s| s.write(&o)).await {
                Ok(Err(StoreError::DuplicateOpen { .. })) if failed_before => self.committed_before(&out).await,
                other => other,
            };
            match result {
                Ok(Ok(())) => {
                    self.handle.health.committed(true);
                    return Ok(out);
                }
                Ok(Err(e @ (StoreError::Fenced { .. } | StoreError::DuplicateOpen { .. }))) => {
                    // Another instance holds the partition, or wrote this incident: retrying
                    // cannot succeed.
                    self.handle.health.committed(false);
                    tracing::error!(event = "incident_store_fenced", error = %e,
                        "the partition's lease moved to another instance; this engine stops");
                    return Err(e.into());
                }
                Ok(Err(e)) => {
                    failed_before = true;
                    self.handle.health.committed(false);
                    let delay = backoff.next_delay();
                    tracing::error!(event = "incident_store_write_failed", error = %e,
                        retry_in_ms = delay.as_millis() as u64, "acknowledgements wait until the store commits");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// After a retry met `out`'s own incident: `Ok` when the store holds `out` as written (an
    /// earlier attempt committed and only its answer was lost), `DuplicateOpen` when it holds
    /// another writer's incident, the store's error when it cannot tell (retried).
    async fn committed_before(&self, out: &Arc<Outcome>) -> Result<Result<(), StoreError>, StoreError> {
        let o = out.clone();
        Ok(match self.writer.call(move |s| s.holds_opened(&o)).await? {
            Ok(true) => {
                tracing::warn!(
                    event = "incident_store_commit_confirmed",
                    "an earlier attempt had committed this change (its answer was lost); carrying on"
                );
                Ok(())
            }
            Ok(false) => Err(StoreError::DuplicateOpen { detail: "another writer's incident is stored".into() }),
            Err(e) => Err(e),
        })
    }

    /// Before a retry of `out`, which opens nothing: whether an earlier attempt committed it
    /// (its answer lost), so the retry would write its audit entries again. A store that cannot
    /// tell is retried as before.
    async fn changed_before(&self, out: &Arc<Outcome>) -> bool {
        let o = out.clone();
        let held = matches!(self.writer.call(move |s| s.holds_changed(&o)).await, Ok(Ok(true)));
        if held {
            tracing::warn!(
                event = "incident_store_commit_confirmed",
                "an earlier attempt had committed this change (its answer was lost); carrying on"
            );
        }
        held
    }

    /// Counts, logs and sends the `fire_incident` line of every transition of a committed outcome.
    async fn emit(&mut self, out: &Outcome, lines: &mpsc::Sender<String>) {
        for a in &out.audit {
            let Some(inc) = out.incidents.iter().find(|i| i.id == a.incident_id) else { continue };
            if a.event == Event::Opened {
                self.metrics.opened.with_label_values(&[inc.class.as_str(), a.severity.as_str()]).inc();
                tracing::info!(event = "incident_opened", incident = %inc.id, class = %inc.class,
                    severity = %a.severity, "incident opened");
            } else {
                tracing::info!(event = "incident_transition", incident = %inc.id, transition = %a.event,
                    status = %a.to_status, severity = %a.severity, actor = %a.actor, "incident transition");
            }
            let line = line::encode(a, inc);
            if !self.lines_closed && lines.send(line).await.is_err() {
                self.lines_closed = true;
                tracing::warn!(
                    event = "incident_lines_closed",
                    "fire_incident line channel closed; transitions are kept in the incident store only"
                );
            }
        }
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
                    Err(e) => tracing::debug!(event = "incident_notified_not_recorded", incident = %id, error = %e,
                        "notified list not updated"),
                }
            }
            out.outbox.extend(p.outbox);
            if let Some(state) = p.state {
                out.dispatch_state.push((id, state));
            }
        }
    }

    fn update_gauges(&mut self) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let counts = self.core.correlator().open_counts();
        for (c, n) in Class::ALL.iter().zip(counts) {
            self.metrics.open.with_label_values(&[c.as_str()]).set(gauge(n));
        }
        self.metrics.offline.set(gauge(self.core.offline_count()));
        if let Some(counts) = self.core.offline_by_township() {
            for (county, township, n) in counts {
                self.metrics.offline_by_township.with_label_values(&[county, township]).set(i64::from(n));
            }
        }
        let (registered, unregistered) = self.core.detector().held();
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
