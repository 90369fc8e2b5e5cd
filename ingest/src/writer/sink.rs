//! What the writer hands on once a batch is settled: the acks of what the store (or the spool)
//! took, and the lines the store refused for good.

use crate::mqtt::sequencer::AckToken;
use crate::wire::deadletter::Rejection;

/// A line the store refused, with its message.
#[derive(Debug)]
pub struct RefusedLine {
    /// The encoded line, without its newline (the dead letter's payload).
    pub line: String,
    /// The ack of the message it came from; `None` for QoS 0 and for lines with no message.
    pub ack: Option<AckToken>,
    /// `store_rejected`, with the server's message.
    pub rejection: Rejection,
}

/// What the writer hands on: acks to send and lines to dead-letter.
pub trait WriteSink: Send + Sync + 'static {
    /// The store accepted these messages.
    fn persisted(&self, acks: Vec<AckToken>) -> impl std::future::Future<Output = ()> + Send;
    /// The store refused this line for good.
    fn refused(&self, line: RefusedLine) -> impl std::future::Future<Output = ()> + Send;
}
