//! The task that owns the rumqttc `EventLoop` (one per client, MQTT 5 or 3.1.1 behind
//! [`Connection`]): it polls the connection, reconnects with backoff for ever, resubscribes on
//! every ConnAck, and forwards each message to its queue. It never blocks on anything but a full
//! reading queue for a QoS 1 message, and the broker's window bounds those.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Arrival, Client, Connection, Event};
use super::connection::ConnState;
use super::message::Message;
use super::route::ControlRoute;
use super::sequencer::AckSequencer;
use crate::backoff::Backoff;
use crate::clock::now_ms;
use crate::config::MqttSettings;
use crate::metrics::IngestMetrics;

/// The task that owns the rumqttc `EventLoop` (one per client): it never blocks on anything but
/// a full reading queue for a QoS 1 message (the broker's window bounds those).
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
    /// Connection, queue-full and QoS 0 drop counts.
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
        let EventLoopTask { mut eventloop, client, settings, readings, control, state, sequencer, metrics } = self;
        // The event loop is polled here; everything else is shared by `&self` across awaits.
        let edge = Edge { client, settings, readings, control, state, sequencer, metrics };
        edge.run(&mut eventloop, stop).await;
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
}

impl Edge {
    async fn run(&self, eventloop: &mut Connection, stop: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.reconnect_min, self.settings.reconnect_max);
        let filters = self.filters();
        let mut last_error_log = 0i64;
        loop {
            let event = tokio::select! {
                ev = eventloop.poll() => ev,
                _ = stop.cancelled(), if !self.state.connected.load(Ordering::Acquire) => break,
            };
            match event {
                Ok(Event::ConnAck { session_present }) => {
                    backoff.reset();
                    self.connected(session_present, &filters);
                }
                Ok(Event::Publish(p)) => {
                    if !self.forward(p).await {
                        break;
                    }
                }
                Ok(Event::Disconnected) => {
                    tracing::info!(event = "mqtt_disconnected", "clean disconnect");
                    break;
                }
                Ok(Event::ServerDisconnect(reason)) => {
                    tracing::warn!(event = "mqtt_server_disconnect", reason = %reason);
                }
                Ok(Event::Other) => {}
                Err(e) => {
                    self.state.connected.store(false, Ordering::Release);
                    self.metrics.mqtt_connected.set(0);
                    if stop.is_cancelled() {
                        break;
                    }
                    let delay = backoff.next_delay();
                    let now = now_ms();
                    if now - last_error_log >= 1000 {
                        last_error_log = now;
                        tracing::warn!(event = "mqtt_connection_error", error = %e, retry_in_ms = delay.as_millis() as u64);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.cancelled() => break,
                    }
                }
            }
        }
        self.state.connected.store(false, Ordering::Release);
        self.metrics.mqtt_connected.set(0);
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
            tracing::error!(event = "mqtt_subscribe_failed", "request queue full or closed");
        }
    }

    /// Hands one message to its queue; false when the queue is closed for good (shutdown).
    async fn forward(&self, p: Arrival) -> bool {
        // Every QoS 1 message takes its place in the ack order as it arrives.
        let ack = (!p.qos0)
            .then(|| self.sequencer.arrive(self.state.generation.load(Ordering::Acquire), p.pkid, p.topic.clone()));
        if p.retained {
            // A retained message replayed by a subscription (MQTT 3.1.1 cannot refuse them):
            // acknowledged in its turn and never evaluated.
            tracing::debug!(event = "mqtt_retained_dropped", "a replayed retained message is not a reading");
            ack.into_iter().for_each(super::sequencer::AckToken::complete);
            return true;
        }
        let msg = Message { topic: p.topic, payload: p.payload, ack, received_at_ms: now_ms() };
        let to_control = self.control.as_ref().filter(|c| c.matches(&msg.topic));
        let tx = to_control.map_or(&self.readings, |c| &c.tx);
        match tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(msg)) if msg.ack.is_none() => {
                // QoS 0 promises nothing and nobody waits for it: waiting here would stop the
                // acks of QoS 1 messages, so a QoS 0 message finding the queue full is dropped
                // and counted (a broker drops them too for a slow client).
                self.metrics.qos0_dropped.inc();
                true
            }
            Err(mpsc::error::TrySendError::Full(msg)) => {
                // Only a broker sending past its window gets here: wait for room.
                self.metrics.ingest_queue_full.inc();
                tx.send(msg).await.is_ok()
            }
            // The pipeline has stopped (shutdown): the message stays unacknowledged and the
            // broker redelivers it to the next session.
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        }
    }
}
