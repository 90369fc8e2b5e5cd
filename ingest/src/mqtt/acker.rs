//! The handle through which the ingest side talks back to the broker without ever waiting:
//! dead letters, other publishes, the disconnect, and (through its [`AckSequencer`]) every
//! acknowledgement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::client::Client;
use super::connection::ConnState;
use super::outbound::{Budget, Outbound, OutboundTask};
use super::sequencer::AckSequencer;
use crate::metrics::IngestMetrics;

/// Dead letters of QoS 0 messages queued for the client at most; more are dropped and counted
/// (`firegrid_deadletters_dropped_total`): nothing bounds a flood of QoS 0 messages but this.
pub(crate) const QOS0_DEADLETTER_BUDGET: usize = 1024;

/// Queues dead letters and publishes for the outbound task, without ever waiting, and hands
/// out the [`AckSequencer`] through which every acknowledgement leaves (in arrival order).
///
/// The writer, the pipeline and the engine must never block on the MQTT client: if they did, a
/// broker that sends past the window could fill the ingest queue, block the event loop, and
/// leave the acks that would free it stuck behind it. So the queue is unbounded in type and
/// bounded in fact: an ack or the dead letter of a QoS 1 message belongs to a message firegrid
/// received, acks wait as runs of consecutive packet ids (a stored batch's acks are usually one
/// 6-byte run, [`super::ack_run`]), and dead letters of QoS 0 messages are held to a budget
/// (1,024 queued at most).
#[derive(Debug, Clone)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Outbound>,
    sequencer: AckSequencer,
    qos0_queued: Arc<AtomicUsize>,
    metrics: IngestMetrics,
}

impl Acker {
    /// The sequencer the event loop registers arrivals with.
    pub fn sequencer(&self) -> &AckSequencer {
        &self.sequencer
    }

    /// Publishes the QoS 1 dead letter of a refused message (counted in the dead-letter metric)
    /// before its ack can leave: call it before completing the message's token. `qos0` says the
    /// refused message came with QoS 0, whose dead letters are held to a budget.
    pub fn deadletter(&self, topic: String, payload: Vec<u8>, qos0: bool) {
        let budget = if qos0 {
            if self.qos0_queued.fetch_add(1, Ordering::AcqRel) >= QOS0_DEADLETTER_BUDGET {
                self.qos0_queued.fetch_sub(1, Ordering::AcqRel);
                self.metrics.deadletters_dropped.inc();
                return;
            }
            Budget::Qos0
        } else {
            Budget::Window
        };
        let _ = self.tx.send(Outbound::Publish { topic, payload, deadletter: Some(budget) });
    }

    /// Disconnects cleanly once everything queued before has been handed to the client.
    pub fn disconnect(&self) {
        let _ = self.tx.send(Outbound::Disconnect);
    }
}

/// The acker handle and the task that drains it into the client; the task ends after the
/// disconnect (or when every handle is dropped).
pub fn outbound(
    client: Client,
    state: Arc<ConnState>,
    metrics: IngestMetrics,
) -> (Acker, impl std::future::Future<Output = ()> + Send) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sequencer = AckSequencer::new(tx.clone(), metrics.stale_acks.clone(), metrics.mqtt_unacked.clone());
    let qos0_queued = Arc::new(AtomicUsize::new(0));
    let acker = Acker { tx, sequencer, qos0_queued: qos0_queued.clone(), metrics: metrics.clone() };
    let task = OutboundTask { rx, client, state, qos0_queued, metrics };
    (acker, task.run())
}
