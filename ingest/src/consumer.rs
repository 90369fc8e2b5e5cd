//! The MQTT edge (DESIGN §8): one task owns the rumqttc v5 `EventLoop`, reconnects with capped
//! backoff forever, resubscribes on every connection, and forwards QoS 1 messages into a
//! bounded queue. MQTT 5 with a persistent session (fixed client id, clean start off, session
//! expiry) and a large Receive Maximum lets acknowledgements follow the store's writes without
//! capping throughput at the broker's in-flight window.
//!
//! The queue holds at most the broker's window (Receive Maximum) of unacknowledged messages,
//! so in normal operation it never fills; if a broker ignores the window, the loop waits for
//! room (counted in `firegrid_ingest_queue_full_total`) rather than drop a message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::AckToken;
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

/// What goes back to the broker: acks, dead letters, the final disconnect.
#[derive(Debug)]
enum Outbound {
    Ack(AckToken),
    Publish { topic: String, payload: Vec<u8>, deadletter: bool },
    Disconnect,
}

/// Queues acks and publishes for the outbound task, without ever waiting.
///
/// The writer and the pipeline must never block on the MQTT client: if they did, a broker that
/// sends past the window could fill the ingest queue, block the event loop, and leave the acks
/// that would free it stuck behind it. The queue is unbounded in type but bounded in fact:
/// every entry belongs to a message firegrid holds unacknowledged (an ack, or the dead letter
/// of a refused message), and those are bounded by the broker's window and the ingest queue.
#[derive(Debug, Clone)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Outbound>,
}

impl Acker {
    /// Acknowledges one message (skipped if its connection is gone: the broker redelivers it).
    pub fn ack(&self, token: AckToken) {
        let _ = self.tx.send(Outbound::Ack(token));
    }

    /// Publishes a QoS 1 dead letter, in order with the acks (counted in the dead-letter metric).
    pub fn publish(&self, topic: String, payload: Vec<u8>) {
        let _ = self.tx.send(Outbound::Publish { topic, payload, deadletter: true });
    }

    /// Publishes a QoS 1 message that is not a dead letter (dispatch notifications), in order.
    pub fn publish_message(&self, topic: String, payload: Vec<u8>) {
        let _ = self.tx.send(Outbound::Publish { topic, payload, deadletter: false });
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
    let task = async move {
        while let Some(o) = rx.recv().await {
            let sent = match o {
                Outbound::Ack(token) => {
                    if token.generation != state.generation.load(Ordering::Acquire) {
                        metrics.stale_acks.inc();
                        continue;
                    }
                    let mut p = Publish::new("", QoS::AtLeastOnce, Bytes::new(), None);
                    p.pkid = token.pkid;
                    client.ack(&p).await
                }
                Outbound::Publish { topic, payload, deadletter } => {
                    let r = client.publish(topic, QoS::AtLeastOnce, false, payload).await;
                    if r.is_ok() && deadletter {
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
    (Acker { tx }, task)
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

/// Runs the event loop until `stop` is cancelled and the disconnect went out (or the
/// connection is down at that point). Messages on `control` filters (acks and status of the
/// dispatch stage) go to that route instead of the reading queue.
#[allow(clippy::too_many_arguments)]
pub async fn run_event_loop(
    mut eventloop: EventLoop,
    client: AsyncClient,
    settings: MqttSettings,
    tx: mpsc::Sender<Message>,
    control: Option<ControlRoute>,
    state: Arc<ConnState>,
    metrics: IngestMetrics,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(settings.reconnect_min, settings.reconnect_max);
    let control_filters = control.as_ref().map_or(&[][..], |c| c.filters.as_slice());
    let filters: Vec<Filter> = settings
        .subscriptions
        .iter()
        .chain(control_filters)
        .map(|f| Filter::new(f.clone(), QoS::AtLeastOnce))
        .collect();
    let mut last_error_log = 0i64;
    loop {
        let event = tokio::select! {
            ev = eventloop.poll() => ev,
            _ = stop.cancelled(), if !state.connected.load(Ordering::Acquire) => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                let generation = state.generation.fetch_add(1, Ordering::AcqRel) + 1;
                state.connected.store(true, Ordering::Release);
                metrics.mqtt_connected.set(1);
                metrics.mqtt_connections.inc();
                backoff.reset();
                tracing::info!(event = "mqtt_connected", generation, session_present = ack.session_present, host = %settings.host, port = settings.port);
                if client.try_subscribe_many(filters.clone()).is_err() {
                    tracing::error!(event = "mqtt_subscribe_failed", "request queue full or closed");
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let ack = (p.qos != QoS::AtMostOnce).then(|| AckToken {
                    generation: state.generation.load(Ordering::Acquire),
                    pkid: p.pkid,
                    topic: p.topic.clone(),
                });
                let msg = Message { topic: p.topic, payload: p.payload, ack, received_at_ms: crate::now_ms() };
                let to_control = control.as_ref().filter(|c| {
                    std::str::from_utf8(&msg.topic).is_ok_and(|t| c.filters.iter().any(|f| filter_matches(f, t)))
                });
                let tx = to_control.map_or(&tx, |c| &c.tx);
                match tx.try_send(msg) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(msg)) => {
                        metrics.ingest_queue_full.inc();
                        if tx.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        // The pipeline has stopped (shutdown): the message stays unacknowledged
                        // and the broker redelivers it to the next session.
                    }
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
                state.connected.store(false, Ordering::Release);
                metrics.mqtt_connected.set(0);
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
    state.connected.store(false, Ordering::Release);
    metrics.mqtt_connected.set(0);
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
