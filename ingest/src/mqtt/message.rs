//! One message as the MQTT edge hands it on.

use bytes::Bytes;

use super::sequencer::AckToken;

/// One message from the broker.
#[derive(Debug)]
pub struct Message {
    /// Topic bytes.
    pub topic: Bytes,
    /// Payload bytes.
    pub payload: Bytes,
    /// The ack to send once persisted; `None` for QoS 0 (nothing to acknowledge).
    pub ack: Option<AckToken>,
    /// Receive time, epoch ms.
    pub received_at_ms: i64,
}
