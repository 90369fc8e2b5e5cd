//! What the writer hands on once a batch is settled: the acks of what the store (or the spool)
//! took, and the lines the store refused for good.

use crate::mqtt::sequencer::AckToken;
use crate::wire::deadletter::Rejection;

/// A line the store refused, with its message.
#[derive(Debug)]
pub struct RefusedLine {
    /// The line.
    pub line: String,
    /// Its message's ack.
    pub ack: Option<AckToken>,
    /// Why.
    pub rejection: Rejection,
}

/// What the writer hands on: acks to send and lines to dead-letter.
pub trait WriteSink: Send + Sync + 'static {
    /// The store accepted these messages.
    fn persisted(&self, acks: Vec<AckToken>) -> impl std::future::Future<Output = ()> + Send;
    /// The store refused this line for good.
    fn refused(&self, line: RefusedLine) -> impl std::future::Future<Output = ()> + Send;
}
