//! In-order acknowledgement (the ack sequencer). MQTT (3.1.1 §4.6, 5 §4.6) requires a client to send its PUBACKs
//! in the order the PUBLISH packets arrived; rumqttd drops a connection that does otherwise, and
//! every broker is entitled to. Messages finish out of order, though: a malformed message is
//! refused at once, a station's acknowledgement is applied by the dispatch stage, a reading is
//! done only when the store *and* the alert engine have it. So every QoS 1 message of a
//! connection takes a place in one [`AckSequencer`] when it arrives, and its PUBACK leaves only
//! when it and every message before it are done.
//!
//! A message's [`AckToken`] is one *part* of its place; `AckToken::fork` adds a part (a reading
//! is stored by the writer and evaluated by the engine: two parts), and the place is done when
//! every part is [completed](AckToken::complete). Completing is cheap (one short lock) and never
//! waits: released acks go to the outbound task's queue in order, under the lock.
//!
//! A new connection starts a new sequence: places of the previous connection are dropped
//! (counted in `firegrid_mqtt_stale_acks_total`), since the broker redelivers those messages and
//! an ack on the new connection would name another message.
//!
//! Bounded: the sequencer holds one place per unacknowledged QoS 1 message that reached the event
//! loop. A broker that honours the Receive Maximum sends at most that many; mosquitto 2.0.11 sends
//! more once acks come in order, so what bounds the places is the ingest queue and the batches
//! behind it (docs/guarantees.md "Memory"): when they are full the event loop stops reading.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::mpsc;

use super::ack_run::{self, AckRun};
use super::outbound::Outbound;

/// Where released acks go (the outbound task's queue), and the metrics the sequencer keeps.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    out: mpsc::UnboundedSender<Outbound>,
    stale: IntCounter,
    unacked: IntGauge,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    /// Arrival index of `slots[0]`.
    base: u64,
    /// Places not yet released, in arrival order: packet id and parts still to complete.
    slots: VecDeque<(u16, u32)>,
}

/// The sequencer of one MQTT client (see the module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct AckSequencer {
    shared: Arc<Shared>,
}

/// One part of a message's place in the ack order. It must be [completed](AckToken::complete)
/// exactly once when its part of the work is durable; a token that is dropped instead leaves
/// the message (and every later one) unacknowledged, and the broker redelivers them.
#[derive(Debug)]
pub struct AckToken {
    generation: u64,
    index: u64,
    pkid: u16,
    /// The topic the message came on, for dead letters of refused lines. Empty on a
    /// [fork](AckToken::fork): only the store's part dead-letters, and cloning the topic (a copy
    /// of its own) cost an allocation per message, to promote it to a shared buffer.
    pub topic: Bytes,
    shared: Option<Arc<Shared>>,
}

impl AckSequencer {
    /// A sequencer releasing acks into `out`, counting dropped places in `stale` and holding
    /// the number of places in `unacked`.
    pub(crate) fn new(out: mpsc::UnboundedSender<Outbound>, stale: IntCounter, unacked: IntGauge) -> AckSequencer {
        AckSequencer { shared: Arc::new(Shared { inner: Mutex::new(Inner::default()), out, stale, unacked }) }
    }

    /// A new connection (its ConnAck): places of earlier connections are dropped.
    pub(crate) fn connected(&self, generation: u64) {
        let mut inner = self.shared.lock();
        let dropped = inner.slots.len() as u64;
        self.shared.stale.inc_by(dropped);
        *inner = Inner { generation, base: 0, slots: VecDeque::new() };
        self.shared.unacked.set(0);
    }

    /// A QoS 1 message arrived on connection `generation`: its place, with one part.
    pub(crate) fn arrive(&self, generation: u64, pkid: u16, topic: Bytes) -> AckToken {
        let mut inner = self.shared.lock();
        if inner.generation != generation {
            // Not the connection the sequencer follows (a ConnAck not seen yet cannot happen:
            // the event loop reports it first). The token completes as a no-op.
            return AckToken { generation, index: 0, pkid, topic, shared: None };
        }
        let index = inner.base + inner.slots.len() as u64;
        inner.slots.push_back((pkid, 1));
        self.shared.unacked.set(i64::try_from(inner.slots.len()).unwrap_or(i64::MAX));
        AckToken { generation, index, pkid, topic, shared: Some(self.shared.clone()) }
    }

    /// Completes many tokens under one lock (the writer completes whole batches).
    pub fn complete_all(tokens: impl IntoIterator<Item = AckToken>) {
        let mut tokens = tokens.into_iter();
        // Tokens of one batch share a sequencer; lock it once and release once at the end.
        let Some(first) = tokens.next() else { return };
        let Some(shared) = first.shared.clone() else {
            tokens.for_each(AckToken::complete);
            return;
        };
        let mut inner = shared.lock();
        for t in std::iter::once(first).chain(tokens) {
            match &t.shared {
                Some(s) if Arc::ptr_eq(s, &shared) => mark(&mut inner, &t),
                // Another sequencer's token (never in practice): completed on its own.
                Some(_) => t.complete(),
                None => {}
            }
        }
        release(&shared, &mut inner);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves `Inner` consistent before it can panic (none can), so a
        // poisoned lock is taken over.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One part of the place done (ignored when the place belongs to an earlier connection).
fn mark(inner: &mut Inner, t: &AckToken) {
    if t.generation != inner.generation || t.index < inner.base {
        return;
    }
    let Ok(i) = usize::try_from(t.index - inner.base) else { return };
    if let Some(slot) = inner.slots.get_mut(i) {
        slot.1 = slot.1.saturating_sub(1);
    }
}

/// Releases the acks of every finished place at the head of the sequence, in order, as runs of
/// consecutive packet ids ([`AckRun`]: a stored batch's thousands of acks are usually one).
fn release(shared: &Shared, inner: &mut Inner) {
    let generation = inner.generation;
    let finished = std::iter::from_fn(|| {
        let &(pkid, 0) = inner.slots.front()? else { return None };
        inner.slots.pop_front();
        inner.base += 1;
        Some(pkid)
    });
    if ack_run::pack(finished, |run| send(shared, generation, run)) {
        shared.unacked.set(i64::try_from(inner.slots.len()).unwrap_or(i64::MAX));
    }
}

/// Queues a run of released acks for the outbound task.
fn send(shared: &Shared, generation: u64, run: AckRun) {
    // The outbound task ends only after the last ack at shutdown; a send after that has nobody
    // to send it, and the broker redelivers the messages.
    let _ = shared.out.send(Outbound::Acks { generation, run });
}

impl AckToken {
    /// A token outside any sequencer (completing it does nothing): for messages of a connection
    /// the sequencer no longer follows, and for tests.
    #[cfg(test)]
    pub(crate) fn detached(generation: u64, pkid: u16, topic: Bytes) -> AckToken {
        AckToken { generation, index: 0, pkid, topic, shared: None }
    }

    /// The packet id (for tests and logs).
    #[cfg(test)]
    pub(crate) fn pkid(&self) -> u16 {
        self.pkid
    }

    /// Adds a part to this message's place and returns the token for it, without the topic:
    /// the place is done when both tokens (and any other forks) are completed.
    pub(crate) fn fork(&self) -> AckToken {
        if let Some(shared) = &self.shared {
            let mut inner = shared.lock();
            if self.generation == inner.generation && self.index >= inner.base {
                if let Some(slot) = usize::try_from(self.index - inner.base).ok().and_then(|i| inner.slots.get_mut(i)) {
                    slot.1 = slot.1.saturating_add(1);
                }
            }
        }
        AckToken {
            generation: self.generation,
            index: self.index,
            pkid: self.pkid,
            topic: Bytes::new(),
            shared: self.shared.clone(),
        }
    }

    /// This part of the message's work is durable; acks that are now due leave in order.
    pub fn complete(self) {
        let Some(shared) = &self.shared else { return };
        let mut inner = shared.lock();
        mark(&mut inner, &self);
        release(shared, &mut inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequencer() -> (AckSequencer, mpsc::UnboundedReceiver<Outbound>, IntCounter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stale = IntCounter::new("s", "s").expect("metric");
        let unacked = IntGauge::new("u", "u").expect("metric");
        (AckSequencer::new(tx, stale.clone(), unacked), rx, stale)
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Outbound>) -> Vec<u16> {
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            if let Outbound::Acks { run, .. } = o {
                out.extend(run);
            }
        }
        out
    }

    #[test]
    fn a_message_finished_early_waits_for_the_messages_before_it() {
        let (s, mut rx, _) = sequencer();
        s.connected(1);
        let a = s.arrive(1, 10, Bytes::new());
        let b = s.arrive(1, 11, Bytes::new());
        let c = s.arrive(1, 12, Bytes::new());
        c.complete();
        b.complete();
        assert_eq!(drain(&mut rx), Vec::<u16>::new(), "nothing leaves before the first message is done");
        a.complete();
        assert_eq!(drain(&mut rx), vec![10, 11, 12]);
    }

    #[test]
    fn a_forked_message_is_released_only_when_every_part_is_done() {
        let (s, mut rx, _) = sequencer();
        s.connected(1);
        let store = s.arrive(1, 1, Bytes::new());
        let engine = store.fork();
        let next = s.arrive(1, 2, Bytes::new());
        next.complete();
        store.complete();
        assert!(drain(&mut rx).is_empty(), "the engine's part is still open");
        engine.complete();
        assert_eq!(drain(&mut rx), vec![1, 2]);
    }

    #[test]
    fn the_store_part_keeps_the_topic_for_dead_letters_and_the_engine_part_carries_none() {
        let (s, mut rx, _) = sequencer();
        s.connected(1);
        let store = s.arrive(1, 7, Bytes::copy_from_slice(b"firegrid/v1/500101/smoke/d-1/reading"));
        let engine = store.fork();
        assert_eq!(&store.topic[..], b"firegrid/v1/500101/smoke/d-1/reading");
        assert!(engine.topic.is_empty(), "the engine never dead-letters: no copy of the topic");
        engine.complete();
        store.complete();
        assert_eq!(drain(&mut rx), vec![7]);
    }

    #[test]
    fn a_new_connection_drops_the_places_of_the_old_one_and_ignores_their_completions() {
        let (s, mut rx, stale) = sequencer();
        s.connected(1);
        let old = s.arrive(1, 5, Bytes::new());
        let _pending = s.arrive(1, 6, Bytes::new());
        s.connected(2);
        assert_eq!(stale.get(), 2);
        let new = s.arrive(2, 5, Bytes::new());
        old.complete();
        assert!(drain(&mut rx).is_empty(), "an old connection's completion releases nothing");
        new.complete();
        assert_eq!(drain(&mut rx), vec![5]);
    }

    #[test]
    fn batches_complete_under_one_lock_in_any_order() {
        let (s, mut rx, _) = sequencer();
        s.connected(3);
        let tokens: Vec<AckToken> = (0..100u16).map(|p| s.arrive(3, p, Bytes::new())).collect();
        let (evens, odds): (Vec<_>, Vec<_>) = tokens.into_iter().partition(|t| t.pkid % 2 == 0);
        AckSequencer::complete_all(odds);
        assert!(drain(&mut rx).is_empty());
        AckSequencer::complete_all(evens);
        assert_eq!(drain(&mut rx), (0..100).collect::<Vec<u16>>());
    }

    #[test]
    fn a_stored_batch_of_consecutive_packet_ids_waits_for_the_client_as_one_run() {
        let (s, mut rx, _) = sequencer();
        s.connected(1);
        let tokens: Vec<AckToken> =
            (65_000..=65_535u16).chain(1..=4_464).map(|p| s.arrive(1, p, Bytes::new())).collect();
        AckSequencer::complete_all(tokens);
        let queued: Vec<Outbound> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(queued.len(), 1, "5,000 acks are one queued item, not 5,000");
        let Some(Outbound::Acks { generation: 1, run }) = queued.into_iter().next() else { panic!("not a run") };
        assert!(run.into_iter().eq((65_000..=65_535u16).chain(1..=4_464)));
    }

    fn completion_orders() -> impl proptest::strategy::Strategy<Value = (Vec<bool>, Vec<usize>)> {
        use proptest::prelude::*;
        (1..64usize).prop_flat_map(|n| {
            (proptest::collection::vec(any::<bool>(), n), Just((0..2 * n).collect::<Vec<_>>()).prop_shuffle())
        })
    }

    proptest::proptest! {
        #[test]
        fn acks_leave_in_arrival_order_whatever_the_completion_order((forks, order) in completion_orders()) {
            let (s, mut rx, _) = sequencer();
            s.connected(1);
            // parts[k] = (message index, token); left[m] = parts of message m still open.
            let mut parts: Vec<(usize, Option<AckToken>)> = Vec::new();
            let mut left = vec![0u32; forks.len()];
            for (i, fork) in forks.iter().enumerate() {
                let t = s.arrive(1, u16::try_from(i).unwrap_or(u16::MAX), Bytes::new());
                if *fork {
                    parts.push((i, Some(t.fork())));
                    left[i] += 1;
                }
                parts.push((i, Some(t)));
                left[i] += 1;
            }
            let mut released: Vec<u16> = Vec::new();
            for k in order {
                let Some((m, slot)) = parts.get_mut(k) else { continue };
                if let Some(t) = slot.take() {
                    t.complete();
                    left[*m] -= 1;
                }
                released.extend(drain(&mut rx));
                // Exactly the longest finished prefix has been released, in arrival order.
                let done = left.iter().take_while(|&&n| n == 0).count();
                let want: Vec<u16> = (0..done).map(|i| u16::try_from(i).unwrap_or(u16::MAX)).collect();
                proptest::prop_assert_eq!(&released, &want);
            }
            proptest::prop_assert_eq!(released.len(), forks.len());
        }
    }
}
