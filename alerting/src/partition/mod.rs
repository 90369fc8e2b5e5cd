//! Alert partitions (DESIGN §9): a named set of counties whose alerting, dispatch and MQTT
//! consumer run on exactly one leader at a time, with standbys ready to take over. The leader
//! is chosen through a lease row in the shared PostgreSQL store, renewed every second and
//! timed by the database's `now()`; the leader stops acting on its own at its last successful
//! renewal + lease − margin, measured on its monotonic clock (Zabbix's pattern); every write
//! it makes carries its epoch through the store's fence, so a deposed leader that wakes up can
//! change nothing (docs/guarantees.md says what the epoch cannot fence).
//!
//! - `lease`: the pure state machine (when this instance may act), with an injected clock.
//! - `guard`: [`LeaderGuard`], the lock-free "may I still act?" the dispatch loop asks.
//! - `pg`: [`LeaseClient`], the lease statement against PostgreSQL.
//! - `config`: `[alerting] partition`, `counties`, `partition_lease_ms` validated.
//! - `metrics`: `firegrid_partition_leader`, `firegrid_partition_epoch`.
//! - `scope`: [`Scope`], the incidents a leader owns (its counties') in the shared store.
//! - `term`: [`Term`], what one leader term's service runs under.
//!
//! The binary's `run::leader` drives them: standby → leader (warm start, then act) → standby.

mod config;
mod guard;
mod lease;
mod metrics;
mod pg;
mod scope;
mod term;

pub use config::{validate, PartitionSettings};
pub use guard::LeaderGuard;
pub use lease::{Change, LeaseState, LeaseTiming, LostWhy, Role};
pub use metrics::PartitionMetrics;
pub use pg::{LeaseClient, CALL_TIMEOUT};
pub use scope::Scope;
pub use term::Term;

/// A lease operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// PostgreSQL refused or did not answer a lease statement (URL and message redacted).
    #[error("partition {partition} lease on {url}: {what}: {message}")]
    Lease {
        /// The store's URL, password hidden.
        url: String,
        /// The partition.
        partition: String,
        /// What was being done.
        what: &'static str,
        /// The driver's message, passwords hidden.
        message: String,
    },
    /// The connection was closed while in use.
    #[error("partition lease connection closed")]
    Closed,
    /// The partition metrics could not be registered.
    #[error("partition metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
