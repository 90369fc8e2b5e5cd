//! MQTT delivery: `{prefix}/dispatch/{station_id}` and, for grid managers,
//! `{prefix}/dispatch/grid/{grid_id}`, QoS 1. Dispatches go out on their own connection
//! ([`MqttPublisher`], client id `{client_id}-dispatch`, same broker, credentials and TLS as the
//! consumer), so a fire's notification never queues behind the consumer's stream of
//! acknowledgements under load. A row counts as delivered once the client has taken it: rumqttc
//! keeps unacknowledged QoS 1 publishes and sends them again after a reconnect.

use std::time::Duration;

use firegrid_ingest::config::MqttSettings;
use firegrid_ingest::consumer::{self, Acker, ConsumerError};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, EventLoop};
use tokio_util::sync::CancellationToken;

/// Publishes queued in the dispatch client before `publish` refuses (the row is then retried).
const QUEUE: usize = 4096;

/// A way to publish QoS 1 messages without waiting.
pub trait Publish: Send + Sync + 'static {
    /// Hands one message to the client (QoS 1, in order); an error means it was not taken.
    fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), String>;
}

impl Publish for Acker {
    fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), String> {
        self.publish_message(topic, payload);
        Ok(())
    }
}

/// The dispatch stage's own MQTT client.
#[derive(Debug, Clone)]
pub struct MqttPublisher {
    client: AsyncClient,
}

impl Publish for MqttPublisher {
    fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), String> {
        self.client.try_publish(topic, QoS::AtLeastOnce, false, payload).map_err(|e| e.to_string())
    }
}

impl MqttPublisher {
    /// A client for the consumer's broker under `{client_id}-dispatch`, and its connection task
    /// (reconnects with the consumer's backoff until `stop`).
    pub fn connect(
        settings: &MqttSettings,
        stop: CancellationToken,
    ) -> Result<(MqttPublisher, impl std::future::Future<Output = ()> + Send), ConsumerError> {
        let mut s = settings.clone();
        s.client_id = format!("{}-dispatch", settings.client_id);
        let (client, eventloop) = AsyncClient::new(consumer::options(&s)?, QUEUE);
        let task = drive(eventloop, client.clone(), s.reconnect_min, s.reconnect_max, stop);
        Ok((MqttPublisher { client }, task))
    }
}

async fn drive(mut el: EventLoop, client: AsyncClient, min: Duration, max: Duration, stop: CancellationToken) {
    let mut delay = min;
    loop {
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(_))) => {
                    delay = min;
                    tracing::info!(event = "dispatch_mqtt_connected");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(event = "dispatch_mqtt_error", error = %e, retry_in_ms = delay.as_millis() as u64);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => return,
                    }
                    delay = (delay * 2).min(max);
                }
            },
            () = stop.cancelled() => {
                let _ = client.try_disconnect();
                // Let what is queued and the disconnect go out, briefly.
                let _ = tokio::time::timeout(Duration::from_millis(500), async {
                    while let Ok(ev) = el.poll().await {
                        if matches!(ev, rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                            break;
                        }
                    }
                })
                .await;
                return;
            }
        }
    }
}

/// The dispatch topic of an outbox target (a station id, or `grid:{grid_id}`).
pub fn dispatch_topic(prefix: &str, target: &str) -> String {
    match target.strip_prefix("grid:") {
        Some(grid) => format!("{prefix}/dispatch/grid/{grid}"),
        None => format!("{prefix}/dispatch/{target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stations_and_grids_have_their_own_dispatch_topics() {
        assert_eq!(dispatch_topic("firegrid/v1", "ms-1"), "firegrid/v1/dispatch/ms-1");
        assert_eq!(dispatch_topic("firegrid/v1", "grid:g-1"), "firegrid/v1/dispatch/grid/g-1");
    }
}
