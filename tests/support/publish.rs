//! Publishing test traffic to a broker with QoS 1 and returning only once the broker acknowledged
//! every message: all at once or paced at a rate over MQTT 5, or all at once over MQTT 3.1.1 (the
//! embedded broker's public listener). Each wait is bounded.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

/// How long the broker may take to acknowledge everything published at once.
const ALL_BOUND: Duration = Duration::from_secs(120);
/// … and everything published at a pace.
const PACED_BOUND: Duration = Duration::from_secs(300);
/// How long the DISCONNECT may take to go out.
const DISCONNECT_BOUND: Duration = Duration::from_millis(500);

/// Publishes every message with QoS 1 and returns once the broker acknowledged them all.
pub async fn publish_all(broker_port: u16, client_id: &str, messages: Vec<(String, Vec<u8>)>) -> Result<()> {
    publish_v5(broker_port, client_id, messages, None, ALL_BOUND).await
}

/// Publishes every message with QoS 1 at about `rate` messages per second (paced in 10 ms
/// steps, catching up when late) and returns once the broker acknowledged them all.
pub async fn publish_paced(
    broker_port: u16,
    client_id: &str,
    messages: Vec<(String, Vec<u8>)>,
    rate: u32,
) -> Result<()> {
    publish_v5(broker_port, client_id, messages, Some(rate), PACED_BOUND).await
}

async fn publish_v5(
    broker_port: u16,
    client_id: &str,
    messages: Vec<(String, Vec<u8>)>,
    rate: Option<u32>,
    bound: Duration,
) -> Result<()> {
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", broker_port);
    opts.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(Some(1 << 20));
    let (client, mut el) = AsyncClient::new(opts, 1000);
    let n = messages.len();
    let publisher = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (i, (t, p)) in messages.into_iter().enumerate() {
            if let Some(rate) = rate {
                let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
                if due > tokio::time::Instant::now() + Duration::from_millis(10) {
                    tokio::time::sleep_until(due).await;
                }
            }
            client.publish(t, QoS::AtLeastOnce, false, p).await.context("publish")?;
        }
        anyhow::Ok(client)
    });
    let mut acked = 0usize;
    let deadline = tokio::time::Instant::now() + bound;
    while acked < n {
        let polled = tokio::time::timeout_at(deadline, el.poll()).await;
        match polled.with_context(|| format!("{acked} of {n} publishes acknowledged within {bound:?}"))? {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => bail!("publisher connection failed after {acked}/{n} acks: {e}"),
        }
    }
    let client = publisher.await??;
    client.disconnect().await.ok();
    let _ = tokio::time::timeout(DISCONNECT_BOUND, el.poll()).await;
    Ok(())
}

/// Publishes every message with QoS 1 over MQTT 3.1.1 (the embedded broker's public listener)
/// and returns once the broker acknowledged them all.
pub async fn publish_all_v311(broker_port: u16, client_id: &str, messages: Vec<(String, Vec<u8>)>) -> Result<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", broker_port);
    opts.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 1000);
    let n = messages.len();
    let publisher = tokio::spawn(async move {
        for (t, p) in messages {
            client.publish(t, QoS::AtLeastOnce, false, p).await.context("publish")?;
        }
        anyhow::Ok(client)
    });
    let mut acked = 0usize;
    let deadline = tokio::time::Instant::now() + ALL_BOUND;
    while acked < n {
        match tokio::time::timeout_at(deadline, el.poll()).await.context("publishing timed out")? {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => bail!("publisher connection failed after {acked}/{n} acks: {e}"),
        }
    }
    let client = publisher.await??;
    client.disconnect().await.ok();
    let _ = tokio::time::timeout(DISCONNECT_BOUND, el.poll()).await;
    Ok(())
}
