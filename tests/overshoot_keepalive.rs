//! The MQTT event loop keeps its connection alive while the pipeline is slower than the broker
//! (issue 14): mosquitto 2.0.11 sends an MQTT 5 client past its Receive Maximum once acks come in
//! order (docs/guarantees.md "Memory"), so the reading queue fills while the broker still has
//! messages in flight to firegrid, and the broker's PINGRESP waits behind them. The task that owns
//! rumqttc's `EventLoop` must keep polling it — holding what arrives in its bounded overflow — or
//! no PINGREQ and no PUBACK goes out and the broker drops the silent client; and a ping whose
//! answer is queued behind messages still arriving must not count as a dead connection. Either
//! drop makes the broker deliver again every message received but not acknowledged. Real
//! mosquitto, VictoriaMetrics and the firegrid binary.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

const KEEP_ALIVE_SECONDS: u64 = 5;

/// A broker, a store and firegrid with a short keep-alive, and a fleet to publish for.
struct Drain {
    _dir: tempfile::TempDir,
    mqtt: Mosquitto,
    vm: VictoriaMetrics,
    devices: Vec<TestDevice>,
    fg: Firegrid,
}

impl Drain {
    /// Starts everything; `change` adjusts firegrid's config (keep-alive already 5 s).
    async fn start(devices: usize, change: impl FnOnce(&mut firegrid::Config)) -> Result<Drain> {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let devices = fleet::devices(devices);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let mut c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-overshoot");
        // The shortest keep-alive rumqttc allows.
        c.mqtt.keep_alive_seconds = KEEP_ALIVE_SECONDS;
        change(&mut c);
        let config = dir.path().join("firegrid.toml");
        std::fs::write(&config, toml::to_string(&c)?)?;
        let fg = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        Ok(Drain { _dir: dir, mqtt, vm, devices, fg })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.fg.http_port)
    }

    async fn received(&self) -> Result<f64> {
        support::api::metric_sum(&self.base(), "firegrid_messages_received_total", &[]).await
    }

    /// `per_device` readings of every device, device-interleaved.
    fn readings(&self, per_device: u64) -> Vec<(String, Vec<u8>)> {
        let ts0 = firegrid_ingest::clock::now_ms() - 3_600_000;
        let mut readings = Vec::new();
        for seq in 1..=per_device {
            for d in &self.devices {
                readings.push((fleet::topic(d), fleet::payload(d, seq, ts0 + (seq as i64) * 3).into_bytes()));
            }
        }
        readings
    }

    /// Every reading stored, on one connection, each message received once.
    async fn assert_stored_once(&self, per_device: u64, within: Duration) -> Result<()> {
        let want: BTreeSet<(String, u64)> =
            self.devices.iter().flat_map(|d| (1..=per_device).map(move |s| (d.id.clone(), s))).collect();
        support::eventually(within, || async { Ok((fleet::stored_pairs(&self.vm).await? == want).then_some(())) })
            .await
            .context("every reading stored")?;
        let connections = self.fg.metric("firegrid_mqtt_connections_total").await?;
        let log = self.fg.log_text()?;
        ensure!(
            connections == 1.0 && !log.contains("mqtt_connection_error"),
            "the connection dropped ({connections} connections):\n{}",
            self.fg.log_tail()
        );
        let got = self.received().await?;
        let total = want.len() as f64;
        ensure!(got == total, "{got} messages received for {total} published: redeliveries");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_sending_past_the_window_while_the_store_hangs_keeps_the_connection_and_redelivers_nothing(
) -> Result<()> {
    const PER_DEVICE: u64 = 200;
    tokio::time::timeout(Duration::from_secs(120), async {
        let d = Drain::start(100, |c| {
            // A small window, and so a small reading queue; an overflow that holds what the broker
            // sent past it.
            c.mqtt.receive_maximum = 100;
            c.mqtt.overflow_max_messages = 50_000;
            // A write waits for the hung store instead of going to the spool: the pipeline stands still.
            c.store.influxdb.timeout_ms = 60_000;
        })
        .await?;
        let publisher =
            tokio::spawn(support::publish::publish_all(d.mqtt.port(), "overshoot-load", d.readings(PER_DEVICE)));
        // Acks flow for a while (each in-order ack lets mosquitto release up to a window more),
        // then the store hangs with most of the backlog already sent towards firegrid.
        support::eventually(Duration::from_secs(30), || async { Ok((d.received().await? >= 1500.0).then_some(())) })
            .await
            .context("the drain started")?;
        let vm_pid = d.vm.pid().context("VictoriaMetrics is running")?;
        support::process::signal(vm_pid, "STOP")?;
        publisher.await??;
        // The queue filled while the broker kept sending: this is the case under test.
        support::eventually(Duration::from_secs(15), || async {
            Ok((d.fg.metric("firegrid_ingest_queue_full_total").await? > 0.0).then_some(()))
        })
        .await
        .context("the broker never sent past the reading queue")?;
        // Hung for three keep-alives: mosquitto drops a client silent for 1.5 of them.
        tokio::time::sleep(Duration::from_secs(3 * KEEP_ALIVE_SECONDS)).await;
        support::process::signal(vm_pid, "CONT")?;
        d.assert_stored_once(PER_DEVICE, Duration::from_secs(60)).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_answer_queued_behind_a_backlog_read_slower_than_the_keep_alive_keeps_the_connection() -> Result<()> {
    const PER_DEVICE: u64 = 300;
    tokio::time::timeout(Duration::from_secs(150), async {
        let d = Drain::start(100, |c| {
            // A 10-message window: batches of 5 lines, one store write at a time — a slow drain.
            c.mqtt.receive_maximum = 10;
            // A small overflow: reading stops at it, so what mosquitto sent past the window (and
            // the PINGRESP behind it) is read only as fast as the store takes it.
            c.mqtt.overflow_max_messages = 100;
        })
        .await?;
        support::publish::publish_all(d.mqtt.port(), "slow-drain-load", d.readings(PER_DEVICE)).await?;
        d.assert_stored_once(PER_DEVICE, Duration::from_secs(120)).await?;
        // The case under test happened: a ping's answer was still queued half a keep-alive on.
        let late = d.fg.metric("firegrid_mqtt_late_pingresp_total").await?;
        let full = support::api::metric_sum(&d.base(), "firegrid_mqtt_overflow_full_total", &[]).await?;
        ensure!(late > 0.0 && full > 0.0, "no ping answer waited behind the backlog ({late} late, overflow full {full} times): the drain was faster than a keep-alive");
        Ok(())
    })
    .await?
}
