//! When a late PINGRESP is not a dead connection (DESIGN §8).
//!
//! rumqttc sends a PINGREQ every keep-alive and fails the connection ("Last pingreq isn't acked")
//! when the next one is due and the previous one has had no PINGRESP. But a broker writes its
//! PINGRESP behind everything it has already sent, and mosquitto 2.0.11 sends far past the
//! Receive Maximum (docs/guarantees.md "Memory"): with a large backlog and a consumer slower
//! than the network, the answer can sit behind more messages than firegrid reads in one
//! keep-alive. Messages arriving after the PINGREQ already prove what the ping asks — the broker
//! is alive and the connection carries data — so the ping is forgiven: once messages have been
//! read since it went out and half a keep-alive has passed, the event loop clears rumqttc's
//! "awaiting PINGRESP" mark before its next poll, and the next ping goes out instead of an error
//! (counted in `firegrid_mqtt_late_pingresp_total`). A connection on which nothing at all is
//! read for a keep-alive after a ping still fails as before.

use std::time::{Duration, Instant};

/// What the event loop saw since the last PINGREQ.
#[derive(Debug, Default)]
pub(crate) struct PingWatch {
    /// When the last PINGREQ went out (as the event loop saw it), on this connection.
    ping_sent: Option<Instant>,
    /// A packet from the broker was read after it.
    read_since_ping: bool,
}

impl PingWatch {
    /// A PINGREQ went out at `at`.
    pub(crate) fn ping_sent(&mut self, at: Instant) {
        self.ping_sent = Some(at);
        self.read_since_ping = false;
    }

    /// A packet from the broker was read (rumqttc yields events in the order it handled them,
    /// so one seen after the PINGREQ's event was read after the PINGREQ was written).
    pub(crate) fn packet_read(&mut self) {
        self.read_since_ping = true;
    }

    /// A new connection: no ping is out.
    pub(crate) fn connected(&mut self) {
        *self = PingWatch::default();
    }

    /// From when an unanswered ping may be forgiven: `None` while nothing has been read since
    /// it went out (or no ping is out).
    pub(crate) fn forgive_from(&self, keep_alive: Duration) -> Option<Instant> {
        self.ping_sent.filter(|_| self.read_since_ping).map(|at| at + keep_alive / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP_ALIVE: Duration = Duration::from_secs(10);

    #[test]
    fn a_ping_is_forgivable_half_a_keep_alive_after_it_went_out_once_data_came_after_it() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        assert_eq!(w.forgive_from(KEEP_ALIVE), None, "no ping out");
        w.ping_sent(t0);
        assert_eq!(w.forgive_from(KEEP_ALIVE), None, "nothing read since the ping");
        w.packet_read();
        assert_eq!(w.forgive_from(KEEP_ALIVE), Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn data_read_before_a_ping_does_not_excuse_it() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.packet_read();
        w.ping_sent(t0);
        assert_eq!(w.forgive_from(KEEP_ALIVE), None);
        w.packet_read();
        let t1 = t0 + Duration::from_secs(10);
        w.ping_sent(t1);
        assert_eq!(w.forgive_from(KEEP_ALIVE), None, "the next ping starts over");
    }

    #[test]
    fn a_new_connection_has_no_ping_out() {
        let mut w = PingWatch::default();
        w.ping_sent(Instant::now());
        w.packet_read();
        w.connected();
        assert_eq!(w.forgive_from(KEEP_ALIVE), None);
    }
}
