//! The seam between the engine and the dispatch stage (DESIGN §6): for every transition, before
//! persisting it, the engine asks its [`Dispatcher`] for a [`DispatchPlan`] — who is notified and
//! the outbox rows to enqueue — and writes the plan in the transaction of the change. The
//! engine's tests plug in their own; firegrid's is [`crate::dispatch::DispatchPlanner`].

use crate::incident::{AuditEntry, Evidence, Incident, OutboxEntry};

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
    pub(crate) fn is_empty(&self) -> bool {
        self.stations.is_empty() && self.grids.is_empty() && self.outbox.is_empty() && self.state.is_none()
    }
}

/// What the engine calls, on its own task, for every transition before persisting it, and on
/// every tick for timers (escalation). Implementations are pure (routing over a registry snapshot
/// and station availability); delivery happens elsewhere, from the outbox.
pub trait Dispatcher: Send + Sync + 'static {
    /// Plans notifications for one transition of `incident` (its snapshot after the change). It is
    /// called for every transition, `dispatched` included: return an empty plan for those it ignores.
    fn plan(&mut self, transition: &AuditEntry, incident: &Incident, now_ms: i64) -> DispatchPlan;

    /// Sees each piece of new evidence before the transitions of its batch are planned (the
    /// dispatch message carries the evidence); ignored by default.
    fn observe(&mut self, evidence: &Evidence) {
        let _ = evidence;
    }

    /// Timers due by `now_ms`, as `(incident_id, plan)`; none by default.
    fn tick(&mut self, now_ms: i64) -> Vec<(String, DispatchPlan)> {
        let _ = now_ms;
        Vec::new()
    }
}
