//! Alert evaluation cost per reading over a realistic mix: a fleet of 10,000 devices (60 % smoke,
//! 30 % electrical, 10 % forest cameras) reporting mostly normal values, with cooking steam,
//! sun glints, low batteries, pre-alarms and a few real alarms sprinkled in (≈0.1 % of readings
//! open or feed an incident). Each iteration feeds 100,000 readings to a fresh [`AlertCore`].
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::engine::AlertCore;
use firegrid_ingest::{
    Device, DeviceRecord, ElectricalValues, EnrichedReading, ForestIrValues, Kind, Reading, SiteType, SmokeValues,
    Status, Values,
};

const DEVICES: usize = 10_000;
const READINGS: usize = 100_000;
const T0: i64 = 1_795_917_600_000;

/// A small deterministic generator (no dependency, same mix every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fleet() -> Vec<Arc<DeviceRecord>> {
    (0..DEVICES)
        .map(|i| {
            let (kind, prefix) = match i % 10 {
                0..=5 => (Kind::Smoke, "sd"),
                6..=8 => (Kind::Electrical, "em"),
                _ => (Kind::ForestIr, "fr"),
            };
            Arc::new(DeviceRecord::from(Device {
                device_id: format!("{prefix}-{i:06}"),
                kind,
                county: "500112".into(),
                township: "500112002".into(),
                community: "500112002003".into(),
                grid_id: format!("g-{}", i / 200),
                household_id: if kind == Kind::ForestIr { String::new() } else { format!("h-{}", i / 3) },
                address: "五星路".into(),
                lat: Some(29.7 + (i as f64) * 1e-4),
                lon: Some(106.6),
                site_type: if kind == Kind::ForestIr { SiteType::Forest } else { SiteType::Residential },
                vulnerable: i % 97 == 0,
            }))
        })
        .collect()
}

fn readings(fleet: &[Arc<DeviceRecord>]) -> Vec<EnrichedReading> {
    let mut rng = Lcg(17);
    (0..READINGS)
        .map(|n| {
            let d = &fleet[n % fleet.len()];
            let round = (n / fleet.len()) as i64;
            let ts = T0 + round * 10_000 + (n % fleet.len()) as i64;
            let p = rng.next();
            let mut status = Status::Normal;
            let values = match d.kind() {
                Kind::Smoke => {
                    let mut v = SmokeValues {
                        obscuration_db_m: 0.01 + 0.04 * rng.next(),
                        temperature_c: Some(20.0 + 8.0 * rng.next()),
                        battery_pct: Some(if p < 0.003 { 12.0 } else { 60.0 + 40.0 * rng.next() }),
                        ..Default::default()
                    };
                    if p > 0.995 {
                        v.obscuration_db_m = 0.2; // cooking steam, one reading
                    }
                    if p > 0.9993 {
                        v.alarm = Some(true);
                        status = Status::Alarm;
                    }
                    Values::Smoke(v)
                }
                Kind::Electrical => Values::Electrical(ElectricalValues {
                    residual_current_ma: if p < 0.01 { 220.0 } else { 20.0 + 100.0 * rng.next() },
                    cable_temp_c: vec![28.0 + 15.0 * rng.next(), 30.0, 31.0],
                    current_a: Some(12.0),
                    voltage_v: Some(221.0),
                    arc_fault: Some(p > 0.9995),
                }),
                Kind::ForestIr => Values::ForestIr(ForestIrValues {
                    max_temp_c: if p > 0.99 { 120.0 } else { 15.0 + 20.0 * rng.next() },
                    hotspot_px: if p > 0.99 { 9 } else { 0 },
                    smoke_score: Some(0.1 * rng.next()),
                    ..Default::default()
                }),
            };
            EnrichedReading {
                reading: Reading {
                    device_id: d.device_id().to_owned(),
                    kind: d.kind(),
                    county: d.county().to_owned(),
                    township: d.township().to_owned(),
                    ts_ms: ts,
                    received_at_ms: ts,
                    seq: Some(round as u64),
                    status,
                    values,
                },
                device: Some(d.clone()),
                location_mismatch: false,
            }
        })
        .collect()
}

fn evaluate(c: &mut Criterion) {
    let fleet = fleet();
    let input = readings(&fleet);
    let settings = Arc::new(AlertingConfig::default().validate().unwrap());
    let mut group = c.benchmark_group("alert_evaluation");
    group.throughput(Throughput::Elements(READINGS as u64));
    group.sample_size(20);
    group.bench_function("realistic_mix_per_reading", |b| {
        b.iter_batched(
            || AlertCore::new(settings.clone()),
            |mut core| {
                let mut opened = 0usize;
                for r in &input {
                    opened += core.on_reading(r, r.reading.received_at_ms).audit.len();
                }
                (core, opened)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let mut group = c.benchmark_group("alert_tick");
    group.sample_size(20);
    group.bench_function("offline_and_persistence_tick_10k_devices_none_due", |b| {
        let mut core = AlertCore::new(settings.clone());
        for r in &input {
            core.on_reading(r, r.reading.received_at_ms);
        }
        let mut now = T0 + 200_000;
        b.iter(|| {
            now += 1000;
            core.on_tick(now)
        })
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
