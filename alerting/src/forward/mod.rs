//! Forwarded actions (DESIGN §9 "Any instance serves everything"): a responder action taken on an
//! instance that does not lead the incident's partition — a standby, or another partition's
//! leader — goes through the `forwarded_actions` table of the shared store (migration 0002) to the
//! one leader that owns the incident's county, which applies it in its engine (the single writer of
//! the incident, fenced by its epoch) and writes the verdict in the same transaction as the change.
//!
//! - `client`: [`Forwarder`], the posting side — insert the action, wait for the verdict (woken by
//!   `firegrid_forward_done`, polling as a fallback) until a bounded deadline, then cancel it if no
//!   leader has claimed it.
//! - `queue`: [`Queue`], the leader side's reads — the pending rows of its counties, the expiry of
//!   any county's rows nobody claimed within [`EXPIRE_AFTER`], and pruning.
//! - `listen`: [`Listener`], one connection that `LISTEN`s on a channel and wakes a [`Notify`];
//!   a lost notification only delays, as both sides poll.
//! - `conn`: opening a connection to the store (bounded, keepalive on).
//!
//! The engine's `forwarded` module claims and applies what [`Queue`] returns.
//!
//! [`Notify`]: tokio::sync::Notify

mod client;
pub(crate) mod conn;
mod listen;
mod queue;

use std::time::Duration;

pub use client::{Forwarder, NewAction, Origin};
pub use listen::Listener;
pub use queue::{Expired, Queue};

/// How long a caller waits for a leader to claim its action before it is cancelled: longer than
/// a takeover (about 6 s with the 5 s lease, docs/operations.md), so an action posted while a
/// partition fails over is still applied.
pub const CLAIM_DEADLINE: Duration = Duration::from_secs(10);
/// How much longer a caller waits once a leader has claimed its action (it can no longer be
/// cancelled: the leader applies it).
pub const CLAIMED_GRACE: Duration = Duration::from_secs(5);
/// How old a pending row may grow, by the database's clock, before any leader's sweep cancels
/// it (`result_code = 'expired'`): a row of a county no partition leads, or whose poster died
/// before its own [`CLAIM_DEADLINE`]. Longer than a poster waits in all ([`CLAIM_DEADLINE`] +
/// [`CLAIMED_GRACE`]) by a 5 s margin, so a live poster always cancels first and its caller's
/// 503 stays the truth.
pub const EXPIRE_AFTER: Duration = Duration::from_secs(20);
/// How often a waiting caller reads its row when no notification came.
pub const RESULT_POLL: Duration = Duration::from_millis(250);
/// How often a leader reads the table when no notification came.
pub const QUEUE_POLL: Duration = Duration::from_secs(1);
/// Longest a statement of the forwarding path may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why forwarding an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The shared store refused or did not answer (URL and message redacted).
    #[error("forwarded actions on {url}: {what}: {message}")]
    Store {
        /// The store's URL, password hidden.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The driver's message, passwords hidden.
        message: String,
    },
    /// No leader of the county's partition claimed the action before the deadline: it was
    /// cancelled and will never be applied.
    #[error(
        "no leader of the partition of county {county} applied the action within {} s: it was cancelled and will \
         not be applied; retry (is an alert instance of that partition running?)",
        waited.as_secs()
    )]
    NotApplied {
        /// The incident's county.
        county: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The owning leader claimed the action but did not answer in time; it is not cancelled.
    #[error(
        "the leader of county {county}'s partition took the action (request {id}) but did not answer within {} s: \
         it will be applied, not cancelled; read the incident to see its state",
        waited.as_secs()
    )]
    Claimed {
        /// The incident's county.
        county: String,
        /// The row id.
        id: i64,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A stored verdict does not decode.
    #[error("forwarded action {id}: stored verdict: {why}")]
    Verdict {
        /// The row id.
        id: i64,
        /// Why.
        why: String,
    },
    /// This instance forwards nothing (not a partition's instance on PostgreSQL).
    #[error("this instance forwards no actions: it is not a partition's instance on PostgreSQL")]
    NotForwarding,
    /// The incident id names no county (`INC-{county}-…`).
    #[error("incident id `{0}` names no county")]
    NoCounty(String),
}
