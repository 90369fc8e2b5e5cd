//! The embedded store's size: 100,000 readings of a mixed fleet (smoke detectors, electrical
//! monitors and forest cameras, 3:1:1, each with the fields the devices send) go through the real
//! pipeline — mosquitto, the firegrid binary, its embedded SQLite store — and the file takes at
//! most 150 bytes per point (issue 15; the first schema took about 1,170).

mod support;

use std::time::Duration;

use anyhow::{ensure, Result};
use support::fleet;
use support::process::Firegrid;
use support::Mosquitto;

const DEVICES: usize = 1_000;
const PER_DEVICE: u64 = 100;
const MAX_BYTES_PER_POINT: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_readings_take_at_most_150_bytes_each_in_the_embedded_store() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let devices = support::embedded::registered_devices(DEVICES);
        let (config, db) = support::embedded::write_config(dir.path(), &mqtt.url(), &devices, "firegrid-size")?;
        let mut firegrid = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;

        // A reading a minute per device over the last 100 minutes: the timestamps of a live fleet.
        let start = firegrid_ingest::clock::now_ms() - (PER_DEVICE as i64) * 60_000;
        let msgs: Vec<(String, Vec<u8>)> = (0..PER_DEVICE)
            .flat_map(|seq| {
                devices.iter().enumerate().map(move |(i, d)| {
                    let ts = start + (seq as i64) * 60_000 + i as i64;
                    (fleet::topic(d), fleet::payload(d, seq, ts).into_bytes())
                })
            })
            .collect();
        let total = msgs.len() as u64;
        support::publish::publish_all(mqtt.port(), "size", msgs).await?;
        support::eventually(Duration::from_secs(180), || async {
            Ok((support::embedded::stored(&db)?.rows >= total).then_some(()))
        })
        .await?;
        firegrid.stop(Duration::from_secs(20)).await?;
        let bytes = support::embedded::file_bytes(&db)?;
        let per_point = bytes / total;
        println!("{total} points in {bytes} bytes: {per_point} bytes per point");
        ensure!(per_point <= MAX_BYTES_PER_POINT, "{per_point} bytes per point (at most {MAX_BYTES_PER_POINT})");
        anyhow::Ok(())
    })
    .await?
}
