//! The task that owns the rumqttc `EventLoop` (one per client, MQTT 5 or 3.1.1 behind
//! [`Connection`]): it polls the connection, reconnects with backoff for ever, resubscribes on
//! every ConnAck, and forwards each message to its queue.
//!
//! It never awaits a queue. Polling is what moves everything on the connection: one
//! `EventLoop::poll` reads a burst of packets from the socket, writes the requests other tasks
//! queued through the client (the acker's PUBACKs, dead letters, the DISCONNECT) and, every
//! keep-alive interval, a PINGREQ — and it fails the connection when the previous PINGREQ has
//! had no PINGRESP by then. So a task that stopped polling while a queue was full would hold
//! back every PUBACK and ping, and the broker's PINGRESP would wait behind the backlog it had
//! already sent: with a broker that sends past its window (mosquitto 2.0.11, docs/guarantees.md
//! "Memory") that dropped the connection every keep-alive or two and made most of a large drain
//! redeliveries. Instead a QoS 1 message that finds its queue full waits in that queue's ordered
//! [`Overflow`], drained into the queue as room comes (`Sender::reserve`, in the same `select!`
//! as the poll), and reading stops only when an overflow holds `mqtt.overflow_max_messages`
//! (counted in `firegrid_mqtt_overflow_full_total`, logged `mqtt_overflow_full`) — until one
//! leaves. QoS 0 messages that cannot go straight into their queue are dropped and counted.
//! Reading at the store's pace, a PINGRESP can still sit behind more than a keep-alive of
//! messages; one that is late while messages keep arriving is forgiven ([`super::keepalive`]).
//!
//! The poll future is kept across loop turns and never dropped half-way (it owns the
//! `EventLoop` and hands it back): rumqttc's `poll` is not cancel-safe once it has taken a
//! request to write. One poll reads a burst of packets; the events it leaves buffered are taken
//! straight from the event loop ([`Connection::buffered`]) before the next poll is built, which
//! spares a poll future (and a turn of the `select!`) per message. On shutdown, messages still
//! in an overflow are dropped unacknowledged, so the broker redelivers them to the next session.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Arrival, Client, Connection, Event, PollError};
use super::connection::ConnState;
use super::keepalive::PingWatch;
use super::message::Message;
use super::overflow::{Overflow, Placed};
use super::route::ControlRoute;
use super::sequencer::AckSequencer;
use crate::backoff::Backoff;
use crate::clock::now_ms;
use crate::config::MqttSettings;
use crate::log_limit::RateLimiter;
use crate::metrics::IngestMetrics;

/// The task that owns the rumqttc `EventLoop` (one per client): it never awaits a queue; what a
/// broker sends past its window while a queue is full waits in a bounded, ordered overflow.
pub struct EventLoopTask {
    /// The event loop of [`connect`](super::options::connect).
    pub eventloop: Connection,
    /// Its client (subscriptions on every connection).
    pub client: Client,
    /// Connection settings and subscriptions.
    pub settings: MqttSettings,
    /// The reading queue (bounded).
    pub readings: mpsc::Sender<Message>,
    /// Messages on these filters (the dispatch stage's acks and status) go to their own queue.
    pub control: Option<ControlRoute>,
    /// Connection state shared with the acker and `/readyz`.
    pub state: Arc<ConnState>,
    /// The ack order every QoS 1 arrival joins.
    pub sequencer: AckSequencer,
    /// Connection, queue-full, overflow and QoS 0 drop counts.
    pub metrics: IngestMetrics,
}

impl std::fmt::Debug for EventLoopTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoopTask").field("client_id", &self.settings.client_id).finish_non_exhaustive()
    }
}

impl EventLoopTask {
    /// Runs until `stop` is cancelled and the disconnect went out (or the connection is down at
    /// that point); reconnects with capped backoff for ever.
    pub async fn run(self, stop: CancellationToken) {
        let EventLoopTask { eventloop, client, settings, readings, control, state, sequencer, metrics } = self;
        let held = [Overflow::new(settings.overflow_max_messages), Overflow::new(settings.overflow_max_messages)];
        let gauges = OverflowGauges::of(&metrics);
        let mut edge = Edge {
            client,
            settings,
            readings,
            control,
            state,
            sequencer,
            metrics,
            gauges,
            held,
            stalled: None,
            ping: PingWatch::default(),
            logs: RateLimiter::new(10_000),
            last_error_log: 0,
        };
        edge.run(eventloop, stop).await;
    }
}

/// The reading queue's index in [`Edge::held`] (and its `queue` label).
const READINGS: usize = 0;
/// The control route's.
const CONTROL: usize = 1;

/// One poll of the event loop, owning it so the future can live across loop turns; first, from
/// `forgive_from` on, an unanswered ping is forgiven ([`super::keepalive`]; true in the output).
async fn poll_owned(
    mut eventloop: Connection,
    forgive_from: Option<Instant>,
) -> (Connection, bool, Result<Event, PollError>) {
    let forgiven = forgive_from.is_some_and(|t| Instant::now() >= t) && eventloop.forgive_late_pingresp();
    let event = eventloop.poll().await;
    (eventloop, forgiven, event)
}

/// Room in `tx` (an owned permit: the handler then borrows the task mutably), or never when
/// there is nothing to wait for.
async fn reserve(tx: Option<mpsc::Sender<Message>>) -> Result<mpsc::OwnedPermit<Message>, mpsc::error::SendError<()>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.map_err(|_| mpsc::error::SendError(())),
        None => std::future::pending().await,
    }
}

/// Each queue's overflow depth and high-water gauges ([`READINGS`], [`CONTROL`]).
struct OverflowGauges([(prometheus::IntGauge, prometheus::IntGauge); 2]);

impl OverflowGauges {
    fn of(metrics: &IngestMetrics) -> OverflowGauges {
        let pair = |q: usize| {
            let label = [crate::metrics::OVERFLOW_QUEUES[q]];
            (metrics.overflow.with_label_values(&label), metrics.overflow_high_water.with_label_values(&label))
        };
        OverflowGauges([pair(READINGS), pair(CONTROL)])
    }
}

/// The event loop task's parts other than the `EventLoop` itself.
struct Edge {
    client: Client,
    settings: MqttSettings,
    readings: mpsc::Sender<Message>,
    control: Option<ControlRoute>,
    state: Arc<ConnState>,
    sequencer: AckSequencer,
    metrics: IngestMetrics,
    /// The overflow of each queue ([`READINGS`], [`CONTROL`]).
    held: [Overflow<Message>; 2],
    /// The queue whose overflow is at its bound (reading stopped), if any.
    stalled: Option<usize>,
    gauges: OverflowGauges,
    /// Whether an unanswered ping is only queued behind arriving messages.
    ping: PingWatch,
    logs: RateLimiter,
    last_error_log: i64,
}

impl Edge {
    async fn run(&mut self, eventloop: Connection, stop: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.reconnect_min, self.settings.reconnect_max);
        let filters = self.filters();
        let polling = poll_owned(eventloop, None);
        tokio::pin!(polling);
        loop {
            let reading = self.check_bound();
            // A sender to wait on only for a queue with something held.
            let readings_tx = (!self.held[READINGS].is_empty()).then(|| self.readings.clone());
            let control_tx = self.control.as_ref().filter(|_| !self.held[CONTROL].is_empty()).map(|c| c.tx.clone());
            let (has_readings, has_control) = (readings_tx.is_some(), control_tx.is_some());
            tokio::select! {
                (mut eventloop, forgiven, event) = &mut polling, if reading => {
                    self.watch(forgiven, &event);
                    // After an error the next poll reconnects first, as before.
                    let connected = event.is_ok();
                    let go_on = self.handle(event, &filters, &mut backoff, &stop).await
                        && (!connected || self.handle_buffered(&mut eventloop, &filters, &mut backoff, &stop).await);
                    polling.set(poll_owned(eventloop, self.ping.forgive_from(self.settings.keep_alive)));
                    if !go_on {
                        break;
                    }
                }
                permit = reserve(readings_tx), if has_readings => self.drain(READINGS, permit),
                permit = reserve(control_tx), if has_control => self.drain(CONTROL, permit),
                _ = stop.cancelled(), if !self.state.connected.load(Ordering::Acquire) => break,
            }
        }
        self.state.connected.store(false, Ordering::Release);
        self.metrics.mqtt_connected.set(0);
    }

    /// Handles the events the last poll read and left buffered in the event loop, in order, as
    /// long as reading may go on (an overflow at its bound stops it: what is left is what the
    /// next poll returns first); false when the loop ends.
    async fn handle_buffered(
        &mut self,
        eventloop: &mut Connection,
        filters: &[String],
        backoff: &mut Backoff,
        stop: &CancellationToken,
    ) -> bool {
        while self.check_bound() {
            let Some(event) = eventloop.buffered() else { break };
            let event = Ok(event);
            self.watch(false, &event);
            if !self.handle(event, filters, backoff, stop).await {
                return false;
            }
        }
        true
    }

    /// Handles one polled event; false when the loop ends (clean disconnect, or stopped while
    /// the connection is down).
    async fn handle(
        &mut self,
        event: Result<Event, PollError>,
        filters: &[String],
        backoff: &mut Backoff,
        stop: &CancellationToken,
    ) -> bool {
        match event {
            Ok(Event::ConnAck { session_present }) => {
                backoff.reset();
                self.connected(session_present, filters);
            }
            Ok(Event::Publish(p)) => self.forward(p),
            Ok(Event::Disconnected) => {
                tracing::info!(event = "mqtt_disconnected", "clean disconnect");
                return false;
            }
            Ok(Event::ServerDisconnect(reason)) => {
                tracing::warn!(event = "mqtt_server_disconnect", reason = %reason);
            }
            Ok(Event::PingSent | Event::Incoming | Event::Other) => {}
            Err(e) => {
                self.state.connected.store(false, Ordering::Release);
                self.metrics.mqtt_connected.set(0);
                if stop.is_cancelled() {
                    return false;
                }
                let delay = backoff.next_delay();
                let now = now_ms();
                if now - self.last_error_log >= 1000 {
                    self.last_error_log = now;
                    tracing::warn!(event = "mqtt_connection_error", error = %e, retry_in_ms = delay.as_millis() as u64);
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return false,
                }
            }
        }
        true
    }

    /// Follows pings and what is read after them ([`super::keepalive`]); counts a forgiven ping.
    fn watch(&mut self, forgiven: bool, event: &Result<Event, PollError>) {
        if forgiven {
            self.metrics.late_pingresp.inc();
        }
        match event {
            Ok(Event::PingSent) => self.ping.ping_sent(Instant::now()),
            Ok(Event::Publish(_) | Event::Incoming | Event::ServerDisconnect(_)) => self.ping.packet_read(),
            Ok(Event::ConnAck { .. }) | Err(_) => self.ping.connected(),
            Ok(Event::Disconnected | Event::Other) => {}
        }
    }

    /// The reading and control filters. Retained messages are never replayed (MQTT 5 retain
    /// handling 2, and on 3.1.1 dropped on arrival): a retained alarm is an old alarm, and a
    /// replay on every reconnect would let anyone who can publish one retained message raise it
    /// again and again.
    fn filters(&self) -> Vec<String> {
        let control = self.control.as_ref().map_or(&[][..], |c| c.filters.as_slice());
        self.settings.subscriptions.iter().chain(control).cloned().collect()
    }

    /// A ConnAck: a new connection generation (and ack sequence), then the subscriptions.
    fn connected(&self, session_present: bool, filters: &[String]) {
        let generation = self.state.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.sequencer.connected(generation);
        self.state.connected.store(true, Ordering::Release);
        self.metrics.mqtt_connected.set(1);
        self.metrics.mqtt_connections.inc();
        let s = &self.settings;
        tracing::info!(event = "mqtt_connected", generation, session_present, host = %s.host, port = s.port);
        if self.client.try_subscribe_many(filters).is_err() {
            // The request queue is full (of acks the outbound task queued): the subscription
            // waits for room on a task of its own, since only this task's polling makes room.
            let (client, filters) = (self.client.clone(), filters.to_vec());
            tokio::spawn(async move {
                if client.subscribe_many(&filters).await.is_err() {
                    tracing::error!(event = "mqtt_subscribe_failed", "the MQTT client is closed");
                }
            });
        }
    }

    /// Hands one message to its queue, or to the queue's overflow behind earlier ones; never
    /// waits.
    fn forward(&mut self, p: Arrival) {
        // Every QoS 1 message takes its place in the ack order as it arrives. Its token keeps a
        // copy of the topic, not a slice: a slice would keep the whole read buffer it came in
        // (tens of messages) alive until the message is stored and evaluated.
        let generation = self.state.generation.load(Ordering::Acquire);
        let ack = (!p.qos0).then(|| self.sequencer.arrive(generation, p.pkid, Bytes::copy_from_slice(&p.topic)));
        if p.retained {
            // A retained message replayed by a subscription (MQTT 3.1.1 cannot refuse them):
            // acknowledged in its turn and never evaluated.
            tracing::debug!(event = "mqtt_retained_dropped", "a replayed retained message is not a reading");
            ack.into_iter().for_each(super::sequencer::AckToken::complete);
            return;
        }
        let msg = Message { topic: p.topic, payload: p.payload, ack, received_at_ms: now_ms() };
        let to_control = self.control.as_ref().filter(|c| c.matches(&msg.topic));
        let (queue, tx) = to_control.map_or((READINGS, &self.readings), |c| (CONTROL, &c.tx));
        match self.held[queue].offer(msg, p.qos0, tx) {
            Placed::Queued => {}
            Placed::Held => {
                // Only a broker sending past its window gets here.
                self.metrics.ingest_queue_full.inc();
                self.gauge(queue);
            }
            // QoS 0 promises nothing and nobody waits for it: holding it would take the room
            // QoS 1 messages need, so it is dropped and counted (a broker drops them too for a
            // slow client).
            Placed::DroppedQos0 => self.metrics.qos0_dropped.inc(),
            // The pipeline has stopped (shutdown): the message stays unacknowledged and the
            // broker redelivers it to the next session.
            Placed::Closed => {}
        }
    }

    /// Room came in queue `queue`: moves its oldest held message in, then as many more as fit
    /// without waiting.
    fn drain(&mut self, queue: usize, permit: Result<mpsc::OwnedPermit<Message>, mpsc::error::SendError<()>>) {
        let held = &mut self.held[queue];
        match permit {
            Ok(permit) => {
                let Some(first) = held.pop_front() else { return };
                let tx = permit.send(first);
                while let Some(m) = held.pop_front() {
                    if let Err(e) = tx.try_send(m) {
                        match e {
                            mpsc::error::TrySendError::Full(m) => held.push_front(m),
                            mpsc::error::TrySendError::Closed(_) => {
                                held.clear();
                            }
                        }
                        break;
                    }
                }
            }
            // The pipeline has stopped (shutdown): what is held is never acknowledged, and the
            // broker redelivers it to the next session.
            Err(_) => {
                held.clear();
            }
        }
        self.gauge(queue);
    }

    /// Publishes queue `queue`'s overflow depth and high-water mark (on every held message:
    /// the gauges are looked up once, in [`OverflowGauges`]).
    fn gauge(&self, queue: usize) {
        let held = &self.held[queue];
        let (depth, high_water) = &self.gauges.0[queue];
        depth.set(i64::try_from(held.len()).unwrap_or(i64::MAX));
        high_water.set(i64::try_from(held.high_water()).unwrap_or(i64::MAX));
    }

    /// Whether the loop may read: false while an overflow is at its bound. Entering that state
    /// is counted and logged (at most once per 10 s, with how many times it was left out).
    fn check_bound(&mut self) -> bool {
        let full = (0..self.held.len()).find(|&q| self.held[q].at_bound());
        if let (Some(queue), None) = (full, self.stalled) {
            let label = crate::metrics::OVERFLOW_QUEUES[queue];
            self.metrics.overflow_full.with_label_values(&[label]).inc();
            if let Some(suppressed) = self.logs.allow("mqtt_overflow_full", now_ms()) {
                tracing::warn!(
                    event = "mqtt_overflow_full",
                    queue = label,
                    held = self.held[queue].len(),
                    suppressed,
                    "the broker sent past its window and the queue is full: reading stops until a message leaves (keep-alive pings wait too)"
                );
            }
        }
        self.stalled = full;
        full.is_none()
    }
}
