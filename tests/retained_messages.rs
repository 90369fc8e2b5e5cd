//! firegrid subscribes with MQTT 5 retain handling 2: a retained message on a reading topic — an
//! old alarm, or one planted to be replayed on every reconnect — is never delivered to it. Over
//! MQTT 3.1.1, which cannot ask for that, the replayed message is acknowledged and dropped unread.

mod support;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use support::fleet;
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

/// Publishes one retained QoS 1 message and waits for the broker's acknowledgement.
async fn publish_retained(port: u16, topic: &str, payload: &[u8]) -> Result<()> {
    let (client, mut el) = AsyncClient::new(MqttOptions::new("retainer", "127.0.0.1", port), 10);
    client.publish(topic, QoS::AtLeastOnce, true, payload.to_vec()).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), el.poll()).await.context("retained publish")? {
            Ok(Event::Incoming(Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => bail!("retained publish: {e}"),
        }
    }
    client.disconnect().await.ok();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_alarm_is_never_delivered_to_firegrid() -> Result<()> {
    retained_alarm_never_evaluated("5").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mqtt_3_1_1_a_retained_alarm_is_never_evaluated() -> Result<()> {
    retained_alarm_never_evaluated("3.1.1").await
}

/// The body of both tests; `protocol` is `mqtt.protocol`.
async fn retained_alarm_never_evaluated(protocol: &str) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(10);
        let smoke: Vec<_> = devices.iter().filter(|d| d.kind == "smoke" && d.registered).collect();
        ensure!(smoke.len() >= 2, "two registered smoke detectors");
        let alarm = br#"{"seq":1,"status":"alarm","values":{"obscuration_db_m":0.5,"alarm":true}}"#;
        publish_retained(mqtt.port(), &fleet::topic(smoke[0]), alarm).await?;

        let reg = fleet::write_registry(dir.path(), &devices)?;
        let mut c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-retained");
        c.mqtt.protocol = protocol.into();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let addr = running.http_addr;
        // A marker published after the subscription: once it is stored, a retained message would
        // have arrived before it.
        support::eventually(Duration::from_secs(10), || async {
            Ok(reqwest::get(format!("http://{addr}/readyz")).await?.status().is_success().then_some(()))
        })
        .await?;
        let marker = fleet::payload(smoke[1], 7, firegrid_ingest::now_ms());
        support::publish::publish_all(mqtt.port(), "marker", vec![(fleet::topic(smoke[1]), marker.into_bytes())])
            .await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok(fleet::stored_pairs(&vm).await?.contains(&(smoke[1].id.clone(), 7)).then_some(()))
        })
        .await?;
        let received =
            support::api::metric(&format!("http://{addr}"), "firegrid_messages_received_total{kind=\"smoke\"}").await?;
        ensure!(received == 1.0, "firegrid received {received} smoke messages: the retained alarm was replayed");
        shutdown.cancel();
        running.wait().await?;
        Ok(())
    })
    .await?
}
