//! A counting MQTT publisher (rumqttc, MQTT 3.1.1) shared by the load generator and the
//! scenario runner: it drives the event loop in a task, counts what was written (QoS 0) or
//! acknowledged (QoS 1) and connection errors, and on finish waits for the outstanding
//! messages before disconnecting.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firegrid_ingest::backoff::Backoff;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::SimError;

/// Splits `mqtt://host:port` (also `tcp://`, or bare `host:port`; port 1883 by default).
pub fn parse_url(url: &str) -> Result<(String, u16), SimError> {
    let bad = || SimError::MqttUrl(url.to_owned());
    let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).unwrap_or(url);
    if rest.is_empty() || rest.contains("://") || rest.contains('/') {
        return Err(bad());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse().map_err(|_| bad())?),
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// QoS 0 or 1.
pub(crate) fn qos(level: u8) -> Result<QoS, SimError> {
    match level {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        _ => Err(SimError::InvalidSpec(format!("qos must be 0 or 1, not {level}"))),
    }
}

/// Where and how to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MqttTarget {
    /// Broker host.
    pub(crate) host: String,
    /// Broker port.
    pub(crate) port: u16,
    /// Client id.
    pub(crate) client_id: String,
    /// QoS level, 0 or 1.
    pub(crate) qos: u8,
    /// Most unacknowledged QoS 1 publishes in flight.
    pub(crate) inflight: u16,
    /// Username and password, for a broker that wants them (the demo's embedded broker).
    pub(crate) credentials: Option<(String, firegrid_ingest::config::Secret)>,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    connected: AtomicBool,
    stopping: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// Polls the connection, counting CONNACKs, writes and PUBACKs, until the disconnect goes out
/// (or, once stopping, the connection fails); a failure before that is counted and retried after
/// the shared backoff.
async fn drive(mut eventloop: EventLoop, c: Arc<Counters>) {
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                c.connected.store(true, Ordering::Release);
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                c.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                c.written.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => {
                c.connected.store(false, Ordering::Release);
                if c.stopping.load(Ordering::Acquire) {
                    break;
                }
                c.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = c.last_error.lock() {
                    *last = Some(e.to_string());
                }
                let delay = backoff.next_delay();
                tracing::warn!(
                    event = "publisher_connection_error",
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "reconnecting"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// First pause before polling again after the connection failed …
const RECONNECT_MIN: Duration = Duration::from_millis(250);
/// … doubling up to this.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A connected publisher.
#[derive(Debug)]
pub(crate) struct Publisher {
    client: AsyncClient,
    qos: QoS,
    queued: u64,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

/// What a publisher delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PublishStats {
    /// Publishes handed to the client.
    pub(crate) queued: u64,
    /// Publishes written to the socket (QoS 0) or acknowledged by the broker (QoS 1).
    pub(crate) delivered: u64,
    /// Connection errors, plus publishes not delivered by the end.
    pub(crate) errors: u64,
    /// When the last delivery was seen (or the wait for it gave up), before disconnecting.
    pub(crate) drained_at: Instant,
}

impl Publisher {
    /// Connects and waits (up to `timeout`) for the broker's CONNACK; fails at once when the
    /// first attempt fails (no broker there, refused).
    pub(crate) async fn connect(target: &MqttTarget, timeout: Duration) -> Result<Publisher, SimError> {
        let qos = qos(target.qos)?;
        let mut opts = MqttOptions::new(&target.client_id, &target.host, target.port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_inflight(target.inflight.max(1))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_request_channel_capacity(4096);
        if let Some((user, password)) = &target.credentials {
            opts.set_credentials(user, &password.0);
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 4096);
        // No Nagle delay: a lone publish (a paced load, the last of a batch) goes out at once.
        let mut net = eventloop.network_options();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(drive(eventloop, counters.clone()));
        let deadline = Instant::now() + timeout;
        while !counters.connected.load(Ordering::Acquire) {
            let failed = counters.last_error.lock().ok().and_then(|e| e.clone());
            if let Some(e) = failed {
                counters.stopping.store(true, Ordering::Release);
                task.abort();
                return Err(SimError::Mqtt(format!("cannot connect to {}:{}: {e}", target.host, target.port)));
            }
            if Instant::now() >= deadline {
                counters.stopping.store(true, Ordering::Release);
                task.abort();
                return Err(SimError::Mqtt(format!(
                    "no CONNACK from {}:{} within {timeout:?}",
                    target.host, target.port
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Publisher { client, qos, queued: 0, counters, task })
    }

    /// Queues one publish; waits when the client's queue is full (backpressure).
    pub(crate) async fn publish(&mut self, topic: String, payload: Vec<u8>) -> Result<(), SimError> {
        self.client.publish(topic, self.qos, false, payload).await.map_err(|e| SimError::Mqtt(e.to_string()))?;
        self.queued += 1;
        Ok(())
    }

    /// Publishes delivered so far (written for QoS 0, acknowledged for QoS 1).
    pub(crate) fn delivered(&self) -> u64 {
        match self.qos {
            QoS::AtMostOnce => self.counters.written.load(Ordering::Relaxed),
            _ => self.counters.acked.load(Ordering::Relaxed),
        }
    }

    /// Connection errors so far.
    pub(crate) fn errors(&self) -> u64 {
        self.counters.errors.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every queued publish to be delivered, then disconnects.
    pub(crate) async fn finish(self, timeout: Duration) -> PublishStats {
        let deadline = Instant::now() + timeout;
        while self.delivered() < self.queued && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let drained_at = Instant::now();
        let delivered = self.delivered().min(self.queued);
        let stats = PublishStats {
            queued: self.queued,
            delivered,
            errors: self.errors() + (self.queued - delivered),
            drained_at,
        };
        self.counters.stopping.store(true, Ordering::Release);
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        } else {
            self.task.abort();
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_urls_split_into_host_and_port() {
        assert_eq!(parse_url("mqtt://127.0.0.1:1883").expect("ok"), ("127.0.0.1".into(), 1883));
        assert_eq!(parse_url("tcp://localhost:11883").expect("ok"), ("localhost".into(), 11883));
        assert_eq!(parse_url("127.0.0.1").expect("ok"), ("127.0.0.1".into(), 1883));
        assert_eq!(parse_url("mqtt://[::1]:1884").expect("ok"), ("::1".into(), 1884));
        for bad in ["", "http://x:1", "mqtt://:1883", "mqtt://h:port", "mqtt://h:1883/x"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(qos(2).is_err());
    }
}
