//! A quiet device's readings: each kind reports at its interval, with values that move with
//! realistic noise around per-device baselines — smoke detectors with a slowly draining battery,
//! electrical monitors with leakage current and warm cables under a daily load, forest cameras
//! that see the day's warmth and no hotspot. Pure: the clock is plain epoch milliseconds.

use firegrid_ingest::wire::topic::reading_topic;
use firegrid_ingest::{Device, Kind, SiteType};

use crate::readings::payload::{round, ElectricalValues, ForestIrValues, SmokeValues, WireValues};
use crate::rng::SimRng;

/// Reporting interval per kind, in milliseconds of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Smoke detector heartbeat (default 30 min; firegrid expects one at least hourly).
    pub smoke_ms: i64,
    /// Electrical monitor report (default 60 s).
    pub electrical_ms: i64,
    /// Forest camera frame report (default 30 s).
    pub forest_ir_ms: i64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals { smoke_ms: 30 * 60_000, electrical_ms: 60_000, forest_ir_ms: 30_000 }
    }
}

impl Intervals {
    /// The interval of a kind.
    pub fn of(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Smoke => self.smoke_ms,
            Kind::Electrical => self.electrical_ms,
            Kind::ForestIr => self.forest_ir_ms,
        }
    }

    /// Every interval divided by a speed-up factor (at least 1 ms).
    pub fn sped_up(&self, factor: f64) -> Intervals {
        let f = if factor.is_finite() && factor > 0.0 { factor } else { 1.0 };
        let s = |ms: i64| ((ms as f64 / f).round() as i64).max(1);
        Intervals {
            smoke_ms: s(self.smoke_ms),
            electrical_ms: s(self.electrical_ms),
            forest_ir_ms: s(self.forest_ir_ms),
        }
    }
}

/// Per-device state: counters and the baselines its noise moves around.
#[derive(Debug)]
pub(super) struct DeviceState {
    pub(super) kind: Kind,
    pub(super) topic: String,
    pub(super) seq: u64,
    pub(super) rng: SimRng,
    battery: f64,
    base_temp: f64,
    base_obscuration: f64,
    base_residual: f64,
    cable_base: Vec<f64>,
    base_current: f64,
    /// Silenced (no normal readings) in these [from, until) windows.
    pub(super) silences: Vec<(i64, i64)>,
}

impl DeviceState {
    /// The state of device `d` of a run seeded `seed`, publishing under `prefix`.
    pub(super) fn new(d: &Device, seed: u64, prefix: &str) -> DeviceState {
        let mut rng = SimRng::derive(seed, &d.device_id);
        let channels = match d.site_type {
            SiteType::SmallVenue => rng.int(1, 2),
            SiteType::Rental => 3,
            _ => 4,
        };
        let indoor = d.kind != Kind::ForestIr;
        DeviceState {
            kind: d.kind,
            topic: reading_topic(prefix, &d.county, &d.township, d.kind, &d.device_id),
            seq: rng.below(1_000),
            battery: rng.range(55.0, 100.0),
            base_temp: if indoor { rng.range(19.0, 27.0) } else { rng.range(12.0, 22.0) },
            base_obscuration: rng.range(0.015, 0.04),
            base_residual: rng.range(12.0, 80.0),
            cable_base: (0..channels).map(|_| rng.range(27.0, 36.0)).collect(),
            base_current: if d.site_type == SiteType::SmallVenue {
                rng.range(3.0, 25.0)
            } else {
                rng.range(10.0, 60.0)
            },
            rng,
            silences: Vec::new(),
        }
    }

    /// Whether a normal reading due at `at_ms` is held back by a scenario.
    pub(super) fn silenced(&self, at_ms: i64) -> bool {
        self.silences.iter().any(|&(from, until)| at_ms >= from && at_ms < until)
    }
}

/// A device's first report falls at a stable, device-specific phase of its interval.
pub(super) fn phase(interval: i64, seed: u64, device_id: &str) -> i64 {
    let mut rng = SimRng::derive(seed ^ 0x9e37_79b9, device_id);
    rng.below(interval.max(1) as u64) as i64
}

/// Daily temperature swing: coolest before dawn, warmest mid-afternoon (Chongqing, UTC+8).
fn diurnal(ts_ms: i64) -> f64 {
    let hour = ((ts_ms / 1000 + 8 * 3600).rem_euclid(86_400)) as f64 / 3600.0;
    ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin()
}

/// The values of a normal reading of `d` at `ts_ms`, advancing its noise and battery.
pub(super) fn normal_values(d: &mut DeviceState, ts_ms: i64) -> WireValues {
    let rng = &mut d.rng;
    match d.kind {
        Kind::Smoke => {
            d.battery = (d.battery - rng.range(0.0005, 0.01)).max(20.0);
            WireValues::Smoke(SmokeValues {
                obscuration_db_m: round((d.base_obscuration + rng.normal(0.0, 0.004)).clamp(0.01, 0.05), 3),
                temperature_c: Some(round(
                    (d.base_temp + 1.5 * diurnal(ts_ms) + rng.normal(0.0, 0.3)).clamp(18.0, 30.0),
                    1,
                )),
                alarm: None,
                battery_pct: Some(d.battery.round()),
                tamper: None,
                silenced: None,
            })
        }
        Kind::Electrical => {
            let load = 0.75 + 0.25 * diurnal(ts_ms) + rng.normal(0.0, 0.05);
            let cable_temp_c = d
                .cable_base
                .iter()
                .map(|b| round((b + 4.0 * (load - 0.75) + rng.normal(0.0, 0.4)).clamp(25.0, 45.0), 1))
                .collect();
            WireValues::Electrical(ElectricalValues {
                residual_current_ma: round((d.base_residual + rng.normal(0.0, 5.0)).clamp(10.0, 120.0), 1),
                cable_temp_c,
                current_a: Some(round((d.base_current * load).max(0.1), 2)),
                voltage_v: Some(round(rng.normal(220.0, 2.5).clamp(205.0, 235.0), 1)),
                arc_fault: None,
            })
        }
        Kind::ForestIr => {
            let ambient = d.base_temp + 5.0 * diurnal(ts_ms) + rng.normal(0.0, 0.3);
            WireValues::ForestIr(ForestIrValues {
                max_temp_c: round(ambient + rng.range(2.0, 9.0), 1),
                hotspot_px: 0,
                smoke_score: Some(round(rng.normal(0.04, 0.03).clamp(0.0, 0.2), 2)),
                lat: None,
                lon: None,
                ambient_c: Some(round(ambient, 1)),
            })
        }
    }
}
