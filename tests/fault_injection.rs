//! Fault injection with real processes (issue: zero loss): the firegrid binary, mosquitto and
//! VictoriaMetrics, with the store stopped for a minute under load, firegrid killed with
//! SIGKILL mid-stream, the spool filled to its cap, and a torn spool tail. Every test counts the
//! distinct (device, seq) pairs in VictoriaMetrics against what was published.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

struct Setup {
    dir: tempfile::TempDir,
    mqtt: Mosquitto,
    vm: VictoriaMetrics,
    devices: Vec<TestDevice>,
}

impl Setup {
    async fn new(devices: usize) -> Result<Setup> {
        Ok(Setup {
            dir: tempfile::tempdir()?,
            mqtt: Mosquitto::start().await?,
            vm: VictoriaMetrics::start().await?,
            devices: fleet::devices(devices),
        })
    }

    /// Writes the config file; `spool_max_bytes` 0 keeps the default.
    fn config(&self, spool_max_bytes: u64) -> Result<std::path::PathBuf> {
        self.config_with(spool_max_bytes, |_| {})
    }

    /// [`config`](Self::config), with `change` applied last.
    fn config_with(
        &self,
        spool_max_bytes: u64,
        change: impl FnOnce(&mut firegrid::Config),
    ) -> Result<std::path::PathBuf> {
        let reg = fleet::write_registry(self.dir.path(), &self.devices)?;
        let mut c = fleet::harness_config(self.dir.path(), &reg, &self.mqtt.url(), &self.vm.url(), "firegrid-fault");
        c.store.influxdb.retry_max_ms = 1000;
        c.store.influxdb.timeout_ms = 2000;
        if spool_max_bytes > 0 {
            c.spool.max_bytes = spool_max_bytes;
            c.spool.segment_bytes = spool_max_bytes.min(1 << 20);
        }
        change(&mut c);
        let path = self.dir.path().join("firegrid.toml");
        std::fs::write(&path, toml::to_string(&c)?)?;
        Ok(path)
    }

    async fn firegrid(&self, config: &Path) -> Result<Firegrid> {
        Firegrid::start(config, Vec::new(), &self.dir.path().join("firegrid.log")).await
    }

    /// `per_device` readings of every device from `first_seq`, device-interleaved.
    fn readings(&self, first_seq: u64, per_device: u64) -> Vec<(String, Vec<u8>)> {
        let base = firegrid_ingest::clock::now_ms() - 3_600_000;
        let mut out = Vec::new();
        for seq in first_seq..first_seq + per_device {
            for d in &self.devices {
                out.push((fleet::topic(d), fleet::payload(d, seq, base + (seq as i64) * 3).into_bytes()));
            }
        }
        out
    }

    fn expected(&self, seqs: std::ops::Range<u64>) -> BTreeSet<(String, u64)> {
        self.devices.iter().flat_map(|d| seqs.clone().map(move |s| (d.id.clone(), s))).collect()
    }

    async fn assert_all_stored(&self, want: &BTreeSet<(String, u64)>, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = fleet::stored_pairs(&self.vm).await?;
            if got == *want {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let missing = want.difference(&got).count();
                let extra = got.difference(want).count();
                anyhow::bail!("stored {} of {} pairs ({missing} missing, {extra} unexpected)", got.len(), want.len());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The HTTP API of a firegrid process.
fn fg_base(fg: &Firegrid) -> String {
    format!("http://127.0.0.1:{}", fg.http_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_second_store_outage_under_steady_load_loses_nothing_and_memory_stays_flat() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(400), async {
        let mut s = Setup::new(500).await?;
        let config = s.config(0)?;
        let fg = s.firegrid(&config).await?;
        // 5,000 readings/s for 80 s: the store is down from 10 s to 70 s.
        let stream = s.readings(1, 800);
        let publisher = tokio::spawn(support::publish::publish_paced(s.mqtt.port(), "outage-load", stream, 5000));
        // The outage starts once ten seconds of the load reached the store.
        support::eventually(Duration::from_secs(60), || async {
            Ok((fg.metric("firegrid_points_written_total").await? >= 10.0 * 5000.0).then_some(()))
        })
        .await
        .context("the load reaching the store before the outage")?;
        s.vm.stop().await?;
        let (rss_start, _) = fg.rss_kib()?;
        let mut rss_max = rss_start;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_max = rss_max.max(fg.rss_kib()?.0);
        }
        let ready = fg.readyz().await?;
        let spooled = fg.metric("firegrid_spool_appended_points_total").await?;
        s.vm.start_again().await?;
        publisher.await??;
        s.assert_all_stored(&s.expected(1..801), Duration::from_secs(120)).await?;
        let (_, peak) = fg.rss_kib()?;
        println!(
            "outage: RSS {rss_start} KiB at its start, {rss_max} KiB at most during it; peak (VmHWM) {peak} KiB; {spooled} points spooled; readyz during it: {ready}"
        );
        ensure!(ready["ready"] == true && ready["store"] == "degraded_spooling", "{ready}");
        ensure!(spooled > 200_000.0, "the outage's readings went to the spool ({spooled})");
        ensure!(rss_max < rss_start + 64 * 1024, "RSS grew from {rss_start} KiB to {rss_max} KiB during the outage");
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sigkills_during_a_fifty_thousand_reading_stream_lose_nothing() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let s = Setup::new(500).await?;
        let config = s.config(0)?;
        let mut fg = s.firegrid(&config).await?;
        let publisher =
            tokio::spawn(support::publish::publish_paced(s.mqtt.port(), "kill-load", s.readings(1, 100), 5000));
        // Each kill lands in the middle of the stream: once the running process took in 8,000 readings.
        for _ in 0..3 {
            support::eventually(Duration::from_secs(60), || async {
                let received = support::api::metric_sum(&fg_base(&fg), "firegrid_messages_received_total", &[]).await?;
                Ok((received >= 8_000.0).then_some(()))
            })
            .await
            .context("readings flowing before the kill")?;
            fg.kill9_and_restart().await?;
        }
        publisher.await??;
        s.assert_all_stored(&s.expected(1..101), Duration::from_secs(90)).await?;
        fg.stop(Duration::from_secs(10)).await?;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_stops_acks_and_the_broker_holds_the_backlog_until_the_store_returns() -> Result<()> {
    // mosquitto 2.0.11 sends past an MQTT 5 client's Receive Maximum once it acks in order (each
    // PUBACK of the oldest message in flight releases up to a window more; docs/guarantees.md
    // "Memory"), so what bounds the messages firegrid holds is its own queues: the ingest queue
    // (window + 64), the event loop's overflow (`mqtt.overflow_max_messages`, where it stops
    // reading), and the batches (the one being built, `pending_batches` queued, the one the writer
    // holds), each flushed at half the window.
    const WINDOW: u16 = 500;
    const OVERFLOW: u32 = 1000;
    const PENDING_BATCHES: usize = 4;
    const HELD_AT_MOST: usize =
        WINDOW as usize + 64 + OVERFLOW as usize + (PENDING_BATCHES + 2) * (WINDOW as usize / 2);
    tokio::time::timeout(Duration::from_secs(300), async {
        let mut s = Setup::new(400).await?;
        let config = s.config_with(1 << 20, |c| {
            c.mqtt.receive_maximum = WINDOW;
            c.mqtt.overflow_max_messages = OVERFLOW;
            c.ingest.pending_batches = PENDING_BATCHES;
            c.ingest.batch_window_percent = 50;
        })?;
        let fg = s.firegrid(&config).await?;
        let (rss_start, _) = fg.rss_kib()?;
        s.vm.stop().await?;
        // About 6 MB of line protocol (24,000 smoke readings) against a 1 MiB spool.
        support::publish::publish_all(s.mqtt.port(), "spool-full-load", s.readings(1, 60)).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((fg.readyz().await?["store"] == "failing_spool_full").then_some(()))
        })
        .await?;
        // Acks stopped: once the pipeline has backed up, firegrid takes nothing more in and sends
        // no ack (acks sent = received - unacknowledged), and its memory stands still, for as long
        // as the spool stays full (sampled over three seconds).
        let state = || async {
            let received = support::api::metric_sum(&fg_base(&fg), "firegrid_messages_received_total", &[]).await?;
            let unacked = fg.metric("firegrid_mqtt_unacked_messages").await?;
            anyhow::Ok((received, unacked))
        };
        let mut last = state().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = state().await?;
            if now == last && now.1 > 0.0 {
                break;
            }
            ensure!(tokio::time::Instant::now() < deadline, "intake not settling with the spool full: {now:?}");
            last = now;
        }
        let (received, unacked) = last;
        let mut rss_max = 0;
        for _ in 0..10 {
            rss_max = rss_max.max(fg.rss_kib()?.0);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (received_later, unacked_later) = state().await?;
        let spool_bytes = fg.metric("firegrid_spool_bytes").await?;
        let ready = fg.readyz().await?;
        println!(
            "spool full: RSS {rss_start} KiB at start, {rss_max} KiB at most; {received} readings taken of 24000, {unacked} unacknowledged; spool {spool_bytes} B"
        );
        ensure!(ready["store"] == "failing_spool_full" && ready["ready"] == false, "not ready with the spool full: {ready}");
        ensure!(spool_bytes <= f64::from(1u32 << 20), "spool over its cap: {spool_bytes}");
        ensure!(
            (received_later, unacked_later) == (received, unacked),
            "intake or acks went on with a full spool: {received}/{unacked} then {received_later}/{unacked_later}"
        );
        ensure!(received < 24_000.0 / 2.0, "the broker holds the backlog: firegrid took {received} of 24000");
        ensure!(
            unacked <= HELD_AT_MOST as f64,
            "firegrid holds {unacked} unacknowledged messages, more than its queues allow ({HELD_AT_MOST})"
        );
        // The backlog is ~6 MB as line protocol and more as messages: holding it would show.
        ensure!(rss_max < rss_start + 16 * 1024, "RSS grew from {rss_start} KiB to {rss_max} KiB with the spool full");
        s.vm.start_again().await?;
        s.assert_all_stored(&s.expected(1..61), Duration::from_secs(120)).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((fg.metric("firegrid_spool_bytes").await? == 0.0).then_some(()))
        })
        .await?;
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_or_corrupt_spool_tail_is_cut_at_start_up_and_nothing_is_missing() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let mut s = Setup::new(200).await?;
        let config = s.config(0)?;
        let mut fg = s.firegrid(&config).await?;
        s.vm.stop().await?;
        support::publish::publish_all(s.mqtt.port(), "torn-load", s.readings(1, 25)).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok((fg.metric("firegrid_spool_appended_points_total").await? >= 5000.0).then_some(()))
        })
        .await?;
        fg.kill9();
        // A crash in the middle of an append: a header promising 4,000 bytes, 100 written;
        // before it, a whole record whose checksum does not match.
        let spool_dir = s.dir.path().join("data/spool");
        let mut segs: Vec<_> = std::fs::read_dir(&spool_dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        segs.sort();
        let last = segs.last().ok_or_else(|| anyhow::anyhow!("no spool segment"))?;
        let mut tail = Vec::new();
        tail.extend_from_slice(&16u32.to_le_bytes());
        tail.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        tail.extend_from_slice(b"smoke,x=1 f=1 1\n");
        tail.extend_from_slice(&4000u32.to_le_bytes());
        tail.extend_from_slice(&[0u8; 104]);
        let mut bytes = std::fs::read(last)?;
        bytes.extend_from_slice(&tail);
        std::fs::write(last, bytes)?;

        s.vm.start_again().await?;
        fg.kill9_and_restart().await?;
        let truncated = fg.metric("firegrid_spool_truncated_bytes_total").await?;
        ensure!(truncated == tail.len() as f64, "cut {truncated} bytes, the damaged tail was {}", tail.len());
        s.assert_all_stored(&s.expected(1..26), Duration::from_secs(90)).await?;
        ensure!(
            fg.log_tail().contains("spool_recovered")
                || std::fs::read_to_string(s.dir.path().join("firegrid.log"))?.contains("spool_recovered")
        );
        Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_in_the_middle_of_a_stream_loses_nothing() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let s = Setup::new(200).await?;
        let config = s.config(0)?;
        let mut fg = s.firegrid(&config).await?;
        // 20,000 readings at 5,000/s; SIGTERM once 3,000 of them were taken in.
        let publisher =
            tokio::spawn(support::publish::publish_paced(s.mqtt.port(), "term-load", s.readings(1, 100), 5000));
        let received = support::eventually(Duration::from_secs(60), || async {
            let received = support::api::metric_sum(&fg_base(&fg), "firegrid_messages_received_total", &[]).await?;
            Ok((received >= 3000.0).then_some(received))
        })
        .await
        .context("the stream reaching firegrid")?;
        ensure!(!publisher.is_finished() && received < 20_000.0, "the SIGTERM must come mid-stream ({received})");
        // A clean exit (status 0) after draining what it had taken.
        fg.stop(Duration::from_secs(30)).await?;
        fg.start_again().await?;
        publisher.await??;
        s.assert_all_stored(&s.expected(1..101), Duration::from_secs(60)).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_at_once_and_loses_nothing_acknowledged() -> Result<()> {
    a_second_signal_exits_at_once_and_loses_nothing_acknowledged("INT").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_and_loses_nothing_acknowledged() -> Result<()> {
    a_second_signal_exits_at_once_and_loses_nothing_acknowledged("TERM").await
}

/// Two `signal`s (`INT` = Ctrl-C, or `TERM`) while the drain cannot finish: the second exits
/// with 130 within 2 s, and everything not acknowledged arrives after a restart.
async fn a_second_signal_exits_at_once_and_loses_nothing_acknowledged(signal: &str) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let mut s = Setup::new(100).await?;
        // A write waits up to a minute for the store: nothing goes to the spool during the test.
        let config = s.config_with(0, |c| c.store.influxdb.timeout_ms = 60_000)?;
        let mut fg = s.firegrid(&config).await?;
        // The store hangs (SIGSTOP): the drain after the first signal cannot finish by itself.
        let vm_pid = s.vm.pid().context("VictoriaMetrics is running")?;
        support::publish::publish_all(s.mqtt.port(), "int-load-1", s.readings(1, 10)).await?;
        s.assert_all_stored(&s.expected(1..11), Duration::from_secs(30)).await?;
        support::process::signal(vm_pid, "STOP")?;
        support::publish::publish_all(s.mqtt.port(), "int-load-2", s.readings(11, 20)).await?;
        support::eventually(Duration::from_secs(30), || async {
            let received = support::api::metric_sum(&fg_base(&fg), "firegrid_messages_received_total", &[]).await?;
            Ok((received >= 3000.0).then_some(()))
        })
        .await
        .context("the second stream taken in")?;
        fg.signal(signal)?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.log_text()?.contains("shutdown requested").then_some(()))
        })
        .await
        .context("the first signal seen")?;
        let second = tokio::time::Instant::now();
        fg.signal(signal)?;
        let status = fg.wait_exit(Duration::from_secs(5)).await?;
        let took = second.elapsed();
        ensure!(status.code() == Some(130), "exit status {status} after the second SIG{signal}");
        ensure!(took < Duration::from_secs(2), "exited {took:?} after the second SIG{signal}");
        // What was not acknowledged is still with the broker: all of it arrives after a restart.
        support::process::signal(vm_pid, "CONT")?;
        fg.start_again().await?;
        s.assert_all_stored(&s.expected(1..31), Duration::from_secs(60)).await?;
        s.vm.stop().await?;
        Ok(())
    })
    .await?
}
