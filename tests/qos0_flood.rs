//! A flood of malformed QoS 0 messages leaves firegrid's memory flat: nothing bounds QoS 0 by a
//! window, so the ingest queue drops what it cannot take (counted) and the dead letters of QoS 0
//! messages are held to a budget. Real binary, real mosquitto and VictoriaMetrics.

mod support;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use support::fleet;
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

const FLOOD: usize = 200_000;

/// Publishes `n` malformed QoS 0 messages as fast as the connection takes them.
async fn flood(port: u16, n: usize) -> Result<()> {
    let mut opts = MqttOptions::new("qos0-flood", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(opts, 10_000);
    let publisher = tokio::spawn(async move {
        for i in 0..n {
            let topic = format!("firegrid/v1/500112/500112100/smoke/flood-{}", i % 1000);
            client.publish(topic, QoS::AtMostOnce, false, b"{not json".to_vec()).await.context("publish")?;
        }
        client.disconnect().await.context("disconnect")?;
        anyhow::Ok(())
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline, el.poll()).await.context("flood timed out")? {
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(Event::Incoming(Packet::Disconnect(_))) => bail!("the broker disconnected the flood"),
            Ok(_) => {}
            Err(e) => bail!("flood connection failed: {e}"),
        }
    }
    publisher.await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_malformed_qos0_messages_leaves_memory_flat_and_intake_alive() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let devices = fleet::devices(100);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-qos0-flood");
        let config = dir.path().join("firegrid.toml");
        std::fs::write(&config, toml::to_string(&c)?)?;
        let fg = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;

        // Warm up (connections, buffers, first batches), then take the baseline.
        let warm: Vec<_> = devices
            .iter()
            .map(|d| (fleet::topic(d), fleet::payload(d, 1, firegrid_ingest::clock::now_ms()).into_bytes()))
            .collect();
        support::publish::publish_all(mqtt.port(), "warm-up", warm).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((fleet::stored_pairs(&vm).await?.len() == devices.len()).then_some(()))
        })
        .await?;
        let (baseline, _) = fg.rss_kib()?;

        flood(mqtt.port(), FLOOD).await?;
        // Every flood message was refused or dropped, and each is counted one way or the other.
        support::eventually(Duration::from_secs(60), || async {
            let refused = fg.metric("firegrid_messages_rejected_total{reason=\"not_json\"}").await?;
            let dropped = fg.metric("firegrid_mqtt_qos0_dropped_total").await?;
            Ok((refused + dropped >= FLOOD as f64 * 0.9).then_some((refused, dropped)))
        })
        .await
        .with_context(|| format!("firegrid did not take the flood in; log:\n{}", fg.log_tail()))?;
        let (_, peak) = fg.rss_kib()?;
        let growth_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
        println!("qos0 flood: baseline {baseline} KiB, peak {peak} KiB, growth {growth_mib:.1} MiB");
        ensure!(
            growth_mib < 30.0,
            "RSS grew by {growth_mib:.1} MiB under the flood (baseline {baseline} KiB, peak {peak} KiB)"
        );

        // Intake is alive: QoS 1 readings after the flood are stored.
        let after: Vec<_> = devices
            .iter()
            .map(|d| (fleet::topic(d), fleet::payload(d, 2, firegrid_ingest::clock::now_ms()).into_bytes()))
            .collect();
        support::publish::publish_all(mqtt.port(), "after-flood", after).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((fleet::stored_pairs(&vm).await?.len() == 2 * devices.len()).then_some(()))
        })
        .await?;
        Ok(())
    })
    .await?
}
