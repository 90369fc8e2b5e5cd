//! The dispatch outbox's record (DESIGN §6): a notification is written here, in the same
//! transaction as the incident change that caused it, before any delivery attempt. The store
//! keeps the table; the dispatch stage (routing, channels, retries) fills and drains it.

use serde::{Deserialize, Serialize};

/// One notification waiting in the dispatch outbox (filled by the dispatch stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// `incident_id:station_id:role:seq` (DESIGN §6); inserting a key twice is a no-op.
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
