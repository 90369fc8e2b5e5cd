//! [`Queue`]: the owning leader's reads of `forwarded_actions` — the rows of its counties still
//! pending, or claimed by an earlier leader that did not answer (the answer commits with the
//! change, so such a row was not applied), oldest first — the expiry of pending rows of any county
//! that no leader claimed in time, and the pruning of answered rows. The claim and the answer are
//! the engine's, through its fenced store.

use tokio_postgres::Client;

use super::conn::{self, bounded};
use super::ForwardError;
use crate::incident::{Action, ForwardedAction};
use crate::store::postgres::PgUrl;

const OPEN: &str = "SELECT id, incident_id, action, actor, note FROM forwarded_actions
     WHERE state IN ('pending', 'claimed') AND county = ANY($1) ORDER BY id LIMIT $2";
/// Pending rows of any county that no leader claimed within `$1` seconds, by the database's
/// clock: cancelled, never to be applied (a claim that loses the row lock to this statement
/// re-reads the row and finds it cancelled; one that wins leaves it `claimed`, which this skips).
const EXPIRE: &str = "UPDATE forwarded_actions
     SET state = 'cancelled', finished_at = now(), result_code = 'expired',
         result_reason = 'no leader of its partition claimed it within ' || $1::bigint || ' s'
     WHERE state = 'pending' AND created_at < now() - make_interval(secs => $1::bigint)
     RETURNING id, incident_id, county, action, actor, origin";
/// Answered or cancelled rows are kept a day (for operators), then deleted.
const PRUNE: &str = "DELETE FROM forwarded_actions
     WHERE state IN ('applied', 'cancelled') AND finished_at < now() - interval '1 day'";

/// A pending row a sweep cancelled: nobody claimed it in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The row id.
    pub id: i64,
    /// The incident.
    pub incident_id: String,
    /// Its county.
    pub county: String,
    /// The action, as stored.
    pub action: String,
    /// The authenticated actor.
    pub actor: String,
    /// `http` or `mqtt`.
    pub origin: String,
}

/// The leader side's reads (see the module doc).
#[derive(Debug)]
pub struct Queue {
    url: PgUrl,
    counties: Vec<String>,
    client: Option<Client>,
}

impl Queue {
    /// The open rows of `counties` in the store at `url` (connected at the first read).
    pub fn new(url: PgUrl, counties: Vec<String>) -> Queue {
        Queue { url, counties, client: None }
    }

    /// Up to `limit` open rows, oldest first; a row whose action does not parse is logged and
    /// left out (the posting instance parsed it: only a newer binary could write one).
    pub async fn open(&mut self, limit: i64) -> Result<Vec<ForwardedAction>, ForwardError> {
        let (url, counties) = (self.url.clone(), self.counties.clone());
        let client = self.connected().await?;
        let rows = bounded(&url, "read forwarded actions", client.query(OPEN, &[&counties, &limit])).await;
        let rows = self.forget_on_error(rows)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let (id, action): (i64, &str) = (r.get(0), r.get(2));
                let Some(action) = Action::parse(action) else {
                    tracing::warn!(
                        event = "forwarded_action_unknown",
                        request = id,
                        action,
                        "a forwarded action this binary does not know: left pending"
                    );
                    return None;
                };
                Some(ForwardedAction { id, incident_id: r.get(1), action, actor: r.get(3), note: r.get(4) })
            })
            .collect())
    }

    /// Cancels the pending rows of every county older than `after` (see [`EXPIRE`]); those it
    /// cancelled.
    pub async fn expire(&mut self, after: std::time::Duration) -> Result<Vec<Expired>, ForwardError> {
        let url = self.url.clone();
        let secs = i64::try_from(after.as_secs()).unwrap_or(i64::MAX);
        let client = self.connected().await?;
        let rows = bounded(&url, "expire forwarded actions", client.query(EXPIRE, &[&secs])).await;
        Ok(self
            .forget_on_error(rows)?
            .iter()
            .map(|r| Expired {
                id: r.get(0),
                incident_id: r.get(1),
                county: r.get(2),
                action: r.get(3),
                actor: r.get(4),
                origin: r.get(5),
            })
            .collect())
    }

    /// Deletes rows answered or cancelled more than a day ago; how many.
    pub async fn prune(&mut self) -> Result<u64, ForwardError> {
        let url = self.url.clone();
        let client = self.connected().await?;
        let n = bounded(&url, "prune forwarded actions", client.execute(PRUNE, &[])).await;
        self.forget_on_error(n)
    }

    async fn connected(&mut self) -> Result<&Client, ForwardError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(conn::client(&self.url).await?);
        }
        self.client.as_ref().ok_or_else(|| conn::closed(&self.url))
    }

    fn forget_on_error<T>(&mut self, r: Result<T, ForwardError>) -> Result<T, ForwardError> {
        if r.is_err() {
            self.client = None;
        }
        r
    }
}
