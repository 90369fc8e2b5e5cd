//! Measurement (ignored by default): time from a reading's arrival at the engine to its incident's
//! `opened` line, under 20,000 readings/s of background traffic, through the real engine and
//! SQLite store. Run: `cargo test -p firegrid-alerting --release --test latency -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use firegrid_ingest::{now_ms, Kind, SiteType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn time_from_arrival_to_incident_opened_under_background_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
    let background: Vec<_> = (0..10_000)
        .map(|i| device(&format!("bg-{i:05}"), Kind::Smoke, &format!("bh-{i}"), SiteType::Residential, false))
        .collect();
    let tx = e.readings.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let bg_stop = stop.clone();
    // 20 readings every millisecond = 20,000 readings/s of normal traffic.
    let bg = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut n = 0usize;
        let mut sent = 0u64;
        while !bg_stop.is_cancelled() {
            tick.tick().await;
            for _ in 0..20 {
                let d = &background[n % background.len()];
                n += 1;
                if tx.send(smoke(d, now_ms(), 0.02)).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
        }
        sent
    });
    let started = Instant::now();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    for i in 0..300 {
        let d = device(&format!("fire-{i:04}"), Kind::Smoke, &format!("fh-{i}"), SiteType::Residential, false);
        sent_at.insert(d.device_id().to_owned(), Instant::now());
        e.readings.send(smoke_alarm(&d, now_ms(), Some(1))).await.unwrap();
        let line = e.next_line().await;
        let got = Instant::now();
        let id = line.split(" from ").nth(1).unwrap().split(' ').next().unwrap();
        latencies.push(got - sent_at[id]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let sent = bg.await.unwrap();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "background {:.0} readings/s over {:.1} s; arrival → opened line, n={}: p50 {:?}, p99 {:?}, max {:?}",
        sent as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    e.stop().await;
}
