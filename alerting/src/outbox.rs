//! The dispatch outbox's record (DESIGN §6): a notification is written here, in the same
//! transaction as the incident change that caused it, before any delivery attempt. The store
//! keeps the table; the dispatch stage (routing, channels, retries) fills and drains it.

use serde::{Deserialize, Serialize};

/// One notification waiting in the dispatch outbox (filled by the dispatch stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The row's key: the notification's idempotency key `incident_id:station_id:role:seq`
    /// (DESIGN §6) and `/{channel}` (one row per channel); inserting a key twice is a no-op.
    pub idempotency_key: String,
    /// The incident.
    pub incident_id: String,
    /// Station id or `grid:{grid_id}`.
    pub target: String,
    /// `respond`, `verify`, `rectify`, `forward_119`.
    pub role: String,
    /// `mqtt`, `webhook`, `sse`.
    pub channel: String,
    /// The message body.
    pub payload: String,
    /// Enqueued, epoch ms.
    pub created_at_ms: i64,
    /// Earliest next attempt, epoch ms.
    pub next_attempt_ms: i64,
    /// Attempts so far.
    pub attempts: u32,
}

/// What the dispatch stage decided for one transition: who is notified (they may then act on the
/// incident) and the notifications to enqueue, written in the same transaction as the change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchPlan {
    /// Station ids notified.
    pub stations: Vec<String>,
    /// Grid ids notified.
    pub grids: Vec<String>,
    /// Notifications to enqueue.
    pub outbox: Vec<OutboxEntry>,
    /// The dispatch stage's state of the incident (escalation timers, JSON) to persist with the
    /// change, so timers resume after a restart; `None` = unchanged.
    pub state: Option<String>,
}

impl DispatchPlan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.stations.is_empty() && self.grids.is_empty() && self.outbox.is_empty() && self.state.is_none()
    }
}

/// The seam for the dispatch stage (issue 5): the engine calls it, on its own task, for every
/// transition before persisting it, and on every tick for timers (escalation). Implementations
/// are pure (routing over a registry snapshot and station availability); delivery happens
/// elsewhere, from the outbox.
pub trait Dispatcher: Send + Sync + 'static {
    /// Plans notifications for one transition of `incident` (its snapshot after the change). It is
    /// called for every transition, `dispatched` included: return an empty plan for those it ignores.
    fn plan(
        &mut self,
        transition: &crate::incident::AuditEntry,
        incident: &crate::incident::Incident,
        now_ms: i64,
    ) -> DispatchPlan;

    /// Sees each piece of new evidence before the transitions of its batch are planned (the
    /// dispatch message carries the evidence); ignored by default.
    fn observe(&mut self, evidence: &crate::incident::Evidence) {
        let _ = evidence;
    }

    /// Timers due by `now_ms`, as `(incident_id, plan)`; none by default.
    fn tick(&mut self, now_ms: i64) -> Vec<(String, DispatchPlan)> {
        let _ = now_ms;
        Vec::new()
    }
}
