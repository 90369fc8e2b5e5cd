//! What goes back to the broker on the consumer's connection, and the task that hands it to the
//! client in queue order: acks released by the [sequencer](super::sequencer), dead letters and
//! other publishes, and the final disconnect.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::ack_run::AckRun;
use super::client::{Client, ClientError};
use super::connection::ConnState;
use crate::metrics::IngestMetrics;

/// What goes back to the broker on the consumer's connection, in this order: acks released by
/// the sequencer, dead letters and other publishes, the final disconnect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outbound {
    /// The PUBACKs of a run of packets of connection `generation`, in order.
    Acks { generation: u64, run: AckRun },
    /// A QoS 1 publish.
    Publish {
        topic: String,
        payload: Vec<u8>,
        /// A dead letter (counted), and whether it used the QoS 0 dead-letter budget.
        deadletter: Option<Budget>,
    },
    /// Disconnect cleanly once everything before has been handed to the client.
    Disconnect,
}

/// Which dead letters count against the bounded budget: those of QoS 0 messages, which no
/// window bounds (a flood of them must not grow memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// The dead letter of a QoS 1 message: bounded by the broker's window, never dropped.
    Window,
    /// The dead letter of a QoS 0 message: dropped and counted when the budget is spent.
    Qos0,
}

/// The task that drains the outbound queue into the client; it ends after the disconnect, when
/// the client is closed, or when every sender is dropped.
#[derive(Debug)]
pub(crate) struct OutboundTask {
    pub(crate) rx: mpsc::UnboundedReceiver<Outbound>,
    pub(crate) client: Client,
    pub(crate) state: Arc<ConnState>,
    /// Dead letters of QoS 0 messages queued and not yet handed to the client.
    pub(crate) qos0_queued: Arc<AtomicUsize>,
    pub(crate) metrics: IngestMetrics,
}

impl OutboundTask {
    /// Sends everything queued, in order, until the disconnect.
    pub(crate) async fn run(mut self) {
        while let Some(o) = self.rx.recv().await {
            if self.send(o).await.is_break() {
                return;
            }
        }
    }

    /// Hands a run of acks to the client, one PUBACK each; those of an earlier connection are
    /// counted as stale and dropped (the broker redelivers their messages).
    async fn acks(&self, generation: u64, run: AckRun) -> Result<(), ClientError> {
        for pkid in run {
            if generation != self.state.generation.load(Ordering::Acquire) {
                self.metrics.stale_acks.inc();
                continue;
            }
            self.client.ack(pkid).await?;
        }
        Ok(())
    }

    /// Hands one item to the client; `Break` once the connection is done with.
    async fn send(&self, o: Outbound) -> ControlFlow<()> {
        let sent = match o {
            Outbound::Acks { generation, run } => self.acks(generation, run).await,
            Outbound::Publish { topic, payload, deadletter } => {
                let r = self.client.publish(topic, payload).await;
                if deadletter == Some(Budget::Qos0) {
                    self.qos0_queued.fetch_sub(1, Ordering::AcqRel);
                }
                if r.is_ok() && deadletter.is_some() {
                    self.metrics.deadletters.inc();
                }
                r
            }
            Outbound::Disconnect => {
                let _ = self.client.disconnect().await;
                return ControlFlow::Break(());
            }
        };
        if sent.is_err() {
            tracing::warn!(
                event = "mqtt_client_closed",
                "outbound message not sent; unacknowledged messages are redelivered"
            );
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}
