//! Listening to the dispatch topics while a run plays: a QoS 1 subscriber to
//! `{prefix}/dispatch/#` that stamps each dispatch message with the time it arrived, counts what
//! is not a dispatch message, and reconnects (its session is clean: what was sent while it was
//! away is lost, and the evaluation then says fewer rounds were seen).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use firegrid_ingest::backoff::Backoff;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::eval::observed::ObservedDispatch;

/// Why listening could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The subscription was refused or never granted.
    #[error("MQTT {addr}: {detail}")]
    Mqtt {
        /// `host:port` of the broker.
        addr: String,
        /// What went wrong.
        detail: String,
    },
}

/// A subscriber to the dispatch topics, collecting what arrives until [`DispatchListener::finish`].
#[derive(Debug)]
pub struct DispatchListener {
    client: AsyncClient,
    seen: Arc<Mutex<Collected>>,
    task: JoinHandle<()>,
}

/// What a listener collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// The messages, in arrival order.
    pub dispatches: Vec<ObservedDispatch>,
    /// Messages on the dispatch topics that were not dispatch messages.
    pub undecodable: u64,
}

/// First pause before polling again after the connection failed …
const RECONNECT_MIN: Duration = Duration::from_millis(200);
/// … doubling up to this.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

impl DispatchListener {
    /// Connects and subscribes to `{prefix}/dispatch/#`; returns once the broker granted the
    /// subscription (so nothing published afterwards is missed), or fails after `timeout`.
    pub async fn start(
        host: &str,
        port: u16,
        prefix: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<DispatchListener, ListenError> {
        let refused = |detail: String| ListenError::Mqtt { addr: format!("{host}:{port}"), detail };
        let mut opts = MqttOptions::new(client_id, host, port);
        opts.set_keep_alive(Duration::from_secs(30)).set_clean_session(true).set_max_packet_size(1 << 20, 1 << 20);
        let (client, eventloop) = AsyncClient::new(opts, 64);
        let topic = format!("{}/dispatch/#", prefix.trim_end_matches('/'));
        client.subscribe(&topic, QoS::AtLeastOnce).await.map_err(|e| refused(e.to_string()))?;
        let seen: Arc<Mutex<Collected>> = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let task = tokio::spawn(pump(eventloop, ready_tx, seen.clone()));
        match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(DispatchListener { client, seen, task }),
            Ok(Ok(Err(e))) => {
                task.abort();
                Err(refused(e))
            }
            _ => {
                task.abort();
                Err(refused(format!("no subscription granted in {timeout:?}")))
            }
        }
    }

    /// How many dispatch messages have arrived so far.
    pub fn count(&self) -> usize {
        self.seen.lock().map_or(0, |c| c.dispatches.len())
    }

    /// The messages that arrived so far.
    pub fn snapshot(&self) -> Vec<ObservedDispatch> {
        self.seen.lock().map(|c| c.dispatches.clone()).unwrap_or_default()
    }

    /// Disconnects and returns what arrived.
    pub async fn finish(self) -> Collected {
        let DispatchListener { client, seen, mut task } = self;
        let _ = client.disconnect().await;
        if tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err() {
            // What it collected is in `seen` already; the task holds nothing else.
            tracing::debug!(event = "dispatch_listener_slow_stop", "the dispatch listener did not stop in 2 s");
            task.abort();
        }
        seen.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Polls the connection: reports the SUBACK (or the first failure) on `ready`, then records
/// every dispatch message with its arrival time until the disconnect goes out.
async fn pump(mut eventloop: EventLoop, ready: oneshot::Sender<Result<(), String>>, seen: Arc<Mutex<Collected>>) {
    let mut ready = Some(ready);
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => backoff.reset(),
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let at = firegrid_ingest::clock::now_ms();
                let decoded = serde_json::from_slice::<ObservedDispatch>(&p.payload);
                if let Ok(mut c) = seen.lock() {
                    match decoded {
                        Ok(d) => c.dispatches.push(ObservedDispatch { received_at_ms: at, ..d }),
                        Err(_) => c.undecodable += 1,
                    }
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Err(e.to_string()));
                    break;
                }
                let delay = backoff.next_delay();
                tracing::warn!(
                    event = "dispatch_listener_reconnecting",
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "connection lost, reconnecting"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}
