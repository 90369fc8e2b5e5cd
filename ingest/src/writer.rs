//! The time-series writer (DESIGN §4, §8): posts batches to the InfluxDB v2 write API and
//! acknowledges their MQTT messages only after the store accepted them.
//!
//! Responses: 2xx delivered; 429, 5xx and network errors retried with capped exponential
//! backoff that honours `Retry-After`; 413 splits the batch; 400/422 bisects down to the
//! offending lines, dead-letters them with the server's message and writes the rest; 401/403
//! keep retrying and mark the store unauthorised (so `/readyz` fails).
//!
//! The influxdb2 crate was the intended client, but its write call hides the response headers
//! (no `Retry-After`) and treats every status but 204 as an error; the same request is made
//! here with reqwest, the HTTP client the crate itself wraps.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::batch::{AckToken, Batch};
use crate::config::InfluxSettings;
use crate::deadletter::{Reason, Rejection};
use crate::metrics::{BatchOutcome, IngestMetrics};

/// What the store said to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Persisted.
    Ok,
    /// Try again, after `after` when the server said so.
    Retry {
        /// Server-requested delay.
        after: Option<Duration>,
        /// For logs.
        reason: String,
    },
    /// The server refuses credentials: retried, and readiness fails meanwhile.
    Unauthorized(String),
    /// Body too large: split.
    TooLarge,
    /// Malformed data: the server's message.
    Rejected(String),
}

/// A store that takes line-protocol bodies. The InfluxDB v2 API is one; the embedded store
/// and the spool plug in behind the same call.
pub trait LineStore: Send + Sync + 'static {
    /// Writes one body of newline-terminated lines with millisecond timestamps.
    fn write(&self, body: &str) -> impl std::future::Future<Output = WriteResult> + Send;
}

/// Errors setting up the HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// reqwest could not build a client (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The InfluxDB v2 `/api/v2/write` endpoint.
#[derive(Debug, Clone)]
pub struct InfluxV2 {
    client: reqwest::Client,
    settings: InfluxSettings,
}

impl InfluxV2 {
    /// A client for the configured endpoint.
    pub fn new(settings: InfluxSettings) -> Result<InfluxV2, WriterError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(InfluxV2 { client, settings })
    }
}

impl LineStore for InfluxV2 {
    async fn write(&self, body: &str) -> WriteResult {
        let mut req = self
            .client
            .post(&self.settings.write_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_owned());
        if !self.settings.token.is_empty() {
            // InfluxDB 2.x/3.x take `Token …` on both APIs; 1.x ignores it without auth enabled.
            req = req.header(reqwest::header::AUTHORIZATION, format!("Token {}", self.settings.token));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return WriteResult::Retry { after: None, reason: format!("request failed: {e}") },
        };
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        if (200..300).contains(&status) {
            return WriteResult::Ok;
        }
        let text: String = resp.text().await.unwrap_or_default().chars().take(512).collect();
        classify(status, retry_after, text)
    }
}

/// Maps a non-2xx status to what the writer does about it.
pub fn classify(status: u16, retry_after: Option<Duration>, text: String) -> WriteResult {
    match status {
        413 => WriteResult::TooLarge,
        400 | 422 => WriteResult::Rejected(text),
        401 | 403 => WriteResult::Unauthorized(format!("HTTP {status}: {text}")),
        _ => WriteResult::Retry { after: retry_after, reason: format!("HTTP {status}: {text}") },
    }
}

/// `Retry-After` in seconds (the HTTP-date form falls back to the writer's own backoff).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(300)))
}

/// Capped exponential backoff.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, next: min }
    }

    /// The delay to wait now.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// The delay to wait now, at least what the server asked for.
    pub fn after(&mut self, server: Option<Duration>) -> Duration {
        let d = self.next_delay();
        server.map_or(d, |s| s.max(d))
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

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

/// Health of the store as the writer last saw it (for `/readyz`).
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// The last write attempt failed.
    pub failing: AtomicBool,
    /// The store refuses our credentials.
    pub unauthorized: AtomicBool,
    /// Epoch ms of the last successful write (0 = none yet).
    pub last_ok_ms: AtomicI64,
    /// The store is unavailable and batches go to the disk spool (ingestion continues).
    pub spooling: AtomicBool,
    /// The spool is full (or failing): acknowledgements wait for the store.
    pub spool_full: AtomicBool,
}

/// The store became unavailable during an attempt: what is left to write, and how long the
/// server asked to wait.
#[derive(Debug)]
pub struct Unavailable {
    /// Sub-batches not yet written (acks still held).
    pub remaining: Vec<Batch>,
    /// The server's `Retry-After`, if any.
    pub after: Option<Duration>,
}

/// One pass over a batch: writes it, splitting on 413 and bisecting on 400/422 down to the
/// offending lines (dead-lettered through `sink`); stops at the first transient failure.
pub async fn attempt<S: LineStore, K: WriteSink>(
    store: &S,
    sink: &K,
    batch: Batch,
    health: &StoreHealth,
    metrics: &IngestMetrics,
) -> Result<(), Unavailable> {
    let mut stack = vec![batch];
    while let Some(b) = stack.pop() {
        if b.is_empty() {
            continue;
        }
        let started = Instant::now();
        let result = store.write(b.body()).await;
        metrics.write_seconds.observe(started.elapsed().as_secs_f64());
        match result {
            WriteResult::Ok => {
                metrics.batch(BatchOutcome::Ok);
                metrics.points_written.inc_by(b.len() as u64);
                health.failing.store(false, Ordering::Relaxed);
                health.unauthorized.store(false, Ordering::Relaxed);
                health.last_ok_ms.store(crate::now_ms(), Ordering::Relaxed);
                sink.persisted(b.into_acks()).await;
            }
            WriteResult::TooLarge | WriteResult::Rejected(_) if b.len() > 1 => {
                metrics.batch(if result == WriteResult::TooLarge {
                    BatchOutcome::Split
                } else {
                    BatchOutcome::Rejected
                });
                let (head, tail) = b.split();
                stack.push(tail);
                stack.push(head);
            }
            WriteResult::TooLarge | WriteResult::Rejected(_) => {
                metrics.batch(BatchOutcome::Rejected);
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
                sink.refused(refused).await;
            }
            WriteResult::Unauthorized(msg) => {
                metrics.batch(BatchOutcome::Retry);
                health.failing.store(true, Ordering::Relaxed);
                health.unauthorized.store(true, Ordering::Relaxed);
                tracing::error!(event = "store_unauthorized", error = %msg, "the store refuses firegrid's token");
                stack.push(b);
                return Err(Unavailable { remaining: stack, after: None });
            }
            WriteResult::Retry { after, reason } => {
                metrics.batch(BatchOutcome::Retry);
                health.failing.store(true, Ordering::Relaxed);
                tracing::warn!(event = "store_write_failed", error = %reason, "store unavailable");
                stack.push(b);
                return Err(Unavailable { remaining: stack, after });
            }
        }
    }
    Ok(())
}

/// Writes a batch in place, retrying with backoff until it is written; false when `abort` is
/// cancelled first (its messages stay unacknowledged and the broker redelivers them).
pub async fn write_in_place<S: LineStore, K: WriteSink>(
    store: &S,
    sink: &K,
    batch: Batch,
    backoff: &mut Backoff,
    health: &StoreHealth,
    metrics: &IngestMetrics,
    abort: &CancellationToken,
) -> bool {
    let mut pending = vec![batch];
    while let Some(b) = pending.pop() {
        match attempt(store, sink, b, health, metrics).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn statuses_map_to_the_documented_handling() {
        assert_eq!(classify(413, None, String::new()), WriteResult::TooLarge);
        assert_eq!(classify(400, None, "bad".into()), WriteResult::Rejected("bad".into()));
        assert_eq!(classify(422, None, "bad".into()), WriteResult::Rejected("bad".into()));
        assert!(matches!(classify(401, None, String::new()), WriteResult::Unauthorized(_)));
        assert!(matches!(classify(403, None, String::new()), WriteResult::Unauthorized(_)));
        let d = Some(Duration::from_secs(3));
        assert!(matches!(classify(429, d, String::new()), WriteResult::Retry { after, .. } if after == d));
        assert!(matches!(classify(503, None, String::new()), WriteResult::Retry { after: None, .. }));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let got: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }

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
        let ok = write_in_place(
            &store,
            &*sink,
            batch,
            &mut backoff,
            &StoreHealth::default(),
            &metrics,
            &CancellationToken::new(),
        )
        .await;
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
