//! The state of the consumer's connection, shared by the event loop (which sets it), the
//! outbound task (stale acks) and `/readyz`.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Connection state shared with the acker and `/readyz`.
#[derive(Debug, Default)]
pub struct ConnState {
    /// Incremented on every ConnAck.
    pub generation: AtomicU64,
    /// True while connected.
    pub connected: AtomicBool,
}
