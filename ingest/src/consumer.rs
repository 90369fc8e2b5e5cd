//! The MQTT edge (DESIGN §8): one task owns the rumqttc v5 `EventLoop`, reconnects with capped
//! backoff forever, resubscribes on every connection, and forwards QoS 1 messages into a
//! bounded queue. MQTT 5 with a persistent session (fixed client id, clean start off, session
//! expiry) and a large Receive Maximum lets acknowledgements follow the store's writes without
//! capping throughput at the broker's in-flight window.
//!
//! The queue holds at most the broker's window (Receive Maximum) of unacknowledged messages,
//! so in normal operation it never fills; if a broker ignores the window, the loop waits for
//! room (counted in `firegrid_ingest_queue_full_total`) rather than drop a message.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::{AckSequencer, AckToken, Budget, Outbound};
use crate::config::MqttSettings;
use crate::metrics::IngestMetrics;
use crate::writer::Backoff;

/// Errors of the MQTT edge.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The CA file could not be read.
    #[error("mqtt.ca_file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One message from the broker.
#[derive(Debug)]
pub struct Message {
    /// Topic bytes.
    pub topic: Bytes,
    /// Payload bytes.
    pub payload: Bytes,
    /// The ack to send once persisted; `None` for QoS 0 (nothing to acknowledge).
    pub ack: Option<AckToken>,
    /// Receive time, epoch ms.
    pub received_at_ms: i64,
}

/// Connection state shared with the acker and `/readyz`.
#[derive(Debug, Default)]
pub struct ConnState {
    /// Incremented on every ConnAck.
    pub generation: AtomicU64,
    /// True while connected.
    pub connected: AtomicBool,
}

/// Builds the client options of DESIGN §8 from settings.
pub fn options(s: &MqttSettings) -> Result<MqttOptions, ConsumerError> {
    let mut o = MqttOptions::new(s.client_id.clone(), s.host.clone(), s.port);
    o.set_clean_start(false)
        .set_manual_acks(true)
        .set_keep_alive(s.keep_alive)
        .set_session_expiry_interval(Some(s.session_expiry_seconds))
        .set_receive_maximum(Some(s.receive_maximum))
        .set_max_packet_size(Some(s.max_packet_bytes));
    if let Some((user, pass)) = &s.credentials {
        o.set_credentials(user.clone(), pass.clone());
    }
    match &s.tls {
        None => {}
        Some(None) => {
            o.set_transport(Transport::tls_with_default_config());
        }
        Some(Some(ca)) => {
            let pem =
                std::fs::read(ca).map_err(|source| ConsumerError::CaFile { path: ca.display().to_string(), source })?;
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: pem,
                alpn: None,
                client_auth: None,
            }));
        }
    }
    Ok(o)
}

/// A connected client and its event loop; the request queue is sized so that acks for a full
/// window never wait.
pub fn connect(s: &MqttSettings) -> Result<(AsyncClient, EventLoop), ConsumerError> {
    let cap = usize::from(s.receive_maximum) + 1024;
    Ok(AsyncClient::new(options(s)?, cap))
}

/// Dead letters of QoS 0 messages queued for the client at most; more are dropped and counted
/// (`firegrid_deadletters_dropped_total`): nothing bounds a flood of QoS 0 messages but this.
pub const QOS0_DEADLETTER_BUDGET: usize = 1024;

/// Queues dead letters and publishes for the outbound task, without ever waiting, and hands
/// out the [`AckSequencer`] through which every acknowledgement leaves (in arrival order).
///
/// The writer, the pipeline and the engine must never block on the MQTT client: if they did, a
/// broker that sends past the window could fill the ingest queue, block the event loop, and
/// leave the acks that would free it stuck behind it. So the queue is unbounded in type and
/// bounded in fact: an ack or the dead letter of a QoS 1 message belongs to a message firegrid
/// holds unacknowledged (at most the broker's window of them), and dead letters of QoS 0
/// messages are held to [`QOS0_DEADLETTER_BUDGET`].
#[derive(Debug, Clone)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Outbound>,
    sequencer: AckSequencer,
    qos0_queued: Arc<AtomicUsize>,
    metrics: IngestMetrics,
}

impl Acker {
    /// The sequencer the event loop registers arrivals with.
    pub fn sequencer(&self) -> &AckSequencer {
        &self.sequencer
    }

    /// Publishes the QoS 1 dead letter of a refused message (counted in the dead-letter metric)
    /// before its ack can leave: call it before completing the message's token. `qos0` says the
    /// refused message came with QoS 0, whose dead letters are held to a budget.
    pub fn deadletter(&self, topic: String, payload: Vec<u8>, qos0: bool) {
        let budget = if qos0 {
            if self.qos0_queued.fetch_add(1, Ordering::AcqRel) >= QOS0_DEADLETTER_BUDGET {
                self.qos0_queued.fetch_sub(1, Ordering::AcqRel);
                self.metrics.deadletters_dropped.inc();
                return;
            }
            Budget::Qos0
        } else {
            Budget::Window
        };
        let _ = self.tx.send(Outbound::Publish { topic, payload, deadletter: Some(budget) });
    }

    /// Publishes a QoS 1 message that is not a dead letter, in order.
    pub fn publish_message(&self, topic: String, payload: Vec<u8>) {
        let _ = self.tx.send(Outbound::Publish { topic, payload, deadletter: None });
    }

    /// Disconnects cleanly once everything queued before has been handed to the client.
    pub fn disconnect(&self) {
        let _ = self.tx.send(Outbound::Disconnect);
    }
}

/// The acker handle and the task that drains it into the client; the task ends after the
/// disconnect (or when every handle is dropped).
pub fn outbound(
    client: AsyncClient,
    state: Arc<ConnState>,
    metrics: IngestMetrics,
) -> (Acker, impl std::future::Future<Output = ()> + Send) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sequencer = AckSequencer::new(tx.clone(), metrics.stale_acks.clone(), metrics.mqtt_unacked.clone());
    let qos0_queued = Arc::new(AtomicUsize::new(0));
    let acker = Acker { tx, sequencer, qos0_queued: qos0_queued.clone(), metrics: metrics.clone() };
    let task = async move {
        while let Some(o) = rx.recv().await {
            let sent = match o {
                Outbound::Ack { generation, pkid } => {
                    if generation != state.generation.load(Ordering::Acquire) {
                        metrics.stale_acks.inc();
                        continue;
                    }
                    let mut p = Publish::new("", QoS::AtLeastOnce, Bytes::new(), None);
                    p.pkid = pkid;
                    client.ack(&p).await
                }
                Outbound::Publish { topic, payload, deadletter } => {
                    let r = client.publish(topic, QoS::AtLeastOnce, false, payload).await;
                    if deadletter == Some(Budget::Qos0) {
                        qos0_queued.fetch_sub(1, Ordering::AcqRel);
                    }
                    if r.is_ok() && deadletter.is_some() {
                        metrics.deadletters.inc();
                    }
                    r
                }
                Outbound::Disconnect => {
                    let _ = client.disconnect().await;
                    return;
                }
            };
            if sent.is_err() {
                tracing::warn!(
                    event = "mqtt_client_closed",
                    "outbound message not sent; unacknowledged messages are redelivered"
                );
                return;
            }
        }
    };
    (acker, task)
}

/// A second route for topics that are not readings (the dispatch stage's acknowledgements and
/// station status): messages matching `filters` go to `tx` instead of the reading queue. The
/// filters are subscribed with the reading filters on every connection.
#[derive(Debug, Clone)]
pub struct ControlRoute {
    /// MQTT subscription filters (`+` and `#` wildcards).
    pub filters: Vec<String>,
    /// The queue of their messages.
    pub tx: mpsc::Sender<Message>,
}

/// Whether an MQTT topic matches a subscription filter (`+` one level, `#` the rest).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match (f, t.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(level)) if f == level => {}
            _ => return false,
        }
    }
    t.next().is_none()
}

/// The task that owns the rumqttc `EventLoop` (one per client): it never blocks on anything but
/// a full reading queue for a QoS 1 message (the broker's window bounds those).
pub struct EventLoopTask {
    /// The event loop of [`connect`].
    pub eventloop: EventLoop,
    /// Its client (subscriptions on every connection).
    pub client: AsyncClient,
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
    /// Metrics.
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
    client: AsyncClient,
    settings: MqttSettings,
    readings: mpsc::Sender<Message>,
    control: Option<ControlRoute>,
    state: Arc<ConnState>,
    sequencer: AckSequencer,
    metrics: IngestMetrics,
}

impl Edge {
    async fn run(&self, eventloop: &mut EventLoop, stop: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.reconnect_min, self.settings.reconnect_max);
        let filters = self.filters();
        let mut last_error_log = 0i64;
        loop {
            let event = tokio::select! {
                ev = eventloop.poll() => ev,
                _ = stop.cancelled(), if !self.state.connected.load(Ordering::Acquire) => break,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff.reset();
                    self.connected(ack.session_present, &filters);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if !self.forward(p).await {
                        break;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    tracing::info!(event = "mqtt_disconnected", "clean disconnect");
                    break;
                }
                Ok(Event::Incoming(Packet::Disconnect(d))) => {
                    tracing::warn!(event = "mqtt_server_disconnect", reason = ?d.reason_code);
                }
                Ok(_) => {}
                Err(e) => {
                    self.state.connected.store(false, Ordering::Release);
                    self.metrics.mqtt_connected.set(0);
                    if stop.is_cancelled() {
                        break;
                    }
                    let delay = backoff.next_delay();
                    let now = crate::now_ms();
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
    /// handling 2): a retained alarm is an old alarm, and a replay on every reconnect would let
    /// anyone who can publish one retained message raise it again and again.
    fn filters(&self) -> Vec<Filter> {
        let control = self.control.as_ref().map_or(&[][..], |c| c.filters.as_slice());
        self.settings
            .subscriptions
            .iter()
            .chain(control)
            .map(|f| {
                let mut filter = Filter::new(f.clone(), QoS::AtLeastOnce);
                filter.retain_forward_rule = RetainForwardRule::Never;
                filter
            })
            .collect()
    }

    /// A ConnAck: a new connection generation (and ack sequence), then the subscriptions.
    fn connected(&self, session_present: bool, filters: &[Filter]) {
        let generation = self.state.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.sequencer.connected(generation);
        self.state.connected.store(true, Ordering::Release);
        self.metrics.mqtt_connected.set(1);
        self.metrics.mqtt_connections.inc();
        let s = &self.settings;
        tracing::info!(event = "mqtt_connected", generation, session_present, host = %s.host, port = s.port);
        if self.client.try_subscribe_many(filters.to_vec()).is_err() {
            tracing::error!(event = "mqtt_subscribe_failed", "request queue full or closed");
        }
    }

    /// Hands one message to its queue; false when the queue is closed for good (shutdown).
    async fn forward(&self, p: Publish) -> bool {
        // Every QoS 1 message takes its place in the ack order as it arrives.
        let ack = (p.qos != QoS::AtMostOnce)
            .then(|| self.sequencer.arrive(self.state.generation.load(Ordering::Acquire), p.pkid, p.topic.clone()));
        let msg = Message { topic: p.topic, payload: p.payload, ack, received_at_ms: crate::now_ms() };
        let to_control = self
            .control
            .as_ref()
            .filter(|c| std::str::from_utf8(&msg.topic).is_ok_and(|t| c.filters.iter().any(|f| filter_matches(f, t))));
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

#[cfg(test)]
mod tests {
    use super::filter_matches;

    #[test]
    fn subscription_filters_match_topics_level_by_level() {
        assert!(filter_matches("firegrid/v1/ack/+", "firegrid/v1/ack/ms-1"));
        assert!(!filter_matches("firegrid/v1/ack/+", "firegrid/v1/ack/grid/g-1"));
        assert!(filter_matches("firegrid/v1/ack/grid/+", "firegrid/v1/ack/grid/g-1"));
        assert!(!filter_matches("firegrid/v1/+/+/+/+", "firegrid/v1/ack/ms-1"));
        assert!(filter_matches("firegrid/#", "firegrid/v1/status/ms-1"));
        assert!(!filter_matches("firegrid/v1/status/+", "firegrid/v1/status"));
    }
}
