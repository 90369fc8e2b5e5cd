//! The delivery loop (DESIGN §6, §8): drains the durable outbox at least once per row. Woken at
//! once by the engine after a commit that enqueued notifications (and polled every
//! `outbox_poll_ms` for retries), it publishes MQTT rows and broadcasts console rows inline,
//! sends webhooks on their own tasks (a slow receiver never delays a fire's MQTT message), then
//! marks rows delivered — or records the failed attempt with a capped exponential backoff, for
//! ever: a fire notification is never dropped. A crash between sending and marking means the row
//! is sent again after the restart: receivers deduplicate by the message's `idempotency_key`.
//!
//! Delivered rows are deleted after 30 days (hourly); undelivered rows are never deleted.
//!
//! Metrics: `firegrid_dispatches_total{tier,channel,outcome}` (`delivered`, `failed`,
//! `skipped`: a webhook row whose recipient no longer has a URL) and `firegrid_dispatch_seconds`,
//! from the receipt of the reading that opened an incident to its first MQTT notification.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use firegrid_ingest::registry::SharedRegistry;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts};
use serde::Deserialize;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::dispatch_config::DispatchSettings;
use crate::engine::{now_ms, EngineHandle};
use crate::notify::mqtt::{dispatch_topic, Publish};
use crate::notify::sse::{SseHub, SseItem};
use crate::notify::webhook::{Webhook, WebhookError};
use crate::outbox::OutboxEntry;

/// Rows read per pass.
const PASS: usize = 256;
/// Incidents remembered as having had their first notification timed.
const TIMED_KEPT: usize = 4096;
/// Delivered outbox rows are kept this long (the audit trail keeps who was notified for good).
const DELIVERED_KEPT_MS: i64 = 30 * 86_400_000;
/// How often delivered rows past [`DELIVERED_KEPT_MS`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What can stop the delivery loop from starting.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The metrics could not be registered.
    #[error("dispatch metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The webhook client could not be built.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// The dispatch metrics.
#[derive(Debug, Clone)]
pub struct DispatchMetrics {
    /// `firegrid_dispatches_total{tier,channel,outcome}`.
    pub dispatches: IntCounterVec,
    /// `firegrid_dispatch_seconds`.
    pub seconds: Histogram,
}

impl DispatchMetrics {
    /// Registers the metrics.
    pub fn register(registry: &prometheus::Registry) -> Result<DispatchMetrics, prometheus::Error> {
        let dispatches = IntCounterVec::new(
            Opts::new(
                "firegrid_dispatches_total",
                "Dispatch notification attempts by recipient tier, channel and outcome",
            ),
            &["tier", "channel", "outcome"],
        )?;
        let seconds = Histogram::with_opts(
            HistogramOpts::new(
                "firegrid_dispatch_seconds",
                "From the receipt of the reading that opened an incident to its first notification published",
            )
            .buckets(vec![0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0, 10.0, 60.0]),
        )?;
        registry.register(Box::new(dispatches.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(DispatchMetrics { dispatches, seconds })
    }
}

/// The fields of a stored message the loop needs.
#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    seq: u32,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    received_at: Option<i64>,
    #[serde(default)]
    idempotency_key: String,
}

/// The delivery loop's parts.
pub struct Delivery {
    /// The engine (outbox access).
    pub handle: EngineHandle,
    /// Webhook URLs.
    pub registry: SharedRegistry,
    /// Retry bounds, poll period, webhook secret.
    pub settings: DispatchSettings,
    /// MQTT topic prefix.
    pub prefix: String,
    /// The MQTT client.
    pub mqtt: Arc<dyn Publish>,
    /// The console hub.
    pub sse: SseHub,
    /// Metrics.
    pub metrics: DispatchMetrics,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Backoff before attempt `attempts + 1`: `min · 2^attempts`, at most `max`.
pub fn backoff(attempts: u32, min: Duration, max: Duration) -> Duration {
    min.saturating_mul(1u32 << attempts.min(20)).min(max)
}

type WebhookResult = (OutboxEntry, String, Result<(), WebhookError>);

impl Delivery {
    /// Runs until `shutdown`; `signal` is [`EngineHandle::outbox_signal`].
    pub async fn run(self, signal: Arc<Notify>, shutdown: CancellationToken) -> Result<(), DeliverError> {
        let webhook = Webhook::new(self.settings.webhook_timeout, self.settings.webhook_secret.clone())?;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<WebhookResult>();
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut timed: VecDeque<String> = VecDeque::new();
        let mut poll = tokio::time::interval(self.settings.outbox_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // At shutdown one last pass sends what the engine enqueued while stopping (webhooks wait for the next start).
        let mut last = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => last = true,
                Some(r) = done_rx.recv() => {
                    let mut batch = vec![r];
                    while let Ok(r) = done_rx.try_recv() {
                        batch.push(r);
                    }
                    self.webhook_results(batch, &mut in_flight).await;
                    continue;
                }
                () = signal.notified() => {}
                _ = poll.tick() => {}
                _ = prune.tick() => {
                    match self.handle.prune_outbox(now_ms() - DELIVERED_KEPT_MS).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(rows = n, "pruned delivered outbox rows older than 30 days"),
                        Err(e) => tracing::warn!(error = %e, "outbox prune failed"),
                    }
                    continue;
                }
            }
            loop {
                let now = now_ms();
                let due = match self.handle.due_outbox(now, PASS).await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(error = %e, "outbox read failed; retrying at the next poll");
                        break;
                    }
                };
                let full = due.len() == PASS;
                let mut delivered = Vec::new();
                let mut fresh = 0;
                for e in due {
                    if in_flight.contains(&e.idempotency_key) {
                        continue;
                    }
                    fresh += 1;
                    let meta: Meta = serde_json::from_str(&e.payload).unwrap_or(Meta {
                        seq: 0,
                        tier: String::new(),
                        received_at: None,
                        idempotency_key: String::new(),
                    });
                    match e.channel.as_str() {
                        "mqtt" => {
                            let topic = dispatch_topic(&self.prefix, &e.target);
                            if let Err(err) = self.mqtt.publish(topic, e.payload.clone().into_bytes()) {
                                self.count(&meta.tier, "mqtt", "failed");
                                let next = now + i64::try_from(self.settings.retry_min.as_millis()).unwrap_or(1000);
                                tracing::warn!(key = %e.idempotency_key, error = %err, "MQTT client queue full; retrying");
                                if let Err(se) = self.handle.outbox_failed(&e.idempotency_key, next, &err).await {
                                    tracing::error!(error = %se, "failed MQTT attempt not recorded");
                                }
                                continue;
                            }
                            if meta.seq == 1 && !timed.contains(&e.incident_id) {
                                if let Some(r) = meta.received_at {
                                    let secs = (now_ms() - r).max(0) as f64 / 1000.0;
                                    self.metrics.seconds.observe(secs);
                                }
                                timed.push_back(e.incident_id.clone());
                                if timed.len() > TIMED_KEPT {
                                    timed.pop_front();
                                }
                            }
                            self.count(&meta.tier, "mqtt", "delivered");
                            delivered.push(e.idempotency_key);
                        }
                        "sse" => {
                            self.sse.send(SseItem { target: e.target.clone(), payload: e.payload.clone() });
                            self.count(&meta.tier, "sse", "delivered");
                            delivered.push(e.idempotency_key);
                        }
                        "webhook" if last => {}
                        "webhook" => match self.webhook_url(&e.target) {
                            Some(url) => {
                                in_flight.insert(e.idempotency_key.clone());
                                let (w, tx, key) = (webhook.clone(), done_tx.clone(), meta.idempotency_key.clone());
                                tokio::spawn(async move {
                                    let r = w.send(&url, &key, &e.payload).await;
                                    let _ = tx.send((e, meta.tier, r));
                                });
                            }
                            None => {
                                tracing::warn!(target = %e.target, "webhook row for a recipient without webhook_url: skipped");
                                self.count(&meta.tier, "webhook", "skipped");
                                delivered.push(e.idempotency_key);
                            }
                        },
                        other => {
                            tracing::error!(channel = other, key = %e.idempotency_key, "unknown outbox channel: skipped");
                            delivered.push(e.idempotency_key);
                        }
                    }
                }
                if !delivered.is_empty() {
                    if let Err(err) = self.handle.outbox_delivered_many(delivered, now_ms()).await {
                        tracing::error!(error = %err, "outbox rows sent but not marked; they will be sent again");
                    }
                }
                if !full || fresh == 0 || last {
                    break;
                }
            }
            if last {
                break;
            }
        }
        Ok(())
    }

    fn webhook_url(&self, target: &str) -> Option<String> {
        let reg = self.registry.snapshot();
        match target.strip_prefix("grid:") {
            Some(g) => reg.grid(g).and_then(|g| g.webhook_url.clone()),
            None => reg.station(target).and_then(|s| s.webhook_url.clone()),
        }
    }

    fn count(&self, tier: &str, channel: &str, outcome: &str) {
        self.metrics.dispatches.with_label_values(&[tier, channel, outcome]).inc();
    }

    async fn webhook_results(&self, batch: Vec<WebhookResult>, in_flight: &mut HashSet<String>) {
        let mut delivered = Vec::new();
        for (e, tier, r) in batch {
            in_flight.remove(&e.idempotency_key);
            match r {
                Ok(()) => {
                    self.count(&tier, "webhook", "delivered");
                    delivered.push(e.idempotency_key);
                }
                Err(err) => {
                    self.count(&tier, "webhook", "failed");
                    let wait = backoff(e.attempts, self.settings.retry_min, self.settings.retry_max);
                    let next = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                    tracing::warn!(key = %e.idempotency_key, attempts = e.attempts + 1, retry_in_ms = wait.as_millis() as u64,
                        error = %err, "webhook delivery failed");
                    if let Err(se) = self.handle.outbox_failed(&e.idempotency_key, next, &err.to_string()).await {
                        tracing::error!(error = %se, "failed webhook attempt not recorded; it is retried at once");
                    }
                }
            }
        }
        if !delivered.is_empty() {
            if let Err(err) = self.handle.outbox_delivered_many(delivered, now_ms()).await {
                tracing::error!(error = %err, "webhooks delivered but not marked; they will be sent again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_is_capped() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        assert_eq!(backoff(0, min, max), min);
        assert_eq!(backoff(3, min, max), Duration::from_secs(4));
        assert_eq!(backoff(30, min, max), max);
    }
}
