//! The partition lease in PostgreSQL (`partition_leases`, migration 0001): one statement that
//! inserts the row of a new partition, renews the holder's lease, or takes an expired one with
//! the epoch raised — timed by the database's `now()` only, so the instances' clocks never
//! decide who leads. A lease row rather than a session advisory lock: it works behind
//! PgBouncer in transaction mode, and a dead holder is replaced when its lease expires, not
//! when TCP keepalive notices the dead session (about 2 h by default).
//!
//! Every call is bounded by [`CALL_TIMEOUT`], so a hung connection counts as a failed renewal
//! (the leader then stops at its deadline) instead of holding the loop.

use std::time::Duration;

use tokio_postgres::Client;

use super::PartitionError;
use crate::store::postgres::{describe, redact, tls_of, PgUrl};

/// Longest a connect or a lease statement may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Insert, renew or take over; `RETURNING epoch` only when this holder now holds the lease.
const ATTEMPT: &str = "INSERT INTO partition_leases AS l (partition, holder, epoch, expires_at)
     VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond')
     ON CONFLICT (partition) DO UPDATE
        SET holder = EXCLUDED.holder,
            epoch = l.epoch + (l.holder <> EXCLUDED.holder)::int,
            expires_at = EXCLUDED.expires_at
        WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
     RETURNING epoch";

/// Gives the lease up at once (a clean stop): a standby takes it at its next attempt.
const RELEASE: &str =
    "UPDATE partition_leases SET expires_at = now() - interval '1 millisecond' WHERE partition = $1 AND holder = $2";

/// The lease of one partition as seen by one holder.
pub struct LeaseClient {
    url: PgUrl,
    partition: String,
    holder: String,
    lease_ms: i64,
    client: Option<Client>,
}

impl std::fmt::Debug for LeaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseClient")
            .field("url", &self.url)
            .field("partition", &self.partition)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl LeaseClient {
    /// Not connected yet: the first attempt connects (and a lost connection is reopened).
    pub fn new(url: PgUrl, partition: &str, holder: &str, lease: Duration) -> LeaseClient {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        LeaseClient { url, partition: partition.to_owned(), holder: holder.to_owned(), lease_ms, client: None }
    }

    /// This holder's name in `partition_leases.holder`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// One attempt: `Some(epoch)` when this holder holds the lease afterwards, `None` when
    /// another does. Must run on a tokio runtime.
    pub async fn attempt(&mut self) -> Result<Option<i64>, PartitionError> {
        let (partition, holder, lease) = (self.partition.clone(), self.holder.clone(), self.lease_ms);
        let client = self.client().await?;
        let row = tokio::time::timeout(CALL_TIMEOUT, client.query_opt(ATTEMPT, &[&partition, &holder, &lease])).await;
        match row {
            Ok(Ok(row)) => Ok(row.map(|r| r.get(0))),
            Ok(Err(e)) => Err(self.failed("renew the lease", &describe(&e))),
            Err(_) => Err(self.failed("renew the lease", "timed out")),
        }
    }

    /// Gives the lease up if this holder has it (best effort, bounded).
    pub async fn release(&mut self) -> Result<(), PartitionError> {
        let (partition, holder) = (self.partition.clone(), self.holder.clone());
        let client = self.client().await?;
        match tokio::time::timeout(CALL_TIMEOUT, client.execute(RELEASE, &[&partition, &holder])).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failed("release the lease", &describe(&e))),
            Err(_) => Err(self.failed("release the lease", "timed out")),
        }
    }

    /// The connection, opened when absent or closed.
    async fn client(&mut self) -> Result<&Client, PartitionError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut config = self.url.config().clone();
            config.application_name("firegrid-lease").connect_timeout(CALL_TIMEOUT);
            let tls = match tls_of(&self.url) {
                Ok(tls) => tls,
                Err(e) => return Err(self.failed("set up TLS", &e.to_string())),
            };
            let (client, connection) = match tokio::time::timeout(CALL_TIMEOUT, config.connect(tls)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(self.failed("connect", &describe(&e))),
                Err(_) => return Err(self.failed("connect", "timed out")),
            };
            tokio::spawn(async move {
                // Its end closes the client, which the next call notices and reopens.
                let _ = connection.await;
            });
            self.client = Some(client);
        }
        self.client.as_ref().ok_or(PartitionError::Closed)
    }

    /// Drops the connection (a timed-out statement may still be running on it) and names the
    /// failure.
    fn failed(&mut self, what: &'static str, message: &str) -> PartitionError {
        self.client = None;
        PartitionError::Lease {
            url: self.url.redacted().to_owned(),
            partition: self.partition.clone(),
            what,
            message: redact(message),
        }
    }
}
