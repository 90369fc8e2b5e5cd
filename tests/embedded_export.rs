//! `firegrid export` moves the embedded store's history to a server: readings that went through
//! the real pipeline into the embedded store are exported for a time span — to VictoriaMetrics
//! over the InfluxDB write API, where every (device, seq) of the span arrives, and to stdout
//! with `--county`, where only that county's lines of the span appear, typed as written.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use support::fleet;
use support::process::{run_to_exit, Firegrid};
use support::{Mosquitto, VictoriaMetrics};

const DEVICES: usize = 100;
const PER_DEVICE: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_a_time_span_to_an_influxdb_server_and_one_county_to_stdout() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let (mqtt, vm) = (Mosquitto::start().await?, VictoriaMetrics::start().await?);
        let devices = support::embedded::registered_devices(DEVICES);
        let (config, db) = support::embedded::write_config(dir.path(), &mqtt.url(), &devices, "firegrid-export")?;
        let mut firegrid = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        let base = firegrid_ingest::clock::now_ms() - 3_600_000;
        let ts = |seq: u64, i: usize| base + (seq as i64) * 1_000 + i as i64;
        let msgs: Vec<(String, Vec<u8>)> = (0..PER_DEVICE)
            .flat_map(|seq| {
                let devices = &devices;
                devices
                    .iter()
                    .enumerate()
                    .map(move |(i, d)| (fleet::topic(d), fleet::payload(d, seq, ts(seq, i)).into_bytes()))
            })
            .collect();
        support::publish::publish_all(mqtt.port(), "export", msgs).await?;
        let total = DEVICES as u64 * PER_DEVICE;
        support::eventually(Duration::from_secs(60), || async {
            Ok((support::embedded::stored(&db)?.rows >= total).then_some(()))
        })
        .await?;
        firegrid.stop(Duration::from_secs(20)).await?;

        // Seqs 5..=9 only: the span starts at seq 5's first reading.
        let (since, until) = (ts(5, 0).to_string(), (base + 3_600_000).to_string());
        let conf = config.display().to_string();
        let args = ["export", "--config", &conf, "--since", &since, "--until", &until, "--to", &vm.url()];
        let (ok, out) = run_to_exit(&args, &[], Duration::from_secs(60))?;
        ensure!(ok, "export to the server failed:\n{out}");
        let want: BTreeSet<(String, u64)> =
            devices.iter().flat_map(|d| (5..PER_DEVICE).map(move |s| (d.id.clone(), s))).collect();
        let got = fleet::stored_pairs(&vm).await?;
        ensure!(got == want, "the server holds {} pairs, {} expected", got.len(), want.len());

        let args = ["export", "--config", &conf, "--since", &since, "--until", &until, "--county", "500238"];
        let (ok, out) = run_to_exit(&args, &[], Duration::from_secs(60))?;
        ensure!(ok, "export to stdout failed:\n{out}");
        let lines: Vec<&str> = out.lines().filter(|l| l.contains(" seq=") || l.contains(",seq=")).collect();
        let wuxi = devices.iter().filter(|d| d.county == "500238").count() * 5;
        ensure!(lines.len() == wuxi, "{} lines for county 500238, {wuxi} expected:\n{out}", lines.len());
        ensure!(lines.iter().all(|l| l.contains("county=500238") && l.contains(",seq=")), "{out}");
        ensure!(
            lines.iter().all(|l| l
                .split(",seq=")
                .nth(1)
                .is_some_and(|r| r.split([' ', ',']).next().is_some_and(|v| v.ends_with('i')))),
            "seq is an integer field again:\n{out}"
        );
        anyhow::Ok(())
    })
    .await?
}
