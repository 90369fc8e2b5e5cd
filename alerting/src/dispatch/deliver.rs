//! The delivery loop (DESIGN §6, §8): drains the durable outbox at least once per row. Woken at
//! once by the engine after a commit that enqueued notifications (and polled every
//! `outbox_poll_ms` for retries), it hands MQTT rows to the dispatch connection and broadcasts
//! console rows inline, sends webhooks on their own tasks (a slow receiver never delays a fire's
//! MQTT message), then records each outcome:
//!
//! - MQTT: delivered on the broker's PUBACK for the row's publish ([`super::notify::mqtt`]
//!   reports it); a row whose connection dropped first, or that the broker refused, goes back to
//!   the outbox with a capped exponential backoff and is sent again, for ever: a fire
//!   notification is never dropped.
//! - Webhook: delivered on a 2xx answer; otherwise retried with the same backoff until its
//!   incident closes or it is older than `webhook_max_age_seconds`, when it is `abandoned`.
//! - Console (SSE): delivered once broadcast.
//!
//! A crash between sending and marking means the row is sent again after the restart: receivers
//! deduplicate by the message's `idempotency_key`. Delivered and abandoned rows are deleted after
//! 30 days (hourly); pending rows are never deleted. Metrics: [`DispatchMetrics`].
//!
//! What the loop needs of a row — recipient, channel, tier, round, the receipt time it measures
//! from — are typed columns of the outbox: the message itself is sent as it was stored, never
//! parsed again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use firegrid_ingest::backoff::Backoff;
use firegrid_ingest::clock::now_ms;
use firegrid_ingest::SharedRegistry;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::config::DispatchSettings;
use super::metrics::DispatchMetrics;
use super::notify::mqtt::{dispatch_topic, MqttPublisher};
use super::notify::puback::Report;
use super::notify::sse::{SseHub, SseItem};
use super::notify::webhook::{Webhook, WebhookError};
use crate::engine::EngineHandle;
use crate::incident::{Channel, OutboxEntry, Recipient};
use crate::partition::{LeaderGuard, Scope};
use crate::settings::millis;
use crate::store::UndecodableRow;

/// Rows read per page of a pass.
const PASS: usize = 256;
/// Incidents remembered as having had their first notification timed.
const TIMED_KEPT: usize = 4096;
/// Delivered and abandoned outbox rows are kept this long (the audit trail keeps who was notified for good).
const DELIVERED_KEPT_MS: i64 = 30 * 86_400_000;
/// How often rows past [`DELIVERED_KEPT_MS`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// At shutdown, how long the loop waits for the PUBACKs of rows in flight.
const SHUTDOWN_PUBACK_WAIT: Duration = Duration::from_secs(1);

/// An MQTT row handed to the connection, awaiting its [`Report`].
#[derive(Debug)]
struct Sent {
    incident_id: String,
    tier: &'static str,
    seq: u32,
    received_at_ms: Option<i64>,
    attempts: u32,
}

/// What the loop holds between passes: rows in flight are not handed over again.
#[derive(Debug, Default)]
struct InFlight {
    webhooks: HashSet<String>,
    mqtt: HashMap<String, Sent>,
    /// Incidents whose first notification was timed.
    timed: VecDeque<String>,
}

/// The delivery loop's parts.
pub(crate) struct Delivery {
    /// The engine (outbox access).
    pub(crate) handle: EngineHandle,
    /// Webhook URLs.
    pub(crate) registry: SharedRegistry,
    /// Retry bounds, poll period, webhook secret and maximum age.
    pub(crate) settings: DispatchSettings,
    /// MQTT topic prefix.
    pub(crate) prefix: String,
    pub(crate) mqtt: MqttPublisher,
    /// The webhook sender (signs with the secret).
    pub(crate) webhook: Webhook,
    /// The console hub.
    pub(crate) sse: SseHub,
    pub(crate) metrics: DispatchMetrics,
    /// A partition leader's guard (see [`crate::partition::LeaderGuard`]); `None`: always acts.
    pub(crate) guard: Option<LeaderGuard>,
    /// The incidents whose rows this loop sends: the shared outbox holds every partition's.
    pub(crate) scope: Scope,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// The wait before attempt `attempts + 1` of a row: the shared [`Backoff`]'s delay after
/// `attempts` failures (its ceiling `min · 2^attempts`, at most `max`, with jitter). A row's
/// attempts are counted in the outbox, so the backoff is rebuilt from them rather than kept.
fn retry_wait(attempts: u32, min: Duration, max: Duration) -> Duration {
    let mut backoff = Backoff::new(min, max);
    let mut wait = backoff.next_delay();
    for _ in 0..attempts.min(40) {
        wait = backoff.next_delay();
    }
    wait
}

/// Epoch ms `wait` from now.
fn after(wait: Duration) -> i64 {
    now_ms().saturating_add(millis(wait))
}

/// A webhook row with the outcome of its request.
type WebhookResult = (OutboxEntry, Result<(), WebhookError>);

/// Where the rows of one pass go.
struct Pass<'a> {
    done: &'a mpsc::UnboundedSender<WebhookResult>,
    last: bool,
}

impl Delivery {
    /// Runs until `shutdown`; `reports` is the dispatch connection's channel
    /// ([`MqttPublisher::connect`]), `signal` is [`EngineHandle::outbox_signal`].
    pub(crate) async fn run(
        self,
        mut reports: mpsc::UnboundedReceiver<Report>,
        signal: Arc<Notify>,
        shutdown: CancellationToken,
    ) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<WebhookResult>();
        let mut f = InFlight::default();
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
                Some(r) = reports.recv() => {
                    let mut batch = vec![r];
                    while let Ok(r) = reports.try_recv() {
                        batch.push(r);
                    }
                    self.mqtt_reports(batch, &mut f).await;
                    continue;
                }
                Some(r) = done_rx.recv() => {
                    let mut batch = vec![r];
                    while let Ok(r) = done_rx.try_recv() {
                        batch.push(r);
                    }
                    self.webhook_results(batch, &mut f).await;
                    continue;
                }
                () = signal.notified() => {}
                _ = poll.tick() => {}
                _ = prune.tick() => {
                    self.prune().await;
                    continue;
                }
            }
            self.abandon(&f).await;
            self.pass(&mut f, &Pass { done: &done_tx, last }).await;
            if last {
                self.settle(&mut reports, &mut f).await;
                break;
            }
        }
    }

    /// Sends every due row once, page by page past the rows that stay due (in flight).
    async fn pass(&self, f: &mut InFlight, p: &Pass<'_>) {
        let mut offset = 0;
        loop {
            let due = match self.handle.due_outbox_page(now_ms(), PASS, offset).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(event = "outbox_read_failed", error = %e, "retrying at the next poll");
                    return;
                }
            };
            let full = due.len() == PASS;
            let mut delivered = Vec::new();
            for row in due {
                match row {
                    Ok(e) => {
                        if self.send(e, f, p, &mut delivered).await {
                            offset += 1;
                        }
                    }
                    Err(UndecodableRow { idempotency_key, problem }) => {
                        tracing::error!(event = "outbox_row_undecodable", key = %idempotency_key, problem = %problem,
                            "skipped: recorded as done");
                        delivered.push(idempotency_key);
                    }
                }
            }
            // Rows whose delivery could not be recorded would come back in the next page: stop here.
            if !self.mark_delivered(delivered).await || !full {
                return;
            }
        }
    }

    /// Whether this instance may still send (a deposed partition leader may not).
    fn acting(&self) -> bool {
        self.guard.as_ref().is_none_or(LeaderGuard::acting)
    }

    /// Sends one row; true when it stays due in the outbox (in flight, or left for later, as
    /// every row is once a partition leader's guard says stop).
    async fn send(&self, e: OutboxEntry, f: &mut InFlight, p: &Pass<'_>, delivered: &mut Vec<String>) -> bool {
        if !self.acting() || !self.scope.owns_incident(&e.incident_id) {
            return true;
        }
        match e.channel {
            Channel::Mqtt => self.send_mqtt(e, f).await,
            Channel::Sse => {
                self.count(e.tier_label(), Channel::Sse, "delivered");
                delivered.push(e.idempotency_key.clone());
                self.sse.send(SseItem { recipient: e.recipient, payload: e.payload });
                false
            }
            // At shutdown webhooks wait for the next start; one in flight waits for its answer.
            Channel::Webhook if p.last || f.webhooks.contains(&e.idempotency_key) => true,
            Channel::Webhook => self.send_webhook(e, f, p, delivered),
        }
    }

    /// Hands a webhook row to its own task (a slow receiver never delays the loop); true when it
    /// went, false when its recipient has no `webhook_url` any more (then it is done).
    fn send_webhook(&self, e: OutboxEntry, f: &mut InFlight, p: &Pass<'_>, delivered: &mut Vec<String>) -> bool {
        let Some(url) = self.webhook_url(&e.recipient) else {
            tracing::warn!(event = "webhook_skipped", target = %e.recipient.target(),
                "the recipient has no webhook_url any more");
            self.count(e.tier_label(), Channel::Webhook, "skipped");
            delivered.push(e.idempotency_key);
            return false;
        };
        f.webhooks.insert(e.idempotency_key.clone());
        let (w, tx, key) = (self.webhook.clone(), p.done.clone(), e.message_key());
        let guard = self.guard.clone();
        tokio::spawn(async move {
            // Asked again right before the request: this task may run after a pause.
            if !guard.as_ref().is_none_or(LeaderGuard::acting) {
                return;
            }
            let r = w.send(&url, &key, &e.payload, now_ms() / 1000).await;
            let _ = tx.send((e, r));
        });
        true
    }

    /// Hands an MQTT row to the connection (once: its PUBACK or return settles it).
    async fn send_mqtt(&self, e: OutboxEntry, f: &mut InFlight) -> bool {
        if f.mqtt.contains_key(&e.idempotency_key) {
            return true;
        }
        let topic = dispatch_topic(&self.prefix, &e.recipient);
        match self.mqtt.publish(&e.idempotency_key, topic, e.payload.into_bytes()) {
            Ok(()) => {
                let sent = Sent {
                    incident_id: e.incident_id,
                    tier: e.tier.map_or("", |t| t.as_str()),
                    seq: e.seq,
                    received_at_ms: e.received_at_ms,
                    attempts: e.attempts,
                };
                f.mqtt.insert(e.idempotency_key, sent);
                true
            }
            Err(err) => {
                self.count(e.tier.map_or("", |t| t.as_str()), Channel::Mqtt, "failed");
                tracing::warn!(event = "dispatch_mqtt_queue_full", key = %e.idempotency_key, error = %err, "retrying");
                if let Err(se) =
                    self.handle.outbox_failed(&e.idempotency_key, after(self.settings.retry_min), &err).await
                {
                    tracing::error!(event = "outbox_attempt_not_recorded", error = %se);
                }
                false
            }
        }
    }

    /// PUBACKs and returns from the dispatch connection.
    async fn mqtt_reports(&self, batch: Vec<Report>, f: &mut InFlight) {
        let mut delivered = Vec::new();
        for r in batch {
            match r {
                Report::Delivered(key) => {
                    if let Some(sent) = f.mqtt.remove(&key) {
                        self.count(sent.tier, Channel::Mqtt, "delivered");
                        self.time_first(&sent, f);
                    }
                    delivered.push(key);
                }
                Report::Returned { key, reason } => {
                    let (tier, attempts) = f.mqtt.remove(&key).map(|s| (s.tier, s.attempts)).unwrap_or_default();
                    self.count(tier, Channel::Mqtt, "failed");
                    let wait = retry_wait(attempts, self.settings.retry_min, self.settings.retry_max);
                    tracing::warn!(event = "dispatch_mqtt_returned", key = %key, retry_in_ms = millis(wait),
                        reason = %reason);
                    if let Err(se) = self.handle.outbox_failed(&key, after(wait), &reason).await {
                        tracing::error!(event = "outbox_attempt_not_recorded", error = %se);
                    }
                }
            }
        }
        self.mark_delivered(delivered).await;
    }

    /// `firegrid_dispatch_seconds`: the first MQTT notification of an incident acknowledged.
    fn time_first(&self, sent: &Sent, f: &mut InFlight) {
        if sent.seq != 1 || f.timed.contains(&sent.incident_id) {
            return;
        }
        if let Some(r) = sent.received_at_ms {
            self.metrics.seconds.observe((now_ms() - r).max(0) as f64 / 1000.0);
        }
        f.timed.push_back(sent.incident_id.clone());
        if f.timed.len() > TIMED_KEPT {
            f.timed.pop_front();
        }
    }

    async fn webhook_results(&self, batch: Vec<WebhookResult>, f: &mut InFlight) {
        let mut delivered = Vec::new();
        for (e, r) in batch {
            f.webhooks.remove(&e.idempotency_key);
            match r {
                Ok(()) => {
                    self.count(e.tier_label(), Channel::Webhook, "delivered");
                    delivered.push(e.idempotency_key);
                }
                Err(err) => {
                    self.count(e.tier_label(), Channel::Webhook, "failed");
                    let wait = retry_wait(e.attempts, self.settings.retry_min, self.settings.retry_max);
                    tracing::warn!(event = "webhook_failed", key = %e.idempotency_key, attempts = e.attempts + 1,
                        retry_in_ms = millis(wait), error = %err);
                    if let Err(se) = self.handle.outbox_failed(&e.idempotency_key, after(wait), &err.to_string()).await
                    {
                        tracing::error!(event = "outbox_attempt_not_recorded", error = %se, "it is retried at once");
                    }
                }
            }
        }
        self.mark_delivered(delivered).await;
    }

    /// Gives up the webhooks of closed incidents and those past `webhook_max_age_seconds`
    /// (not those being sent: their answer decides).
    async fn abandon(&self, f: &InFlight) {
        let before = now_ms().saturating_sub(millis(self.settings.webhook_max_age));
        let rows = match self.handle.webhooks_to_abandon(before).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(event = "outbox_read_failed", error = %e, "webhooks to abandon: retrying at the next poll");
                return;
            }
        };
        // Keys start with their incident's id (`{incident}:{target}:{role}:{seq}`): another
        // partition's rows in the shared outbox are its leader's to abandon.
        let ours = |key: &str| self.scope.owns_incident(key.split(':').next().unwrap_or(""));
        let rows: Vec<_> =
            rows.into_iter().filter(|a| !f.webhooks.contains(&a.idempotency_key) && ours(&a.idempotency_key)).collect();
        if rows.is_empty() || !self.acting() {
            return;
        }
        let keys = rows.iter().map(|a| (a.idempotency_key.clone(), a.reason)).collect();
        if let Err(e) = self.handle.outbox_abandoned(keys, now_ms()).await {
            tracing::error!(event = "outbox_abandon_failed", error = %e, "retrying at the next poll");
            return;
        }
        for a in rows {
            self.count(a.tier.map_or("", |t| t.as_str()), Channel::Webhook, "abandoned");
            tracing::warn!(event = "webhook_abandoned", key = %a.idempotency_key, reason = a.reason.as_str());
        }
    }

    /// At shutdown: waits briefly for the PUBACKs of rows in flight (the rest is sent again at the next start).
    async fn settle(&self, reports: &mut mpsc::UnboundedReceiver<Report>, f: &mut InFlight) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_PUBACK_WAIT;
        while !f.mqtt.is_empty() {
            let Ok(Some(r)) = tokio::time::timeout_at(deadline, reports.recv()).await else { break };
            let mut batch = vec![r];
            while let Ok(r) = reports.try_recv() {
                batch.push(r);
            }
            self.mqtt_reports(batch, f).await;
        }
    }

    /// Records deliveries; false when the store refused (the rows will be sent again).
    async fn mark_delivered(&self, keys: Vec<String>) -> bool {
        if keys.is_empty() {
            return true;
        }
        match self.handle.outbox_delivered_many(keys, now_ms()).await {
            Ok(_) => true,
            Err(err) => {
                tracing::error!(event = "outbox_delivered_not_recorded", error = %err, "they will be sent again");
                false
            }
        }
    }

    async fn prune(&self) {
        match self.handle.prune_outbox(now_ms().saturating_sub(DELIVERED_KEPT_MS)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(event = "outbox_pruned", rows = n, "delivered and abandoned rows older than 30 days")
            }
            Err(e) => tracing::warn!(event = "outbox_prune_failed", error = %e),
        }
    }

    fn webhook_url(&self, recipient: &Recipient) -> Option<String> {
        let reg = self.registry.snapshot();
        match recipient {
            Recipient::Grid(g) => reg.grid(g).and_then(|g| g.webhook_url.clone()),
            Recipient::Station(s) => reg.station(s).and_then(|s| s.webhook_url.clone()),
        }
    }

    /// Counts one outcome into `firegrid_dispatches_total{tier,channel,outcome}`.
    fn count(&self, tier: &str, channel: Channel, outcome: &str) {
        self.metrics.dispatches.with_label_values(&[tier, channel.as_str(), outcome]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_before_a_retry_doubles_with_the_attempts_up_to_the_cap_with_jitter_below_it() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        for (attempts, ceiling) in [(0, min), (3, Duration::from_secs(4)), (30, max)] {
            for _ in 0..20 {
                let w = retry_wait(attempts, min, max);
                assert!(w >= ceiling / 2 && w <= ceiling, "attempt {attempts}: {w:?} outside [½, 1] × {ceiling:?}");
            }
        }
    }
}
