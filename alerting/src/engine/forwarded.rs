//! The owning leader's side of forwarded actions (DESIGN §9): a task reads the open rows of its
//! counties ([`Queue`]) when `firegrid_forward` wakes it and every [`QUEUE_POLL`] in any case, and
//! hands each to the engine's task, which claims the row (fenced), applies the action as it
//! applies one posted to its own API, and writes the [`Verdict`] in the transaction of the change
//! it made. That one transaction is what makes a forwarded action take effect exactly once across a
//! leader change: a leader that dies after the claim leaves a row claimed but unanswered and the
//! incident unchanged, which the next leader applies; one that commits leaves it answered.
//!
//! Before each pass (every [`SWEEP_EVERY`]) it also expires the pending rows of every county that
//! no leader claimed within [`EXPIRE_AFTER`] — a county no partition leads, or a row whose poster
//! died before cancelling it — so no row stays pending for ever: cancelled with `result_code =
//! 'expired'`, logged (`forwarded_action_expired`) and counted; a row this sweep expires is never
//! applied, even by the leader that sweeps it.
//!
//! The conversions between the engine's answer and a [`Verdict`] live here too, so an action
//! answered through the table gets the same status and body as one answered directly.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{AlertError, Engine, EngineHandle};
use crate::forward::{Expired, ForwardError, Listener, Queue, EXPIRE_AFTER, QUEUE_POLL};
use crate::incident::{ForwardedAction, Incident, Verdict};

/// Rows read per pass.
const PASS: i64 = 64;
/// How often unclaimed rows older than [`EXPIRE_AFTER`] are expired.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often answered rows older than a day are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The engine's answer to a forwarded row: its verdict, or `None` when the row was no longer
/// pending (cancelled by its poster, or answered already).
pub(super) type ForwardedReply = oneshot::Sender<Result<Option<Verdict>, AlertError>>;

/// The verdict of an engine answer (what the API would have answered, as stored).
pub(crate) fn verdict_of(r: &Result<Incident, AlertError>) -> Verdict {
    match r {
        Ok(inc) => Verdict::Applied(Box::new(inc.clone())),
        Err(AlertError::NotFound(id)) => Verdict::NotFound(format!("no incident {id}")),
        Err(AlertError::Transition(t)) => Verdict::Conflict(t.to_string()),
        Err(AlertError::Conflict(r)) => Verdict::Conflict(r.clone()),
        Err(e @ AlertError::Stopped) => Verdict::Unavailable(e.to_string()),
        Err(AlertError::Unavailable(r)) => Verdict::Unavailable(r.clone()),
        Err(other) => Verdict::Internal(other.to_string()),
    }
}

/// The engine answer of a verdict on incident `id` (the inverse of [`verdict_of`]).
pub(crate) fn answer_of(v: Verdict, id: &str) -> Result<Incident, AlertError> {
    match v {
        Verdict::Applied(inc) => Ok(*inc),
        Verdict::NotFound(_) => Err(AlertError::NotFound(id.to_owned())),
        Verdict::Conflict(r) => Err(AlertError::Conflict(r)),
        Verdict::Unavailable(r) => Err(AlertError::Unavailable(r)),
        Verdict::Internal(r) => Err(AlertError::Remote(r)),
    }
}

impl From<ForwardError> for AlertError {
    fn from(e: ForwardError) -> AlertError {
        match e {
            ForwardError::Claimed { .. } => AlertError::Timeout(e.to_string()),
            ForwardError::NoCounty(id) => AlertError::NotFound(id),
            ForwardError::Store { what, .. } => {
                // The caller is told what it means, not where the store is.
                tracing::warn!(event = "forwarded_action_store_failed", error = %e,
                    "the shared store failed while an action was forwarded");
                AlertError::Unavailable(format!(
                    "the shared store failed while the action was forwarded ({what}): it may or may not be applied; \
                     read the incident before retrying"
                ))
            }
            other => AlertError::Unavailable(other.to_string()),
        }
    }
}

impl Engine {
    /// Claims, applies and answers one forwarded row (see the module doc).
    pub(super) async fn forwarded(
        &mut self,
        row: ForwardedAction,
        reply: ForwardedReply,
        lines: &tokio::sync::mpsc::Sender<String>,
    ) {
        let id = row.id;
        match self.writer.call(move |s| s.claim_forwarded(id)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                let _ = reply.send(Ok(None));
                return;
            }
            Ok(Err(e)) | Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        }
        let (mut out, answer) = self.apply(&row.incident_id, row.action, &row.actor, &row.note).await;
        let verdict = verdict_of(&answer);
        out.forwarded.push((row.id, verdict.clone()));
        let _ = reply.send(self.commit(out, lines).await.map(|()| Some(verdict)));
    }
}

/// The leader's consumer of its counties' forwarded actions, until `stop` or the engine stops.
pub(super) async fn consume(handle: EngineHandle, mut queue: Queue, wake: Listener, sweep: Sweep) {
    let wake = wake.wake();
    let mut pruned = tokio::time::Instant::now();
    let mut swept: Option<tokio::time::Instant> = None;
    loop {
        let notified = wake.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            swept = Some(tokio::time::Instant::now());
            sweep.expire(&mut queue).await;
        }
        match pass(&handle, &mut queue).await {
            Ok(full) if full => continue,
            Ok(_) => {}
            Err(AlertError::Stopped) => return,
            Err(e) => tracing::warn!(event = "forwarded_actions_failed", error = %e,
                "reading or applying forwarded actions failed; retrying"),
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            if let Err(e) = queue.prune().await {
                tracing::warn!(event = "forwarded_actions_prune_failed", error = %e, "pruning forwarded actions failed");
            }
        }
        tokio::select! {
            () = sweep.stop.cancelled() => return,
            () = notified => {}
            () = tokio::time::sleep(QUEUE_POLL) => {}
        }
    }
}

/// The sweep's parts: what it counts into, and when the consumer stops.
pub(super) struct Sweep {
    expired: prometheus::IntCounter,
    stop: CancellationToken,
}

impl Sweep {
    /// Expires the rows nobody claimed in time (see the module doc); a failure is logged and
    /// retried at the next sweep.
    async fn expire(&self, queue: &mut Queue) {
        match queue.expire(EXPIRE_AFTER).await {
            Ok(rows) => {
                self.expired.inc_by(rows.len() as u64);
                rows.iter().for_each(log_expired);
            }
            Err(e) => tracing::warn!(event = "forwarded_actions_expire_failed", error = %e,
                "expiring unclaimed forwarded actions failed; retrying at the next sweep"),
        }
    }
}

fn log_expired(r: &Expired) {
    tracing::warn!(event = "forwarded_action_expired", request = r.id, incident = %r.incident_id, county = %r.county,
        action = %r.action, actor = %r.actor, origin = %r.origin, after_seconds = EXPIRE_AFTER.as_secs(),
        "no leader claimed the forwarded action in time: cancelled, it will never be applied");
}

/// One pass over the open rows; whether it read a full page (read again at once).
async fn pass(handle: &EngineHandle, queue: &mut Queue) -> Result<bool, AlertError> {
    let rows = queue.open(PASS).await?;
    let full = rows.len() as i64 == PASS;
    for row in rows {
        let (request, incident, action, actor) = (row.id, row.incident_id.clone(), row.action, row.actor.clone());
        match handle.apply_forwarded(row).await? {
            Some(Verdict::Applied(inc)) => tracing::info!(event = "forwarded_action_applied", request,
                incident = %incident, action = %action, actor = %actor, status = %inc.status,
                "forwarded action applied by the owning leader"),
            Some(v) => tracing::info!(event = "forwarded_action_refused", request, incident = %incident,
                action = %action, actor = %actor, code = v.code(), reason = v.reason(),
                "forwarded action answered with a refusal"),
            None => tracing::debug!(
                event = "forwarded_action_skipped",
                request,
                "forwarded action no longer pending (cancelled or answered)"
            ),
        }
    }
    Ok(full)
}

/// What a leader's engine needs to consume forwarded actions: the store, its counties, and the
/// count of rows its sweep expired.
#[derive(Debug, Clone)]
pub(super) struct Consumer {
    pub(super) url: crate::store::PgUrl,
    pub(super) counties: Vec<String>,
    pub(super) expired: prometheus::IntCounter,
}

impl Consumer {
    /// Starts the consumer task; it stops at `stop`.
    pub(super) fn spawn(self, handle: EngineHandle, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let wake = Listener::start(self.url.clone(), "firegrid_forward");
        let sweep = Sweep { expired: self.expired, stop };
        tokio::spawn(consume(handle, Queue::new(self.url, self.counties), wake, sweep))
    }
}

/// Keeps [`Arc`] in scope for the handle's forwarder field type.
pub(super) type SharedForwarder = Arc<crate::forward::Forwarder>;
