//! The writer's results turned into MQTT: acks for what the store (or the spool) took, dead
//! letters for the lines it refused.

use crate::clock::now_ms;
use crate::metrics::IngestMetrics;
use crate::mqtt::acker::Acker;
use crate::mqtt::sequencer::{AckSequencer, AckToken};
use crate::wire::deadletter::DeadLetter;
use crate::wire::topic;
use crate::writer::sink::{RefusedLine, WriteSink};

/// What the writer reports back, turned into MQTT acks and dead letters.
#[derive(Debug)]
pub struct MqttWriteSink {
    /// The consumer's acker: acks and dead letters leave on its connection, in order.
    pub acker: Acker,
    /// Topic prefix (for the dead-letter topic).
    pub prefix: String,
    /// Rejections by reason.
    pub metrics: IngestMetrics,
}

impl WriteSink for MqttWriteSink {
    async fn persisted(&self, acks: Vec<AckToken>) {
        AckSequencer::complete_all(acks);
    }

    async fn refused(&self, line: RefusedLine) {
        self.metrics.rejected(line.rejection.reason);
        tracing::warn!(event = "message_rejected", reason = line.rejection.reason.as_str(), detail = %line.rejection.detail, "the store refused a line; dead-lettered");
        let topic = line.ack.as_ref().map(|a| String::from_utf8_lossy(&a.topic).into_owned()).unwrap_or_default();
        let dl = DeadLetter::new(&topic, &line.rejection, line.line.as_bytes(), now_ms());
        self.acker.deadletter(topic::deadletter(&self.prefix), dl.to_json(), line.ack.is_none());
        if let Some(a) = line.ack {
            a.complete();
        }
    }
}
