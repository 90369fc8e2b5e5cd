//! [`EngineHandle`]: the cheap, cloneable way the HTTP API, the MQTT acknowledgements and the
//! dispatch stage reach a running engine. Responder actions go through the engine's task (so a
//! change is persisted before anyone sees it); reads and the delivery loop's outbox bookkeeping go
//! straight to the store's reader and writer threads.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::forwarded::{answer_of, ForwardedReply, SharedForwarder};
use super::health::EngineHealth;
use super::AlertError;
use crate::forward::{ForwardError, NewAction, Origin};
use crate::incident::{Action, ForwardedAction, Incident, NotifyRole, OutboxEntry, Recipient, Verdict};
use crate::store::{
    Abandon, AbandonReason, IncidentBackend, IncidentFilter, IncidentRecord, IncidentStore, OutboxRow, StoreThread,
    UndecodableRow, Unroutable,
};

pub(super) type Reply = oneshot::Sender<Result<Incident, AlertError>>;

/// What the engine's task is asked to do.
pub(super) enum Command {
    /// A responder's action.
    Act { id: String, action: Action, actor: String, note: String, reply: Reply },
    /// The dispatch stage notified stations and grids.
    Notified { id: String, stations: Vec<String>, grids: Vec<String>, outbox: Vec<OutboxEntry>, reply: Reply },
    /// An action another instance forwarded to this leader.
    Forwarded { row: ForwardedAction, reply: ForwardedReply },
}

/// A cheap, cloneable handle on a running [`Engine`](super::Engine).
#[derive(Debug, Clone)]
pub struct EngineHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) reader: StoreThread,
    pub(super) writer: StoreThread,
    pub(super) outbox_signal: Arc<tokio::sync::Notify>,
    pub(super) health: Arc<EngineHealth>,
    /// The store is shared with other instances (PostgreSQL).
    pub(super) shared_store: bool,
    /// Within a partition: the way to the owning leader of incidents this instance does not own.
    pub(super) forward: Option<SharedForwarder>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Act { id, action, .. } => write!(f, "Act({id}, {action})"),
            Command::Notified { id, .. } => write!(f, "Notified({id})"),
            Command::Forwarded { row, .. } => write!(f, "Forwarded({}, {})", row.id, row.incident_id),
        }
    }
}

impl EngineHandle {
    /// A handle without an engine, for a partition's standby (DESIGN §9): it reads the shared
    /// store of `backend` (list, show, dispatch log, availability) and forwards every action
    /// through `forward` to the owning leader. An action it would apply itself (none, with a
    /// forwarder that owns nothing) answers as a stopped engine. Blocking: call at start-up.
    pub fn read_only(
        backend: &IncidentBackend,
        forward: Option<Arc<crate::forward::Forwarder>>,
    ) -> Result<EngineHandle, AlertError> {
        let reader = crate::store::blocking(|| IncidentStore::open_reader(backend))?;
        let reader = StoreThread::spawn(reader, "alert-store-read")?;
        // Nobody receives: an action applied here answers `Stopped`.
        let (commands, _) = mpsc::channel(1);
        Ok(EngineHandle {
            commands,
            writer: reader.clone(),
            reader,
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            health: Arc::new(EngineHealth::default()),
            shared_store: matches!(backend, IncidentBackend::Postgres { .. }),
            forward,
        })
    }

    /// Incidents matching the filter, newest first.
    pub async fn list(&self, filter: IncidentFilter) -> Result<Vec<Incident>, AlertError> {
        Ok(self.reader.call(move |s| s.list(&filter)).await??)
    }

    /// One incident with evidence and audit trail.
    pub async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, AlertError> {
        let id = id.to_owned();
        Ok(self.reader.call(move |s| s.get(&id)).await??)
    }

    /// Applies a responder action; `actor` is recorded in the audit trail. Within a partition,
    /// an action on an incident this instance does not own is forwarded to the owning leader and
    /// answered with its verdict (DESIGN §9); the caller's access was checked before.
    pub async fn act(&self, id: &str, action: Action, actor: &str, note: &str) -> Result<Incident, AlertError> {
        if let Some(f) = self.forward.as_ref().filter(|f| !f.owns(id)) {
            let verdict = f.forward(&NewAction { incident_id: id, action, actor, note, origin: Origin::Http }).await?;
            return answer_of(verdict, id);
        }
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Act { id: id.to_owned(), action, actor: actor.to_owned(), note: note.to_owned(), reply };
        self.commands.send(cmd).await.map_err(|_| AlertError::Stopped)?;
        rx.await.map_err(|_| AlertError::Stopped)?
    }

    /// Whether an action on incident `id` goes to another instance (within a partition, an
    /// incident of a county this instance does not lead).
    pub(crate) fn forwards(&self, id: &str) -> bool {
        self.forward.as_ref().is_some_and(|f| !f.owns(id))
    }

    /// Forwards an action to the owning leader without waiting for its verdict (a station's
    /// message over MQTT: the owner logs the verdict); the request's id once it is committed.
    pub(crate) async fn forward_without_waiting(
        &self,
        id: &str,
        action: Action,
        actor: &str,
        note: &str,
    ) -> Result<i64, AlertError> {
        let f = self.forward.as_ref().ok_or(AlertError::Stopped)?;
        Ok(f.submit(&NewAction { incident_id: id, action, actor, note, origin: Origin::Mqtt }).await?)
    }

    /// For the control task: follows forwarded row `request` (an action on incident `id`) until
    /// the owner's verdict, cancelling it when no leader claims it in time (the API's rule).
    pub(crate) async fn settle_forwarded(&self, request: i64, id: &str) -> Result<Verdict, ForwardError> {
        let f = self.forward.as_ref().ok_or(ForwardError::NotForwarding)?;
        f.settle(request, id).await
    }

    /// For the consumer of forwarded actions: claims, applies and answers one row in the
    /// engine's task; `None` when it was no longer pending.
    pub(super) async fn apply_forwarded(&self, row: ForwardedAction) -> Result<Option<Verdict>, AlertError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Forwarded { row, reply }).await.map_err(|_| AlertError::Stopped)?;
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
    pub(crate) async fn due_outbox_page(
        &self,
        now_ms: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Result<OutboxEntry, UndecodableRow>>, AlertError> {
        Ok(self.writer.call(move |s| s.due_outbox_page(now_ms, limit, offset)).await??)
    }

    /// For the dispatch stage: pending webhooks of closed incidents or enqueued before
    /// `created_before_ms`.
    pub(crate) async fn webhooks_to_abandon(&self, created_before_ms: i64) -> Result<Vec<Abandon>, AlertError> {
        Ok(self.writer.call(move |s| s.webhooks_to_abandon(created_before_ms)).await??)
    }

    /// For the dispatch stage: records rows as abandoned; returns how many changed.
    pub(crate) async fn outbox_abandoned(
        &self,
        rows: Vec<(String, AbandonReason)>,
        at_ms: i64,
    ) -> Result<usize, AlertError> {
        Ok(self.writer.call(move |s| s.mark_abandoned(&rows, at_ms)).await??)
    }

    /// For the console: active incidents with no recipient, longest unroutable first.
    pub(crate) async fn unroutable(&self) -> Result<Vec<Unroutable>, AlertError> {
        Ok(self.reader.call(|s| s.unroutable()).await??)
    }

    /// For the dispatch stage: records a failed attempt; the entry is due again at `next_attempt_ms`.
    pub(crate) async fn outbox_failed(
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

    /// The store's reader thread, when the store is shared with other instances (PostgreSQL):
    /// what shared station availability reads and writes.
    pub(crate) fn shared_store(&self) -> Option<StoreThread> {
        self.shared_store.then(|| self.reader.clone())
    }

    /// The engine's health (for `/readyz`).
    pub fn health(&self) -> Arc<EngineHealth> {
        self.health.clone()
    }

    /// Wakes the delivery stage: notified after every commit that enqueued notifications.
    pub(crate) fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// For the dispatch stage: marks an outbox entry delivered (false when it already was).
    pub async fn outbox_delivered(&self, idempotency_key: &str, at_ms: i64) -> Result<bool, AlertError> {
        let key = idempotency_key.to_owned();
        Ok(self.writer.call(move |s| s.mark_delivered(&key, at_ms)).await??)
    }

    /// How a station or grid was notified of an incident: the distinct roles of its outbox rows,
    /// for the role × action table ([`crate::access::permissions`]).
    pub(crate) async fn notification_roles(&self, id: &str, who: &Recipient) -> Result<Vec<NotifyRole>, AlertError> {
        let (id, who) = (id.to_owned(), who.clone());
        Ok(self.reader.call(move |s| s.notification_roles(&id, &who)).await??)
    }

    /// For the console: the incident's outbox rows, oldest first, and its dispatch state (JSON).
    pub(crate) async fn dispatch_log(&self, id: &str) -> Result<(Vec<OutboxRow>, Option<String>), AlertError> {
        let id = id.to_owned();
        Ok(self.reader.call(move |s| s.dispatch_log(&id)).await??)
    }
}
