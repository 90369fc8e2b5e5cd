//! [`Forwarder`]: the posting side. It inserts an action into `forwarded_actions`, then waits for
//! the owning leader's verdict — woken by `firegrid_forward_done`, reading its row every
//! [`RESULT_POLL`] too — until [`CLAIM_DEADLINE`]. Past it, the action is cancelled if no leader
//! has claimed it (`pending` → `cancelled`, so it is never applied later and the caller's 503 is
//! the truth); a claimed action can no longer be cancelled, so the caller waits
//! [`CLAIMED_GRACE`] more and is told it will be applied. A row found cancelled (by its poster,
//! or expired by a leader's sweep, [`super::EXPIRE_AFTER`]) is answered as not applied.
//!
//! A station's message over MQTT is acknowledged once its row is committed ([`Forwarder::submit`]);
//! the control task then follows the row with [`Forwarder::settle`] in the background, so a
//! refusal or a cancellation is dead-lettered where the message arrived.

use std::sync::Arc;

use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;
use tokio_postgres::Client;

use super::conn::{self, bounded};
use super::{ForwardError, Listener, CLAIMED_GRACE, CLAIM_DEADLINE, RESULT_POLL};
use crate::incident::{Action, Verdict};
use crate::partition::Scope;
use crate::store::postgres::PgUrl;

const INSERT: &str = "INSERT INTO forwarded_actions (incident_id, county, action, actor, note, origin)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
const RESULT: &str = "SELECT state, result_code, result_reason, result_incident FROM forwarded_actions WHERE id = $1";
const CANCEL: &str = "UPDATE forwarded_actions SET state = 'cancelled', finished_at = now()
     WHERE id = $1 AND state = 'pending'";

/// Where a forwarded action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The HTTP API: the caller waits for the verdict.
    Http,
    /// A station's or grid's message over MQTT: nobody waits (the owner logs the verdict).
    Mqtt,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::Mqtt => "mqtt",
        }
    }
}

/// An action to forward, authenticated and permitted by the posting instance.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    /// The incident.
    pub incident_id: &'a str,
    /// The action.
    pub action: Action,
    /// The authenticated actor.
    pub actor: &'a str,
    /// The composed note.
    pub note: &'a str,
    /// Where it came from.
    pub origin: Origin,
}

/// The posting side of forwarded actions (see the module doc).
#[derive(Debug)]
pub struct Forwarder {
    url: PgUrl,
    /// What this instance applies itself: a leader's counties; nothing on a standby.
    owned: Scope,
    client: Mutex<Option<Client>>,
    done: Listener,
}

impl Forwarder {
    /// Forwards what `owned` does not hold to the store at `url` (call on the tokio runtime:
    /// it starts listening for verdicts).
    pub fn start(url: PgUrl, owned: Scope) -> Arc<Forwarder> {
        let done = Listener::start(url.clone(), "firegrid_forward_done");
        Arc::new(Forwarder { url, owned, client: Mutex::new(None), done })
    }

    /// Whether this instance applies actions on incident `id` itself.
    pub fn owns(&self, id: &str) -> bool {
        self.owned.owns_incident(id)
    }

    /// Inserts the action; its row id. Committed when this returns: the owning leader will see it.
    pub async fn submit(&self, a: &NewAction<'_>) -> Result<i64, ForwardError> {
        let county = Scope::county_of(a.incident_id).ok_or_else(|| ForwardError::NoCounty(a.incident_id.to_owned()))?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&a.incident_id, &county, &a.action.as_str(), &a.actor, &a.note, &a.origin.as_str()];
        let mut slot = self.client.lock().await;
        let r = bounded(&self.url, "insert", self.connected(&mut slot).await?.query_one(INSERT, &params)).await;
        forget_on_error(&mut slot, r).map(|row| row.get(0))
    }

    /// Submits the action and waits for the owner's verdict (see the module doc).
    pub async fn forward(&self, a: &NewAction<'_>) -> Result<Verdict, ForwardError> {
        let id = self.submit(a).await?;
        self.settle(id, a.incident_id).await
    }

    /// Waits for the owner's verdict on row `id` (submitted for `incident_id`): cancels it when
    /// no leader claimed it within [`CLAIM_DEADLINE`] (see the module doc).
    pub async fn settle(&self, id: i64, incident_id: &str) -> Result<Verdict, ForwardError> {
        let county = Scope::county_of(incident_id).unwrap_or_default().to_owned();
        let start = Instant::now();
        let not_applied = |county: String| ForwardError::NotApplied { county, waited: start.elapsed() };
        match self.wait(id, start + CLAIM_DEADLINE).await? {
            Answer::Applied(v) => return Ok(v),
            Answer::Cancelled => return Err(not_applied(county)),
            Answer::Open => {}
        }
        let cancelled = {
            let mut slot = self.client.lock().await;
            let r = bounded(&self.url, "cancel", self.connected(&mut slot).await?.execute(CANCEL, &[&id])).await;
            forget_on_error(&mut slot, r)?
        };
        if cancelled == 1 {
            tracing::warn!(event = "forwarded_action_cancelled", request = id, county = %county,
                "no leader claimed the forwarded action in time: cancelled");
            return Err(ForwardError::NotApplied { county, waited: start.elapsed() });
        }
        // Claimed (or answered just now): it will be applied — unless a sweep expired it first.
        match self.wait(id, Instant::now() + CLAIMED_GRACE).await? {
            Answer::Applied(v) => Ok(v),
            Answer::Cancelled => Err(not_applied(county)),
            Answer::Open => Err(ForwardError::Claimed { county, id, waited: start.elapsed() }),
        }
    }

    /// Reads row `id` until it is answered or cancelled or `deadline` passes ([`Answer::Open`]
    /// then). A failed read is retried until the deadline.
    async fn wait(&self, id: i64, deadline: Instant) -> Result<Answer, ForwardError> {
        let wake: Arc<Notify> = self.done.wake();
        loop {
            let notified = wake.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match self.verdict(id).await {
                Ok(Answer::Open) => {}
                Ok(done) => return Ok(done),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(e) => tracing::warn!(event = "forwarded_action_read_failed", request = id, error = %e,
                    "reading a forwarded action's verdict failed; retrying"),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Answer::Open);
            }
            let nap = RESULT_POLL.min(deadline - now);
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Where row `id` stands.
    async fn verdict(&self, id: i64) -> Result<Answer, ForwardError> {
        let row = {
            let mut slot = self.client.lock().await;
            let r = bounded(&self.url, "read the verdict", self.connected(&mut slot).await?.query_one(RESULT, &[&id]))
                .await;
            forget_on_error(&mut slot, r)?
        };
        match row.get::<_, &str>(0) {
            "applied" => {}
            "cancelled" => return Ok(Answer::Cancelled),
            _ => return Ok(Answer::Open),
        }
        let (code, reason, incident): (Option<&str>, Option<&str>, Option<&str>) = (row.get(1), row.get(2), row.get(3));
        Verdict::decode(code.unwrap_or_default(), reason.unwrap_or_default(), incident)
            .map(Answer::Applied)
            .map_err(|why| ForwardError::Verdict { id, why })
    }

    /// The connection, opened when absent or closed.
    async fn connected<'g>(&self, slot: &'g mut Option<Client>) -> Result<&'g Client, ForwardError> {
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(conn::client(&self.url).await?);
        }
        slot.as_ref().ok_or_else(|| conn::closed(&self.url))
    }
}

/// Where a forwarded row stands, as its poster reads it.
enum Answer {
    /// Pending or claimed.
    Open,
    /// Cancelled (by its poster or by a sweep): it is never applied.
    Cancelled,
    /// Applied, with the owner's verdict.
    Applied(Verdict),
}

/// Drops the connection after a failure (a timed-out statement may still run on it).
fn forget_on_error<T>(slot: &mut Option<Client>, r: Result<T, ForwardError>) -> Result<T, ForwardError> {
    if r.is_err() {
        *slot = None;
    }
    r
}
