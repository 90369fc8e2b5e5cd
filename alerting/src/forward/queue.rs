//! [`Queue`]: the owning leader's reads of `forwarded_actions` — the rows of its counties still
//! pending, or claimed by an earlier leader that did not answer (the answer commits with the
//! change, so such a row was not applied), oldest first — and the pruning of answered rows. The
//! claim and the answer are the engine's, through its fenced store.

use tokio_postgres::Client;

use super::conn::{self, bounded};
use super::ForwardError;
use crate::incident::{Action, ForwardedAction};
use crate::store::postgres::PgUrl;

const OPEN: &str = "SELECT id, incident_id, action, actor, note FROM forwarded_actions
     WHERE state IN ('pending', 'claimed') AND county = ANY($1) ORDER BY id LIMIT $2";
/// Answered or cancelled rows are kept a day (for operators), then deleted.
const PRUNE: &str = "DELETE FROM forwarded_actions
     WHERE state IN ('applied', 'cancelled') AND finished_at < now() - interval '1 day'";

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
