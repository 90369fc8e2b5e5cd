//! The embedded store acknowledges a reading only after the commit that holds it: the real
//! binary, consuming from mosquitto into its embedded SQLite store, is killed with SIGKILL three
//! times during a stream of 50,000 readings. mosquitto redelivers only what firegrid had not
//! acknowledged, so a reading acknowledged before its commit would be missing at the end; after
//! the last restart every reading is in the file exactly once (a redelivered reading overwrites
//! its row instead of adding one).
//!
//! A SIGKILL leaves the kernel's page cache intact, so this test holds for `synchronous=normal`
//! too; what `full` adds (surviving a power cut) needs a machine to lose power, and is argued in
//! docs/guarantees.md rather than tested.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use support::fleet::{self, TestDevice};
use support::process::Firegrid;
use support::Mosquitto;

const DEVICES: usize = 500;
const PER_DEVICE: u64 = 100;
const RATE: u32 = 5_000;

/// `PER_DEVICE` readings of every device, device-interleaved, an hour ago.
fn readings(devices: &[TestDevice]) -> Vec<(String, Vec<u8>)> {
    let base = firegrid_ingest::clock::now_ms() - 3_600_000;
    (1..=PER_DEVICE)
        .flat_map(|seq| {
            devices
                .iter()
                .map(move |d| (fleet::topic(d), fleet::payload(d, seq, base + (seq as i64) * 10).into_bytes()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_during_a_stream_into_the_embedded_store_lose_no_acknowledged_reading_and_store_none_twice(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let devices = support::embedded::registered_devices(DEVICES);
        let (config, db) = support::embedded::write_config(dir.path(), &mqtt.url(), &devices, "firegrid-crash")?;
        let mut firegrid = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        let want: BTreeSet<(String, u64)> =
            devices.iter().flat_map(|d| (1..=PER_DEVICE).map(move |s| (d.id.clone(), s))).collect();

        let msgs = readings(&devices);
        let port = mqtt.port();
        let publisher =
            tokio::spawn(async move { support::publish::publish_paced(port, "embedded-crash", msgs, RATE).await });
        // Kill whenever the store has taken some more of the stream, so each kill lands mid-write.
        let mut kills = 0;
        for threshold in [5_000, 15_000, 30_000] {
            support::eventually(Duration::from_secs(60), || async {
                Ok((support::embedded::stored(&db)?.rows >= threshold).then_some(()))
            })
            .await?;
            firegrid.kill9_and_restart().await?;
            kills += 1;
        }
        publisher.await??;

        let stored = support::eventually(Duration::from_secs(120), || async {
            let s = support::embedded::stored(&db)?;
            Ok((s.pairs.len() >= want.len()).then_some(s))
        })
        .await;
        let stored = match stored {
            Ok(s) => s,
            Err(e) => {
                let s = support::embedded::stored(&db)?;
                anyhow::bail!("{e}: {} of {} readings stored after {kills} kills", s.pairs.len(), want.len());
            }
        };
        ensure!(stored.pairs == want, "{} stored readings are not the published ones", stored.pairs.len());
        ensure!(stored.rows == want.len() as u64, "{} rows for {} readings: duplicates", stored.rows, want.len());
        firegrid.stop(Duration::from_secs(20)).await?;
        anyhow::Ok(())
    })
    .await?
}
