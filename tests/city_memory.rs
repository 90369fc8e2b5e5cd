//! A city's devices cost little memory each (issue 14: a million devices in ≤ 400 bytes each,
//! all-in). The CI-sized check: firegrid holding a generated registry of about 100,000 devices,
//! every one of which has reported once, uses no more than [`MAX_BYTES_PER_DEVICE`] of RSS per
//! device above the same binary holding a registry of a few hundred devices that have also
//! reported. Real binary (the registry, the alert engine's per-device state, the series tags),
//! real mosquitto and VictoriaMetrics; the city-size figures come from `scripts/bench-city.sh`.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_simulator::{generate_registry, run_load, write_registry, FleetSpec, LoadSpec};
use support::fleet;
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

/// The bound checked. The goal is 400 bytes per device at a million devices, all-in. At ~100,000
/// devices in the debug build tests run, the marginal cost measured 728 bytes per device before
/// the compact watch slots and redelivery keys, 522 and 595 after in two runs on the loaded
/// development machine (README Benchmarks), 574 after the foldhash-sized registry tables and the
/// stepped watch (issue 14, stop 6); the bound sits ~15 % over 574, over the earlier 595.
const MAX_BYTES_PER_DEVICE: u64 = 660;

/// The fleet: 渝北区 and 巫溪县 with enough households per community for ~100,000 devices.
fn spec(households_urban: u32, households_rural: u32) -> FleetSpec {
    FleetSpec {
        counties: vec!["500112".into(), "500238".into()],
        households_per_urban_community: households_urban,
        households_per_rural_community: households_rural,
        ..FleetSpec::default()
    }
}

/// Starts firegrid over the fleet of `spec`, publishes one QoS 1 reading from every device,
/// waits until all are stored and returns (devices, RSS in KiB).
async fn rss_after_one_reading_each(
    dir: &Path,
    spec: &FleetSpec,
    mqtt: &Mosquitto,
    vm: &VictoriaMetrics,
    name: &str,
) -> Result<(u64, u64)> {
    let fleet = generate_registry(spec)?;
    let paths = write_registry(&fleet, &dir.join(name))?;
    let n = fleet.devices.len() as u64;
    drop(fleet);
    let c = fleet::harness_config(dir, &paths, &mqtt.url(), &vm.url(), &format!("firegrid-{name}"));
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, toml::to_string(&c)?)?;
    let mut fg = Firegrid::start(&config, Vec::new(), &dir.join(format!("{name}.log"))).await?;
    let load = LoadSpec {
        port: mqtt.port(),
        rate: None,
        total: Some(n),
        duration: None,
        qos: 1,
        client_id: format!("load-{name}"),
        fleet: spec.clone(),
        registry: Some(paths),
        ..LoadSpec::default()
    };
    let report = run_load(&load).await?;
    ensure!(report.sent == n, "published {} of {n} readings", report.sent);
    support::eventually(Duration::from_secs(120), || async {
        Ok((fg.metric("firegrid_points_written_total").await? >= n as f64).then_some(()))
    })
    .await
    .with_context(|| format!("not every reading was stored; log:\n{}", fg.log_tail()))?;
    let (rss, _) = fg.rss_kib()?;
    fg.stop(Duration::from_secs(30)).await?;
    Ok((n, rss))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_devices_that_have_all_reported_cost_under_the_city_budget_each() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(300), async {
        let dir = tempfile::tempdir()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let (small, small_rss) = rss_after_one_reading_each(dir.path(), &spec(1, 1), &mqtt, &vm, "small").await?;
        let (big, big_rss) = rss_after_one_reading_each(dir.path(), &spec(86, 64), &mqtt, &vm, "big").await?;
        ensure!(big >= 80_000, "the big fleet has only {big} devices");
        let per_device = big_rss.saturating_sub(small_rss) * 1024 / (big - small);
        println!(
            "city memory: {small} devices {small_rss} KiB, {big} devices {big_rss} KiB: {per_device} bytes/device"
        );
        ensure!(
            per_device <= MAX_BYTES_PER_DEVICE,
            "{per_device} bytes of RSS per device ({small} devices: {small_rss} KiB, {big}: {big_rss} KiB), \
             over the {MAX_BYTES_PER_DEVICE}-byte check"
        );
        Ok(())
    })
    .await?
}
