//! One batch against the store: split on 413, bisect on 400/422 down to the offending lines
//! (dead-lettered with the server's message), stop at the first transient failure; and the
//! retry-in-place loop the writer falls back to when the spool cannot take a batch.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::health::StoreHealth;
use super::sink::{RefusedLine, WriteSink};
use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::batch_pool::BatchPool;
use crate::clock::now_ms;
use crate::metrics::{BatchOutcome, IngestMetrics};
use crate::store::{LineStore, WriteResult};
use crate::wire::deadletter::{Reason, Rejection};

/// Where a batch goes and what a write reports on: the writer task's parts, borrowed.
pub(crate) struct Target<'a, S, K> {
    pub(crate) store: &'a S,
    /// Acks and dead letters.
    pub(crate) sink: &'a K,
    pub(crate) health: &'a StoreHealth,
    pub(crate) metrics: &'a IngestMetrics,
    /// Where a written batch's emptied buffers go back to.
    pub(crate) pool: &'a BatchPool,
}

/// The store became unavailable during an attempt: what is left to write, and how long the
/// server asked to wait.
#[derive(Debug)]
pub(crate) struct Unavailable {
    /// Sub-batches not yet written (acks still held).
    pub(crate) remaining: Vec<Batch>,
    /// The server's `Retry-After`, if any.
    pub(crate) after: Option<std::time::Duration>,
}

impl<S: LineStore, K: WriteSink> Target<'_, S, K> {
    /// One pass over a batch: writes it, splitting on 413 and bisecting on 400/422 down to the
    /// offending lines (dead-lettered through the sink); stops at the first transient failure.
    pub(crate) async fn attempt(&self, batch: Batch) -> Result<(), Unavailable> {
        let mut stack = vec![batch];
        while let Some(b) = stack.pop() {
            if b.is_empty() {
                continue;
            }
            let started = Instant::now();
            let result = self.store.write(b.body()).await;
            self.metrics.write_seconds.observe(started.elapsed().as_secs_f64());
            match result {
                WriteResult::Ok => self.persisted(b).await,
                WriteResult::TooLarge | WriteResult::Rejected(_) if b.len() > 1 => {
                    let too_large = result == WriteResult::TooLarge;
                    self.metrics.batch(if too_large { BatchOutcome::Split } else { BatchOutcome::Rejected });
                    let (head, tail) = b.split();
                    stack.push(tail);
                    stack.push(head);
                }
                WriteResult::TooLarge | WriteResult::Rejected(_) => self.refuse(b, result).await,
                WriteResult::Unauthorized(msg) => {
                    self.metrics.batch(BatchOutcome::Retry);
                    self.health.failed(true);
                    tracing::error!(event = "store_unauthorized", error = %msg, "the store refuses firegrid's token");
                    stack.push(b);
                    return Err(Unavailable { remaining: stack, after: None });
                }
                WriteResult::Missing(msg) => {
                    self.metrics.batch(BatchOutcome::Retry);
                    if self.health.missing(&msg) {
                        tracing::error!(event = "store_target_missing", error = %msg,
                            "the store has no such bucket, organization or database: create it or fix \
                             store.influxdb.bucket/org (retrying)");
                    }
                    stack.push(b);
                    return Err(Unavailable { remaining: stack, after: None });
                }
                WriteResult::Retry { after, reason } => {
                    self.metrics.batch(BatchOutcome::Retry);
                    self.health.failed(false);
                    tracing::warn!(event = "store_write_failed", error = %reason, "store unavailable");
                    stack.push(b);
                    return Err(Unavailable { remaining: stack, after });
                }
            }
        }
        Ok(())
    }

    /// The store took the batch: its messages can be acknowledged.
    async fn persisted(&self, mut b: Batch) {
        self.metrics.batch(BatchOutcome::Ok);
        self.metrics.points_written.inc_by(b.len() as u64);
        self.health.written(now_ms());
        let acks = b.take_acks();
        self.pool.give(b);
        self.sink.persisted(acks).await;
    }

    /// The store refused a batch of one line for good: it is dead-lettered.
    async fn refuse(&self, b: Batch, result: WriteResult) {
        self.metrics.batch(BatchOutcome::Rejected);
        let detail = match result {
            WriteResult::Rejected(msg) => format!("store refused the line: {msg}"),
            _ => "store refused the line as too large (HTTP 413)".to_owned(),
        };
        let line = b.line(0).to_owned();
        let refused = RefusedLine {
            line,
            ack: b.into_acks().into_iter().next(),
            rejection: Rejection::new(Reason::StoreRejected, detail),
        };
        self.sink.refused(refused).await;
    }

    /// Writes a batch in place, retrying with backoff until it is written; false when `abort`
    /// is cancelled first (its messages stay unacknowledged and the broker redelivers them).
    pub(crate) async fn write_in_place(&self, batch: Batch, backoff: &mut Backoff, abort: &CancellationToken) -> bool {
        let mut pending = vec![batch];
        while let Some(b) = pending.pop() {
            match self.attempt(b).await {
                Ok(()) => backoff.reset(),
                Err(u) => {
                    pending.extend(u.remaining);
                    let delay = backoff.after(u.after);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = abort.cancelled() => return false,
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::sequencer::AckToken;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A store defined by a rule over line content: a pure stand-in for the server's
    /// line-by-line judgement, so the bisecting logic is tested without I/O.
    struct RuleStore {
        max_lines: usize,
        calls: Mutex<Vec<usize>>,
        fail_first: Mutex<u32>,
    }

    impl LineStore for RuleStore {
        async fn write(&self, body: &str) -> WriteResult {
            let n = body.lines().count();
            self.calls.lock().expect("lock").push(n);
            {
                let mut f = self.fail_first.lock().expect("lock");
                if *f > 0 {
                    *f -= 1;
                    return WriteResult::Retry { after: None, reason: "503".into() };
                }
            }
            if n > self.max_lines {
                WriteResult::TooLarge
            } else if body.contains("BAD") {
                WriteResult::Rejected("unable to parse 'BAD'".into())
            } else {
                WriteResult::Ok
            }
        }
    }

    #[derive(Default)]
    struct Collect {
        acked: Mutex<Vec<u16>>,
        refused: Mutex<Vec<(String, Option<u16>, String)>>,
    }

    impl WriteSink for Collect {
        async fn persisted(&self, acks: Vec<AckToken>) {
            self.acked.lock().expect("lock").extend(acks.into_iter().map(|a| a.pkid()));
        }
        async fn refused(&self, line: RefusedLine) {
            self.refused.lock().expect("lock").push((line.line, line.ack.map(|a| a.pkid()), line.rejection.detail));
        }
    }

    async fn run(lines: &[&str], max_lines: usize, fail_first: u32) -> (Arc<Collect>, Vec<usize>) {
        let store = RuleStore { max_lines, calls: Mutex::new(vec![]), fail_first: Mutex::new(fail_first) };
        let sink = Arc::new(Collect::default());
        let mut batch = Batch::new();
        for (i, l) in lines.iter().enumerate() {
            let tok = AckToken::detached(1, i as u16, bytes::Bytes::new());
            batch.push_with(Some(tok), |out| out.push_str(l));
        }
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        let metrics = IngestMetrics::register(&prometheus::Registry::new()).expect("metrics");
        let health = StoreHealth::default();
        let pool = BatchPool::new(4, 2);
        let target = Target { store: &store, sink: &*sink, health: &health, metrics: &metrics, pool: &pool };
        let ok = target.write_in_place(batch, &mut backoff, &CancellationToken::new()).await;
        assert!(ok);
        let calls = store.calls.lock().expect("lock").clone();
        (sink, calls)
    }

    #[tokio::test]
    async fn one_bad_line_is_dead_lettered_and_every_other_line_is_written_and_acked() {
        let lines = ["a f=1", "b f=2", "BAD", "c f=3", "d f=4", "e f=5", "f f=6"];
        let (sink, _) = run(&lines, 100, 0).await;
        let mut acked = sink.acked.lock().expect("lock").clone();
        acked.sort_unstable();
        assert_eq!(acked, vec![0, 1, 3, 4, 5, 6]);
        let refused = sink.refused.lock().expect("lock");
        assert_eq!(refused.len(), 1);
        assert_eq!((refused[0].0.as_str(), refused[0].1), ("BAD", Some(2)));
        assert!(refused[0].2.contains("unable to parse"));
    }

    #[tokio::test]
    async fn a_batch_too_large_for_the_store_is_split_until_it_fits() {
        let lines: Vec<String> = (0..10).map(|i| format!("m f={i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (sink, calls) = run(&refs, 3, 0).await;
        assert_eq!(sink.acked.lock().expect("lock").len(), 10);
        assert!(calls.iter().skip(1).all(|&n| n < 10));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_store_accepts() {
        let (sink, calls) = run(&["a f=1", "b f=2"], 100, 3).await;
        assert_eq!(calls, vec![2, 2, 2, 2]);
        assert_eq!(sink.refused.lock().expect("lock").len(), 0);
        assert_eq!(sink.acked.lock().expect("lock").len(), 2);
    }
}
