//! Events firegrid must open a fire for: a kitchen fire spreading detector to detector,
//! residual current creeping to an electrical fire, an arc fault, and a forest hotspot growing
//! over four minutes. Each returns its truth record: the class and the highest severity the
//! incident should reach.

use firegrid_ingest::Status;

use crate::fleet::place::offset;
use crate::scenario::inject::Scene;
use crate::scenario::truth::{ExpectedClass, Severity, TruthRecord};
use crate::scenario::values::{electrical, forest, single_device_severity, smoke, Frame};

/// Obscuration grows exponentially from the kitchen detector (about 45 s to the 0.15 dB/m
/// alarm level); each further detector of the home sees the smoke 35–45 s later.
pub(super) fn kitchen_fire(s: &mut Scene<'_>) -> TruthRecord {
    let (start, event) = (s.start(), s.event);
    let mut delay = 0;
    for &d in &event.devices {
        for k in 0..=30i64 {
            let t = k * 5_000 - delay;
            if t < 0 {
                continue;
            }
            let ts = t as f64 / 1000.0;
            let obs = (0.03 * (ts / 28.0).exp()).min(6.0) + s.rng.normal(0.0, 0.002);
            let temp = (s.room + 0.35 * ts).min(90.0);
            let alarm = obs >= 0.15 || temp >= 57.0;
            let status = if alarm { Status::Alarm } else { Status::Normal };
            let values = smoke(obs, temp, alarm, s.battery);
            s.read(start + k * 5_000, d, status, values);
        }
        delay += s.rng.int(35_000, 45_000) as i64;
        // A detector in thick smoke sends no quiet heartbeat in between.
        s.silence(d, start, start + 600_000);
    }
    let devices = &event.devices;
    let mut truth = s.record(&event.id, "kitchen fire spreading detector to detector", devices, start);
    truth.end_ts = start + 150_000;
    truth.expected_class = ExpectedClass::Fire;
    truth.expected_severity = Some(if devices.len() >= 2 { Severity::Critical } else { single_device_severity(s.dev) });
    truth
}

/// 250→320 mA over 40 s, held 40 s (≥ 300 mA for about 50 s), then the breaker trips.
pub(super) fn residual_current_creep(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    for k in 0..=41i64 {
        let t = k as f64 * 2.0;
        let ma = if t <= 40.0 { 250.0 + 70.0 * t / 40.0 } else { 320.0 + s.rng.range(0.0, 12.0) };
        let ma = if t > 80.0 { s.rng.range(20.0, 40.0) } else { ma + s.rng.normal(0.0, 1.5) };
        s.read(start + k * 2_000, first, Status::Normal, electrical(ma, 38.0 + t / 10.0, false));
    }
    s.silence(first, start - 60_000, start + 90_000);
    let mut truth = s.truth("residual current creeping 250→320 mA over 40 s, held, then tripped");
    truth.end_ts = start + 82_000;
    truth.expected_class = ExpectedClass::ElectricalFire;
    truth.expected_severity = Some(single_device_severity(s.dev));
    truth
}

/// Two readings with the arc alarm on, then a quiet one.
pub(super) fn arc_fault(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    for k in 0..3i64 {
        let arc = k < 2;
        let status = if arc { Status::Alarm } else { Status::Normal };
        let values = electrical(s.rng.range(20.0, 60.0), 41.0, arc);
        s.read(start + k * 2_000, first, status, values);
    }
    let mut truth = s.truth("arc fault");
    truth.end_ts = start + 4_000;
    truth.expected_class = ExpectedClass::ElectricalFire;
    truth.expected_severity = Some(single_device_severity(s.dev));
    truth
}

/// A hotspot a few hundred metres from the camera, hotter and larger every 10 s for 4 minutes.
pub(super) fn forest_hotspot(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    let (lat, lon) = (s.dev.lat.unwrap_or_default(), s.dev.lon.unwrap_or_default());
    let at = offset(lat, lon, s.rng.range(0.2, 0.6), s.rng.range(0.0, std::f64::consts::TAU));
    let ambient = s.rng.range(15.0, 28.0);
    for k in 0..=24i64 {
        let f = k as f64 / 24.0;
        let frame = Frame {
            max_temp: ambient + 15.0 + 420.0 * f.powf(1.5),
            px: (2.0 + 600.0 * f * f) as u32,
            smoke_score: 0.25 + 0.7 * f,
            at: Some(at),
            ambient,
        };
        s.read(start + k * 10_000, first, Status::Normal, forest(frame));
    }
    s.silence(first, start, start + 250_000);
    let mut truth = s.truth("forest hotspot growing over 4 minutes");
    truth.end_ts = start + 240_000;
    truth.expected_class = ExpectedClass::ForestFire;
    truth.expected_severity = Some(Severity::Critical);
    truth
}
