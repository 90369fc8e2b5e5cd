//! A quiet device's readings: each kind reports at its interval, with values that move with
//! realistic noise around per-device baselines — smoke detectors with a slowly draining battery,
//! electrical monitors with leakage current and warm cables under a daily load, forest cameras
//! that see the day's warmth and no hotspot. Pure: the clock is plain epoch milliseconds.

use firegrid_ingest::{Kind, SiteType};

use crate::fleet::DeviceRef;
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

/// Per-device state between readings, 24 bytes: the counter, the draining battery and how far
/// its random stream has gone. The rest — the baselines its noise moves around — is the first
/// draws of that stream, drawn again ([`Baselines::derive`]) for each reading rather than kept,
/// so a million devices fit in tens of megabytes (issue 14).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DeviceState {
    pub(super) seq: u64,
    battery: f64,
    /// Words of the device's stream drawn so far ([`SimRng::position`]).
    position: u64,
}

/// A device's baselines: fixed for a seed and device, derived from the first draws of its stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Baselines {
    base_temp: f64,
    base_obscuration: f64,
    base_residual: f64,
    cables: [f64; 4],
    channels: usize,
    base_current: f64,
}

impl Baselines {
    /// The device's stream from its start, its baselines and its first `seq` and battery, the
    /// stream left just after them.
    fn derive(d: &DeviceRef<'_>, seed: u64) -> (SimRng, Baselines, u64, f64) {
        let mut rng = SimRng::derive(seed, d.device_id);
        let channels = match d.site_type {
            SiteType::SmallVenue => rng.int(1, 2),
            SiteType::Rental => 3,
            _ => 4,
        } as usize;
        let indoor = d.kind != Kind::ForestIr;
        let seq = rng.below(1_000);
        let battery = rng.range(55.0, 100.0);
        let base_temp = if indoor { rng.range(19.0, 27.0) } else { rng.range(12.0, 22.0) };
        let base_obscuration = rng.range(0.015, 0.04);
        let base_residual = rng.range(12.0, 80.0);
        let mut cables = [0.0; 4];
        for c in cables.iter_mut().take(channels) {
            *c = rng.range(27.0, 36.0);
        }
        let base_current =
            if d.site_type == SiteType::SmallVenue { rng.range(3.0, 25.0) } else { rng.range(10.0, 60.0) };
        let b = Baselines { base_temp, base_obscuration, base_residual, cables, channels, base_current };
        (rng, b, seq, battery)
    }
}

impl DeviceState {
    /// The state of device `d` of a run seeded `seed`, before its first reading.
    pub(super) fn new(d: &DeviceRef<'_>, seed: u64) -> DeviceState {
        let (rng, _, seq, battery) = Baselines::derive(d, seed);
        DeviceState { seq, battery, position: rng.position() }
    }

    /// The device's stream where it left off, and its baselines.
    pub(super) fn resume(&self, d: &DeviceRef<'_>, seed: u64) -> (SimRng, Baselines) {
        let (mut rng, b, _, _) = Baselines::derive(d, seed);
        rng.resume(self.position);
        (rng, b)
    }

    /// Keeps where the stream is for the next reading.
    pub(super) fn save(&mut self, rng: &SimRng) {
        self.position = rng.position();
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

/// The values of a normal reading of device `dev` (state `d`) at `ts_ms`, advancing its noise
/// and battery.
pub(super) fn normal_values(dev: &DeviceRef<'_>, seed: u64, d: &mut DeviceState, ts_ms: i64) -> WireValues {
    let (mut rng, b) = d.resume(dev, seed);
    let values = draw_values(dev.kind, &b, &mut d.battery, &mut rng, ts_ms);
    d.save(&rng);
    values
}

/// The values of a reading of a `kind` device with baselines `b`, drawn from `rng`.
fn draw_values(kind: Kind, b: &Baselines, battery: &mut f64, rng: &mut SimRng, ts_ms: i64) -> WireValues {
    match kind {
        Kind::Smoke => {
            *battery = (*battery - rng.range(0.0005, 0.01)).max(20.0);
            WireValues::Smoke(SmokeValues {
                obscuration_db_m: round((b.base_obscuration + rng.normal(0.0, 0.004)).clamp(0.01, 0.05), 3),
                temperature_c: Some(round(
                    (b.base_temp + 1.5 * diurnal(ts_ms) + rng.normal(0.0, 0.3)).clamp(18.0, 30.0),
                    1,
                )),
                alarm: None,
                battery_pct: Some(battery.round()),
                tamper: None,
                silenced: None,
            })
        }
        Kind::Electrical => {
            let load = 0.75 + 0.25 * diurnal(ts_ms) + rng.normal(0.0, 0.05);
            let cable_temp_c = b
                .cables
                .iter()
                .take(b.channels)
                .map(|b| round((b + 4.0 * (load - 0.75) + rng.normal(0.0, 0.4)).clamp(25.0, 45.0), 1))
                .collect();
            WireValues::Electrical(ElectricalValues {
                residual_current_ma: round((b.base_residual + rng.normal(0.0, 5.0)).clamp(10.0, 120.0), 1),
                cable_temp_c,
                current_a: Some(round((b.base_current * load).max(0.1), 2)),
                voltage_v: Some(round(rng.normal(220.0, 2.5).clamp(205.0, 235.0), 1)),
                arc_fault: None,
            })
        }
        Kind::ForestIr => {
            let ambient = b.base_temp + 5.0 * diurnal(ts_ms) + rng.normal(0.0, 0.3);
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
