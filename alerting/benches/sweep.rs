//! The offline sweep at city scale (issue 14): a registry of `FIREGRID_SWEEP_DEVICES` devices
//! (default 1,000,000) loaded from a generated `devices.csv`, every device watched and heard
//! once, readings spread over an hour; then the cost of the engine's clock tick when nothing is
//! due and when each tick finds the ~1/3600 of the fleet whose smoke offline delay (3 h) has just
//! run out. Also the re-watch a registry reload costs, in the engine's steps (the longest step is
//! the longest a reload holds the engine, and so intake). Prints the figures; no criterion (one
//! fleet this size is built once).
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::detect::Rewatch;
use firegrid_alerting::engine::AlertCore;
use firegrid_ingest::{EnrichedReading, Reading, Registry, RegistryPaths, SmokeValues, Status, Values};

const T0: i64 = 1_795_917_600_000;
const HOUR_MS: i64 = 3_600_000;
/// The engine's step (`engine::REWATCH_STEP`).
const REWATCH_STEP: usize = 8192;

fn registry(n: usize, dir: &std::path::Path) -> Registry {
    let paths = RegistryPaths::in_dir(dir);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&paths.devices).unwrap());
    writeln!(f, "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable")
        .unwrap();
    for i in 0..n {
        let community = format!("500112{:03}{:03}", i / 100_000 % 1000, i / 1000 % 1000);
        let township = &community[..9];
        writeln!(
            f,
            "sd-{i:07},smoke,500112,{township},{community},{community}-g{},h-{},{} 栋 {} 室,29.7,106.6,residential,false",
            i / 200 % 5,
            i / 2,
            i / 2 % 40,
            i / 2
        )
        .unwrap();
    }
    drop(f);
    std::fs::write(
        &paths.stations,
        "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n",
    )
    .unwrap();
    std::fs::write(&paths.grids, "grid_id,community,manager,phone,webhook_url\n").unwrap();
    Registry::load(&paths).unwrap()
}

fn reading(d: &Arc<firegrid_ingest::DeviceRecord>, ts: i64) -> EnrichedReading {
    EnrichedReading {
        reading: Reading {
            device_id: d.device_id().to_owned(),
            kind: d.kind(),
            county: d.county().to_owned(),
            township: d.township().to_owned(),
            ts_ms: ts,
            received_at_ms: ts,
            seq: Some(1),
            status: Status::Normal,
            values: Values::Smoke(SmokeValues { obscuration_db_m: 0.01, ..Default::default() }),
        },
        device: Some(d.clone()),
        location_mismatch: false,
    }
}

fn main() {
    let n: usize = std::env::var("FIREGRID_SWEEP_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let reg = registry(n, dir.path());
    println!("registry of {} devices loaded in {:.2} s", reg.device_count(), t.elapsed().as_secs_f64());
    let settings = Arc::new(AlertingConfig::default().validate().unwrap());
    let mut core = AlertCore::new(settings);
    let t = Instant::now();
    core.watch_registry(&reg, T0);
    println!("watch {n} devices: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    for (i, d) in reg.devices().enumerate() {
        let ts = T0 + (i as i64 * HOUR_MS) / n as i64;
        core.on_reading(&reading(d, ts), ts);
    }
    println!("one reading per device: {:.2} s", t.elapsed().as_secs_f64());
    // A reload: the same files loaded again (new records for every device), watched in the
    // engine's steps; the longest step is the longest the engine's task is held.
    let t = Instant::now();
    let reloaded = Arc::new(Registry::load(&RegistryPaths::in_dir(dir.path())).unwrap());
    println!("registry reloaded in {:.2} s (off the engine's task)", t.elapsed().as_secs_f64());
    let (t, mut longest, mut steps) = (Instant::now(), 0f64, 0);
    let mut job = Rewatch::new(reloaded);
    loop {
        let t1 = Instant::now();
        let done = core.rewatch_step(&mut job, REWATCH_STEP, T0 + HOUR_MS);
        longest = longest.max(t1.elapsed().as_secs_f64());
        steps += 1;
        if done {
            break;
        }
    }
    println!(
        "re-watch after a reload ({n} devices, new records): {:.0} ms in {steps} steps of {REWATCH_STEP}, longest step \
         {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3,
        longest * 1e3
    );

    let ticks = 200;
    let t = Instant::now();
    for k in 0..ticks {
        core.on_tick(T0 + HOUR_MS + k * 1000);
    }
    let none_due = t.elapsed().as_secs_f64() * 1e6 / ticks as f64;
    println!("tick with {n} watched devices, none due: {none_due:.1} µs");

    let (mut raised, mut times) = (0usize, Vec::with_capacity(ticks as usize));
    let t = Instant::now();
    for k in 0..ticks {
        let t1 = Instant::now();
        let out = core.on_tick(T0 + 3 * HOUR_MS + k * 1000);
        times.push((t1.elapsed().as_secs_f64(), k, out.audit.len()));
        raised += out.audit.len();
    }
    let per_tick = t.elapsed().as_secs_f64() * 1e3 / ticks as f64;
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (worst, at, entries) = times.last().copied().unwrap_or_default();
    let p99 = times.get(times.len() * 99 / 100).map_or(0.0, |t| t.0);
    println!(
        "tick with {n} watched devices, ~{} due per tick: {per_tick:.2} ms mean, p99 {:.2} ms, {:.2} ms worst (tick \
         {at}, {entries} audit entries) ({raised} audit entries in all)",
        n as i64 * 1000 / HOUR_MS,
        p99 * 1e3,
        worst * 1e3
    );
}
