//! Where readings go: the [`LineStore`] trait that every store implements, what a store can
//! answer to a write, and the configured [`Store`].
//!
//! - [`influx`]: the InfluxDB write API over HTTP (InfluxDB, VictoriaMetrics);
//! - [`embedded`]: the embedded SQLite store (the one-machine default);
//! - [`spool`]: the disk spool that holds batches while the store is unavailable.

pub mod embedded;
pub mod influx;
pub mod spool;

use std::time::Duration;

/// What the store said to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Persisted: the messages can be acknowledged.
    Ok,
    /// Try again, after `after` when the server said so.
    Retry {
        /// The server's `Retry-After`, a floor for the writer's backoff.
        after: Option<Duration>,
        /// What failed, for the log (never a secret: no token, no body).
        reason: String,
    },
    /// The server refuses credentials: retried, and readiness fails meanwhile.
    Unauthorized(String),
    /// The bucket, organization or database does not exist (HTTP 404): retried (someone may
    /// create it), reported once, and named by `/readyz` meanwhile. The server's message.
    Missing(String),
    /// Body too large: split.
    TooLarge,
    /// Malformed data: the server's message.
    Rejected(String),
}

/// A store that takes line-protocol bodies. The InfluxDB write API is one, the embedded store
/// another; the writer (and its tests) work with any.
pub trait LineStore: Send + Sync + 'static {
    /// Writes one body of newline-terminated lines with millisecond timestamps.
    fn write(&self, body: &str) -> impl std::future::Future<Output = WriteResult> + Send;
}

/// The configured store: the one [`LineStore`] the writer is given.
#[derive(Debug, Clone)]
pub enum Store {
    /// An InfluxDB v1/v2 write API (InfluxDB, VictoriaMetrics).
    Influx(influx::InfluxV2),
    /// The embedded SQLite store.
    Embedded(embedded::EmbeddedStore),
}

impl LineStore for Store {
    async fn write(&self, body: &str) -> WriteResult {
        match self {
            Store::Influx(s) => s.write(body).await,
            Store::Embedded(s) => s.write(body).await,
        }
    }
}
