//! The MQTT event loop keeps its connection alive while the pipeline cannot take more (issue 14):
//! mosquitto 2.0.11 sends an MQTT 5 client past its Receive Maximum once acks come in order
//! (docs/guarantees.md "Memory"), so with the store hung the reading queue fills while the broker
//! still has messages in flight to firegrid. The task that owns rumqttc's `EventLoop` must keep
//! polling it — holding what arrives in its bounded overflow — or no PINGREQ and no PUBACK goes
//! out, the broker drops the silent client after 1.5 keep-alives, and every message received
//! but not acknowledged is delivered again. Real mosquitto, VictoriaMetrics (hung with SIGSTOP)
//! and the firegrid binary.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet;
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

const DEVICES: usize = 100;
const PER_DEVICE: u64 = 200;
const KEEP_ALIVE_SECONDS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_sending_past_the_window_while_the_store_hangs_keeps_the_connection_and_redelivers_nothing(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let devices = fleet::devices(DEVICES);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let mut c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-overshoot");
        // A small window (and so a small reading queue) and the shortest keep-alive rumqttc allows.
        c.mqtt.receive_maximum = 100;
        c.mqtt.keep_alive_seconds = KEEP_ALIVE_SECONDS;
        // A write waits for the hung store instead of going to the spool: the pipeline stands still.
        c.store.influxdb.timeout_ms = 60_000;
        let config = dir.path().join("firegrid.toml");
        std::fs::write(&config, toml::to_string(&c)?)?;
        let fg = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        let base = format!("http://127.0.0.1:{}", fg.http_port);
        let received = || support::api::metric_sum(&base, "firegrid_messages_received_total", &[]);

        let ts0 = firegrid_ingest::clock::now_ms() - 3_600_000;
        let mut readings = Vec::new();
        for seq in 1..=PER_DEVICE {
            for d in &devices {
                readings.push((fleet::topic(d), fleet::payload(d, seq, ts0 + (seq as i64) * 3).into_bytes()));
            }
        }
        let total = readings.len();
        let publisher = tokio::spawn(support::publish::publish_all(mqtt.port(), "overshoot-load", readings));
        // Acks flow for a while (each in-order ack lets mosquitto release up to a window more),
        // then the store hangs with most of the backlog already sent towards firegrid.
        support::eventually(Duration::from_secs(30), || async { Ok((received().await? >= 1500.0).then_some(())) })
            .await
            .context("the drain started")?;
        let vm_pid = vm.pid().context("VictoriaMetrics is running")?;
        support::process::signal(vm_pid, "STOP")?;
        publisher.await??;
        // The queue filled while the broker kept sending: this is the case under test.
        support::eventually(Duration::from_secs(15), || async {
            Ok((fg.metric("firegrid_ingest_queue_full_total").await? > 0.0).then_some(()))
        })
        .await
        .context("the broker never sent past the reading queue")?;
        // Hung for three keep-alives: mosquitto drops a client silent for 1.5 of them.
        tokio::time::sleep(Duration::from_secs(3 * KEEP_ALIVE_SECONDS)).await;
        support::process::signal(vm_pid, "CONT")?;

        let want: BTreeSet<(String, u64)> =
            devices.iter().flat_map(|d| (1..=PER_DEVICE).map(move |s| (d.id.clone(), s))).collect();
        support::eventually(Duration::from_secs(60), || async {
            Ok((fleet::stored_pairs(&vm).await? == want).then_some(()))
        })
        .await
        .context("every reading stored")?;
        let connections = fg.metric("firegrid_mqtt_connections_total").await?;
        let got = received().await?;
        let log = fg.log_text()?;
        ensure!(
            connections == 1.0 && !log.contains("mqtt_connection_error"),
            "the connection dropped while the store hung ({connections} connections):\n{}",
            fg.log_tail()
        );
        ensure!(got == total as f64, "{got} messages received for {total} published: redeliveries");
        Ok(())
    })
    .await?
}
