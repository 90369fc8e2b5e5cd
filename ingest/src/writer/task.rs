//! The writer task: what happens to each batch (DESIGN §8).
//!
//! A batch goes to the store. If the store is unavailable, it goes to the disk spool instead
//! and its messages are acknowledged once the append is on disk; while the store stays down,
//! new batches go straight to the spool without waiting on timeouts. When the store is back,
//! the spool is replayed oldest first, one record between live batches so neither starves.
//! When the spool is full (or disabled), the batch is retried in place: acknowledgements stop,
//! the ingest queue fills and the broker holds the backlog — backpressure, never a drop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::attempt::Target;
use super::health::StoreHealth;
use super::sink::WriteSink;
use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::batch_pool::BatchPool;
use crate::metrics::IngestMetrics;
use crate::store::spool::{Spool, SpoolError};
use crate::store::LineStore;

/// The parts of the writer task.
pub struct Writer<S, K> {
    /// The configured store (or any [`LineStore`]).
    pub store: S,
    /// Acks and dead letters.
    pub sink: Arc<K>,
    /// The disk spool, unless disabled.
    pub spool: Option<Arc<Mutex<Spool>>>,
    /// Retry backoff bounds.
    pub retry: (Duration, Duration),
    /// Health for `/readyz`.
    pub health: Arc<StoreHealth>,
    /// Write, batch-outcome and spool counts.
    pub metrics: IngestMetrics,
    /// Where written batches go back to, emptied, for the ingest task to fill again.
    pub pool: BatchPool,
}

impl<S, K> std::fmt::Debug for Writer<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("spool", &self.spool.is_some())
            .field("retry", &self.retry)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// What a blocking spool call reported.
enum Spooled {
    Ok,
    Full,
}

impl<S: LineStore, K: WriteSink> Writer<S, K> {
    /// Runs until `rx` closes (everything received is then written or spooled), or until
    /// `abort` is cancelled while a batch waits in place.
    pub async fn run(self, mut rx: mpsc::Receiver<Batch>, abort: CancellationToken) {
        let mut backoff = Backoff::new(self.retry.0, self.retry.1);
        let mut down_until: Option<Instant> = None;
        self.update_spool_metrics();
        loop {
            let pending = self.spool_pending();
            let store_up = down_until.is_none_or(|t| Instant::now() >= t);
            tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => {
                        if !self.live(b, &mut backoff, &mut down_until, &abort).await {
                            return;
                        }
                    }
                    None => return,
                },
                () = std::future::ready(()), if pending && store_up => self.replay_one(&mut backoff, &mut down_until).await,
                () = sleep_until_opt(down_until), if pending && !store_up => {}
            }
        }
    }

    /// One live batch; false when aborted.
    async fn live(
        &self,
        b: Batch,
        backoff: &mut Backoff,
        down_until: &mut Option<Instant>,
        abort: &CancellationToken,
    ) -> bool {
        let down = down_until.is_some_and(|t| Instant::now() < t);
        let remaining = if down && self.spool.is_some() {
            vec![b]
        } else {
            match self.target().attempt(b).await {
                Ok(()) => {
                    backoff.reset();
                    *down_until = None;
                    self.health.spooling.store(false, Ordering::Relaxed);
                    return true;
                }
                Err(u) => {
                    let delay = backoff.after(u.after);
                    *down_until = Some(Instant::now() + delay);
                    u.remaining
                }
            }
        };
        for mut b in remaining {
            match self.spool_batch(&b).await {
                Spooled::Ok => {
                    self.health.spooling.store(true, Ordering::Relaxed);
                    self.health.spool_full.store(false, Ordering::Relaxed);
                    self.metrics.spool_appended_points.inc_by(b.len() as u64);
                    let acks = b.take_acks();
                    self.pool.give(b);
                    self.sink.persisted(acks).await;
                }
                Spooled::Full => {
                    self.health.spool_full.store(true, Ordering::Relaxed);
                    if !self.target().write_in_place(b, backoff, abort).await {
                        return false;
                    }
                    *down_until = None;
                    self.health.spool_full.store(false, Ordering::Relaxed);
                }
            }
        }
        true
    }

    /// Replays the oldest spooled record.
    async fn replay_one(&self, backoff: &mut Backoff, down_until: &mut Option<Instant>) {
        let Some(spool) = self.spool.clone() else { return };
        let peeked = tokio::task::spawn_blocking(move || lock(&spool).peek()).await;
        let body = match peeked {
            Ok(Ok(Some(body))) => body,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::error!(event = "spool_read_failed", error = %e);
                *down_until = Some(Instant::now() + backoff.next_delay());
                return;
            }
            Err(_) => return,
        };
        let batch = Batch::from_body(String::from_utf8_lossy(&body).into_owned());
        let lines = batch.len() as u64;
        match self.target().attempt(batch).await {
            Ok(()) => {
                backoff.reset();
                *down_until = None;
                self.metrics.spool_replayed_points.inc_by(lines);
                let Some(spool) = self.spool.clone() else { return };
                let committed = tokio::task::spawn_blocking(move || lock(&spool).commit()).await;
                if let Ok(Err(e)) = committed {
                    tracing::error!(event = "spool_commit_failed", error = %e, "the record may be replayed again (idempotent)");
                }
                if !self.spool_pending() {
                    self.health.spooling.store(false, Ordering::Relaxed);
                    tracing::info!(event = "spool_drained", "every spooled reading is in the store");
                }
                self.update_spool_metrics();
            }
            Err(u) => {
                // Lines of a partly written record are written again on the next try: the
                // store keeps one point per series and timestamp.
                let delay = backoff.after(u.after);
                *down_until = Some(Instant::now() + delay);
            }
        }
    }

    async fn spool_batch(&self, b: &Batch) -> Spooled {
        let Some(spool) = self.spool.clone() else { return Spooled::Full };
        let body = b.body().as_bytes().to_vec();
        let r = tokio::task::spawn_blocking(move || lock(&spool).append(&body)).await;
        self.update_spool_metrics();
        match r {
            Ok(Ok(())) => Spooled::Ok,
            Ok(Err(SpoolError::Full { .. })) => Spooled::Full,
            Ok(Err(e)) => {
                tracing::error!(event = "spool_write_failed", error = %e, "holding the batch until the store takes it");
                Spooled::Full
            }
            Err(_) => Spooled::Full,
        }
    }

    /// The parts a write attempt needs, borrowed.
    fn target(&self) -> Target<'_, S, K> {
        Target { store: &self.store, sink: &*self.sink, health: &self.health, metrics: &self.metrics, pool: &self.pool }
    }

    fn spool_pending(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !lock(s).is_empty())
    }

    fn update_spool_metrics(&self) {
        if let Some(s) = &self.spool {
            let s = lock(s);
            self.metrics.spool_bytes.set(i64::try_from(s.bytes()).unwrap_or(i64::MAX));
            self.metrics.spool_segments.set(i64::try_from(s.segments()).unwrap_or(i64::MAX));
        }
    }
}

/// Locks the spool; a panic while holding it cannot leave it half-updated in a way that
/// matters (appends cut back on error), so a poisoned lock is taken over.
fn lock(s: &Mutex<Spool>) -> std::sync::MutexGuard<'_, Spool> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
