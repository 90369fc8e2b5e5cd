//! The event loop's ordered overflow for one destination queue (readings or control): what a
//! broker sends past its window while that queue is full waits here, in arrival order, so the
//! task that owns the rumqttc `EventLoop` keeps polling it — PUBACKs and PINGREQs go out, the
//! PINGRESP is read — instead of awaiting room (DESIGN §8, docs/guarantees.md "Memory").
//!
//! The rules, pure and tested here:
//! - once a destination holds anything, every later QoS 1 message for it goes behind (the ack
//!   sequencer fixed the ack order at arrival; the pipeline must see the same order);
//! - a QoS 0 message that cannot go straight into its queue (full, or overflow ahead of it) is
//!   dropped and counted by the caller: it promises nothing, and holding it would cost the
//!   memory QoS 1 messages need;
//! - the overflow is bounded: [`Overflow::at_bound`] tells the event loop to stop reading the
//!   socket (and so stop polling) until room comes — the only time it stops, counted and logged.

use std::collections::VecDeque;

use tokio::sync::mpsc::{self, error::TrySendError};

/// Where a message offered to a destination went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// Straight into its queue.
    Queued,
    /// Held in the overflow (its queue was full, or the overflow already held messages).
    Held,
    /// A QoS 0 message that could not go straight into its queue: dropped (count it).
    DroppedQos0,
    /// The queue is closed (shutdown): the message is dropped unacknowledged and the broker
    /// redelivers it to the next session.
    Closed,
}

/// The ordered, bounded overflow of one destination.
#[derive(Debug)]
pub(crate) struct Overflow<T> {
    items: VecDeque<T>,
    max: usize,
    high_water: usize,
}

impl<T> Overflow<T> {
    /// An empty overflow holding at most `max` messages (at least one: the message that found
    /// the queue full has been read and must be kept).
    pub(crate) fn new(max: usize) -> Overflow<T> {
        Overflow { items: VecDeque::new(), max: max.max(1), high_water: 0 }
    }

    /// Offers one message: straight into `tx` when nothing is held, else behind what is held.
    /// `qos0` messages are never held.
    pub(crate) fn offer(&mut self, item: T, qos0: bool, tx: &mpsc::Sender<T>) -> Placed {
        if !self.items.is_empty() {
            if qos0 {
                return Placed::DroppedQos0;
            }
            self.hold(item);
            return Placed::Held;
        }
        match tx.try_send(item) {
            Ok(()) => Placed::Queued,
            Err(TrySendError::Full(_)) if qos0 => Placed::DroppedQos0,
            Err(TrySendError::Full(item)) => {
                self.hold(item);
                Placed::Held
            }
            Err(TrySendError::Closed(_)) => Placed::Closed,
        }
    }

    fn hold(&mut self, item: T) {
        self.items.push_back(item);
        self.high_water = self.high_water.max(self.items.len());
    }

    /// The oldest message held, to send next.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Puts back a message taken by [`pop_front`](Self::pop_front) that could not be sent.
    pub(crate) fn push_front(&mut self, item: T) {
        self.items.push_front(item);
    }

    /// Drops everything held (the queue closed: shutdown); returns how many. They were never
    /// acknowledged, so the broker redelivers them.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    /// Nothing held.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The most messages held at once since start.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }

    /// Full: the event loop must stop reading until a message leaves.
    pub(crate) fn at_bound(&self) -> bool {
        self.items.len() >= self.max
    }
}

#[cfg(test)]
#[path = "overflow_tests.rs"]
mod tests;
