//! The ingest task between the MQTT edge and the writer: decode → validate → enrich → encode
//! into batches; dead-letter refused messages at once; hand readings to the alert engine.
//!
//! Acknowledgements leave in arrival order (see [`crate::mqtt::sequencer`]): a reading's ack
//! waits for the store (or the spool) *and*, when alerting runs, for the engine's commit — two
//! parts of its place (on an alert-only instance, which stores no readings, the engine's commit
//! alone); a refused message's ack waits behind the readings that came before it,
//! and it holds a window slot until then, so it counts towards the window flush below.
//!
//! A batch goes to the writer when it holds `batch_max_lines` lines, when its oldest line is
//! `batch_max_age` old, or when its unacknowledged messages reach the configured share of the
//! broker's window — otherwise a small window would cap ingest at one window per flush age.
//!
//! - this file: the ingest task and what it hands the alert engine ([`AlertInput`]);
//! - [`enrich`]: the pure check of one message (topic → payload → registry);
//! - [`sink`]: the writer's results turned into MQTT acks and dead letters.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::batch_pool::BatchPool;
use crate::lineproto::encode::encode;
use crate::log_limit::RateLimiter;
use crate::metrics::IngestMetrics;
use crate::model::enriched::EnrichedReading;
use crate::model::registry::{Registry, SharedRegistry};
use crate::mqtt::acker::Acker;
use crate::mqtt::message::Message;
use crate::mqtt::sequencer::AckToken;
use crate::wire::deadletter::{DeadLetter, Reason, Rejection};
use crate::wire::payload::Limits;
use crate::wire::topic;

pub mod enrich;
pub mod sink;

use enrich::Enricher;

/// How often an idle pipeline (no message, nothing batched) looks for a reloaded registry, so
/// that it lets go of the one a reload replaced without waiting for its next message: a city's
/// registry is hundreds of MiB, and the retire thread frees it and gives its pages back only
/// once every reader let go (issue 14).
const IDLE_REGISTRY_CHECK: Duration = Duration::from_secs(2);

/// Everything the ingest task needs.
#[derive(Debug)]
pub struct Pipeline {
    /// Topic prefix, without a trailing slash (readings and the dead-letter topic).
    pub prefix: String,
    /// Decoder limits.
    pub limits: Limits,
    /// The registry; a reload takes effect for the next message.
    pub registry: SharedRegistry,
    /// Lines per batch.
    pub batch_max_lines: usize,
    /// Age of a batch.
    pub batch_max_age: Duration,
    /// Unacknowledged messages that trigger a flush.
    pub flush_at_unacked: usize,
    /// A batch holding unacknowledged messages is flushed when no message came for this long.
    pub batch_idle: Duration,
    /// To the writer (bounded: when full, intake waits).
    pub batches: mpsc::Sender<Batch>,
    /// Empty batches, handed back by the writer once written (shared with it).
    pub pool: BatchPool,
    /// Whether readings go into the writer's batches. `false` on an alert-only instance
    /// (`--role alert`): it stores only the engine's `fire_incident` lines, and a reading's ack
    /// waits for the engine's commit alone.
    pub store_readings: bool,
    /// To the alert engine (bounded: when full, intake waits), if alerting runs. Each reading
    /// carries a part of its message's ack, completed after the engine's commit.
    pub readings: Option<mpsc::Sender<AlertInput>>,
    /// Extra lines to store (incident annotations), if any.
    pub extra_lines: Option<mpsc::Receiver<String>>,
    /// Acks and dead letters.
    pub acker: Acker,
    /// Received, rejected and location-mismatch counts.
    pub metrics: IngestMetrics,
}

/// A reading for the alert engine, with its part of the message's acknowledgement (`None` for
/// QoS 0): the engine completes it once what the reading changed is committed.
#[derive(Debug)]
pub struct AlertInput {
    /// The reading, joined with its registry entry.
    pub reading: EnrichedReading,
    /// The engine's part of the message's ack.
    pub ack: Option<AckToken>,
}

/// Messages handled in one turn of the ingest task's loop at most, taken from the queue without
/// waiting: the batch's age and idle rules are checked between turns, and a burst of this many
/// takes well under a millisecond.
const BURST: usize = 256;

struct State {
    batch: Batch,
    unacked: usize,
    last_message: Instant,
    registry: Arc<Registry>,
    log_limit: RateLimiter,
}

impl Pipeline {
    /// Runs until `stop` is cancelled or the message queue closes; then drains what is
    /// queued, flushes the last batch and closes the writer's queue.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Message>, stop: CancellationToken) {
        let mut st = State {
            batch: self.pool.take(),
            unacked: 0,
            last_message: Instant::now(),
            registry: self.registry.snapshot(),
            log_limit: RateLimiter::new(1000),
        };
        let mut extra = self.extra_lines.take();
        loop {
            let deadline = if st.batch.is_empty() {
                Instant::now() + IDLE_REGISTRY_CHECK
            } else {
                let aged = Instant::from_std(st.batch.opened_at()) + self.batch_max_age;
                // Messages waiting for their ack hold the broker's window: don't sit on them
                // once the stream pauses (the broker may be waiting for exactly these acks).
                if st.unacked > 0 {
                    aged.min(st.last_message + self.batch_idle)
                } else {
                    aged
                }
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                m = rx.recv() => match m {
                    Some(m) => {
                        if !self.burst(m, &mut rx, &mut st, &mut extra, &stop).await { return; }
                        continue;
                    }
                    None => break,
                },
                l = recv_opt(&mut extra) => match l {
                    Some(line) => st.batch.push_with(None, |out| out.push_str(&line)),
                    None => extra = None,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    if st.batch.is_empty() {
                        self.take_reloaded_registry(&mut st);
                        continue;
                    }
                    if !self.flush(&mut st).await { return; }
                    continue;
                }
            }
            if self.full(&st) && !self.flush(&mut st).await {
                return;
            }
        }
        // Drain what the event loop already handed over, then the last batch.
        while let Ok(m) = rx.try_recv() {
            self.handle(m, &mut st, &mut extra).await;
        }
        if let Some(extra) = extra.as_mut() {
            while let Ok(line) = extra.try_recv() {
                st.batch.push_with(None, |out| out.push_str(&line));
            }
        }
        self.flush(&mut st).await;
    }

    /// The checks every message goes through.
    fn enricher(&self) -> Enricher<'_> {
        Enricher { prefix: &self.prefix, limits: &self.limits }
    }

    /// Handles `first`, then up to [`BURST`] messages already queued without going back to the
    /// `select!` (which per message built four futures and armed and dropped the batch's timer),
    /// flushing whenever the batch is full; stops early at shutdown. False when the writer is
    /// gone.
    async fn burst(
        &self,
        first: Message,
        rx: &mut mpsc::Receiver<Message>,
        st: &mut State,
        extra: &mut Option<mpsc::Receiver<String>>,
        stop: &CancellationToken,
    ) -> bool {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(m) = next {
            self.handle(m, st, extra).await;
            if self.full(st) && !self.flush(st).await {
                return false;
            }
            handled += 1;
            next = if handled < BURST && !stop.is_cancelled() { rx.try_recv().ok() } else { None };
        }
        st.last_message = Instant::now();
        true
    }

    /// The batch holds `batch_max_lines` lines, or its unacknowledged messages reached the
    /// window share.
    fn full(&self, st: &State) -> bool {
        st.batch.len() >= self.batch_max_lines || st.unacked >= self.flush_at_unacked
    }

    /// Sends the current batch to the writer; false when the writer is gone.
    async fn flush(&self, st: &mut State) -> bool {
        if st.batch.is_empty() {
            return true;
        }
        let full = std::mem::replace(&mut st.batch, self.pool.take());
        st.unacked = 0;
        self.batches.send(full).await.is_ok()
    }

    /// Takes the registry in force if a reload replaced the one held, letting go of the old one:
    /// with every message, and every [`IDLE_REGISTRY_CHECK`] while no message comes.
    fn take_reloaded_registry(&self, st: &mut State) {
        if !self.registry.is_current(&st.registry) {
            st.registry = self.registry.snapshot();
        }
    }

    async fn handle(&self, m: Message, st: &mut State, extra: &mut Option<mpsc::Receiver<String>>) {
        // A reload takes effect for the next message, mid-batch too: the batch holds encoded
        // lines, so nothing in it depends on the snapshot. (Swapping only at batch boundaries
        // let a reading that arrived just after a reload be judged by the old registry.)
        self.take_reloaded_registry(st);
        match self.enricher().process(&m.topic, &m.payload, m.received_at_ms, &st.registry) {
            Ok(r) => {
                self.metrics.received(Some(r.reading.kind));
                if r.location_mismatch {
                    self.metrics.location_mismatch.inc();
                    if let Some(suppressed) = st.log_limit.allow("location_mismatch", m.received_at_ms) {
                        tracing::warn!(event = "location_mismatch", device_id = %r.reading.device_id, topic_county = %r.reading.county, topic_township = %r.reading.township, suppressed, "registry location wins; the platform should fix its topic");
                    }
                }
                let engine_ack = self.store(m.ack, &r, st);
                if let Some(tx) = &self.readings {
                    self.to_engine(tx, AlertInput { reading: r, ack: engine_ack }, st, extra).await;
                }
            }
            Err(rejection) => {
                // Only a refused message pays for a second look at its topic.
                let kind = match rejection.reason {
                    Reason::BadTopic => None,
                    _ => self.enricher().topic_kind(&m.topic),
                };
                self.metrics.received(kind);
                self.reject(m, rejection, st)
            }
        }
    }

    /// Puts the reading into the batch with its message's ack, and returns the engine's part of
    /// that ack (forked before the store's can complete). Without `store_readings` the reading
    /// is not stored and the whole ack is the engine's; with neither the store nor the engine
    /// (a wiring no role makes) nothing would ever complete it, so it completes at once.
    fn store(&self, ack: Option<AckToken>, r: &EnrichedReading, st: &mut State) -> Option<AckToken> {
        if !self.store_readings {
            if self.readings.is_some() {
                return ack;
            }
            if let Some(ack) = ack {
                ack.complete();
            }
            return None;
        }
        if ack.is_some() {
            st.unacked += 1;
        }
        let engine_ack = match (&self.readings, &ack) {
            (Some(_), Some(ack)) => Some(ack.fork()),
            _ => None,
        };
        st.batch.push_with(ack, |out| encode(out, r));
        engine_ack
    }

    /// Bounded: a slow alert engine slows intake rather than lose a fire reading. While waiting,
    /// the engine's `fire_incident` lines are still taken in, or the engine (waiting to hand
    /// them over) and this task (waiting to hand it a reading) would wait on each other.
    async fn to_engine(
        &self,
        tx: &mpsc::Sender<AlertInput>,
        input: AlertInput,
        st: &mut State,
        extra: &mut Option<mpsc::Receiver<String>>,
    ) {
        loop {
            tokio::select! {
                biased;
                permit = tx.reserve() => {
                    // A closed engine queue is shutdown or a failed engine: the reading's ack
                    // part is dropped uncompleted, so the broker redelivers it.
                    if let Ok(permit) = permit {
                        permit.send(input);
                    }
                    return;
                }
                l = recv_opt(extra) => match l {
                    Some(line) => st.batch.push_with(None, |out| out.push_str(&line)),
                    None => *extra = None,
                },
            }
        }
    }

    fn reject(&self, m: Message, rejection: Rejection, st: &mut State) {
        self.metrics.rejected(rejection.reason);
        if let Some(suppressed) = st.log_limit.allow(rejection.reason.as_str(), m.received_at_ms) {
            tracing::warn!(event = "message_rejected", reason = rejection.reason.as_str(), detail = %rejection.detail, suppressed, "dead-lettered");
        }
        // The instance that stores readings owns the dead-letter topic: an alert-only instance,
        // which receives the same messages, counts its refusals but publishes no second letter.
        if self.store_readings {
            let topic_str = String::from_utf8_lossy(&m.topic);
            let dl = DeadLetter::new(&topic_str, &rejection, &m.payload, m.received_at_ms);
            self.acker.deadletter(topic::deadletter(&self.prefix), dl.to_json(), m.ack.is_none());
        }
        if let Some(ack) = m.ack {
            // Its ack leaves behind the readings before it; until then it holds a window slot.
            st.unacked += 1;
            ack.complete();
        }
    }
}

async fn recv_opt(rx: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
