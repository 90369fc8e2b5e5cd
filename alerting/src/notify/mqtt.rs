//! MQTT delivery: `{prefix}/dispatch/{station_id}` and, for grid managers,
//! `{prefix}/dispatch/grid/{grid_id}`, QoS 1, through the binary's single MQTT client (its
//! [`Acker`] publishes in order and never blocks).

use firegrid_ingest::consumer::Acker;

/// A way to publish QoS 1 messages; implemented for the ingest client's [`Acker`].
pub trait Publish: Send + Sync + 'static {
    /// Hands one message to the client (QoS 1, in order).
    fn publish(&self, topic: String, payload: Vec<u8>);
}

impl Publish for Acker {
    fn publish(&self, topic: String, payload: Vec<u8>) {
        Acker::publish_message(self, topic, payload);
    }
}

/// The dispatch topic of an outbox target (a station id, or `grid:{grid_id}`).
pub fn dispatch_topic(prefix: &str, target: &str) -> String {
    match target.strip_prefix("grid:") {
        Some(grid) => format!("{prefix}/dispatch/grid/{grid}"),
        None => format!("{prefix}/dispatch/{target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stations_and_grids_have_their_own_dispatch_topics() {
        assert_eq!(dispatch_topic("firegrid/v1", "ms-1"), "firegrid/v1/dispatch/ms-1");
        assert_eq!(dispatch_topic("firegrid/v1", "grid:g-1"), "firegrid/v1/dispatch/grid/g-1");
    }
}
