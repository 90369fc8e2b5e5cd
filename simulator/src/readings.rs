//! Normal readings of a fleet over time: each device reports at its kind's interval (with a
//! little jitter) values with realistic noise — quiet smoke detectors with a slowly draining
//! battery, electrical monitors with leakage current and warm cables, forest cameras that see
//! the day's warmth and no hotspot — plus whatever scenarios inject. Pure: the clock is plain
//! epoch milliseconds handed in; the same seed and start give the same message sequence.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use firegrid_ingest::reading::{Kind, Status};
use firegrid_ingest::registry::SiteType;
use firegrid_ingest::topic::reading_topic;

use crate::fleet::Fleet;
use crate::payload::{encode, round, ElectricalValues, ForestIrValues, SmokeValues, WireValues};
use crate::rng::SimRng;
use crate::scenario::Injection;

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

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// When it is due (and, for readings, its `ts`), epoch ms.
    pub at_ms: i64,
    /// MQTT topic.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Index of the device in the fleet, when it is a device's reading.
    pub device: Option<usize>,
}

/// A reading a scenario schedules for a device; the generator adds `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledReading {
    /// Measurement time, epoch ms.
    pub at_ms: i64,
    /// Device index in the fleet.
    pub device: usize,
    /// The device's status.
    pub status: Status,
    /// The values.
    pub values: WireValues,
}

/// Per-device state: counters and the baselines its noise moves around.
#[derive(Debug)]
struct DeviceState {
    kind: Kind,
    topic: String,
    seq: u64,
    rng: SimRng,
    battery: f64,
    base_temp: f64,
    base_obscuration: f64,
    base_residual: f64,
    cable_base: Vec<f64>,
    base_current: f64,
    /// Silenced (no normal readings) in these [from, until) windows.
    silences: Vec<(i64, i64)>,
}

/// Generates a fleet's readings in time order.
#[derive(Debug)]
pub struct ReadingGenerator {
    intervals: Intervals,
    devices: Vec<DeviceState>,
    normal: BinaryHeap<Reverse<(i64, usize)>>,
    injected: BinaryHeap<Reverse<(i64, u64)>>,
    pending: std::collections::HashMap<u64, Pending>,
    order: u64,
}

#[derive(Debug, Clone)]
enum Pending {
    Reading(ScheduledReading),
    Raw(Message),
}

impl ReadingGenerator {
    /// A generator for `fleet` whose first readings fall in the first interval after `start_ms`.
    pub fn new(fleet: &Fleet, seed: u64, start_ms: i64, prefix: &str, intervals: Intervals) -> ReadingGenerator {
        let mut devices = Vec::with_capacity(fleet.devices.len());
        let mut normal = BinaryHeap::with_capacity(fleet.devices.len());
        for (i, d) in fleet.devices.iter().enumerate() {
            let mut rng = SimRng::derive(seed, &d.device_id);
            let channels = match d.site_type {
                SiteType::SmallVenue => rng.int(1, 2),
                SiteType::Rental => 3,
                _ => 4,
            };
            let indoor = d.kind != Kind::ForestIr;
            let state = DeviceState {
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
            };
            let first = start_ms + phase(intervals.of(d.kind), seed, &d.device_id);
            normal.push(Reverse((first, i)));
            devices.push(state);
        }
        ReadingGenerator {
            intervals,
            devices,
            normal,
            injected: BinaryHeap::new(),
            pending: std::collections::HashMap::new(),
            order: 0,
        }
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Adds a scenario's readings, raw messages and silences.
    pub fn inject(&mut self, injection: &Injection) {
        for r in &injection.readings {
            self.push(r.at_ms, Pending::Reading(r.clone()));
        }
        for m in &injection.raw {
            self.push(m.at_ms, Pending::Raw(m.clone()));
        }
        for s in &injection.silences {
            if let Some(d) = self.devices.get_mut(s.device) {
                d.silences.push((s.from_ms, s.until_ms));
            }
        }
    }

    fn push(&mut self, at_ms: i64, p: Pending) {
        self.order += 1;
        self.pending.insert(self.order, p);
        self.injected.push(Reverse((at_ms, self.order)));
    }

    /// When the next message is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        let a = self.normal.peek().map(|Reverse((t, _))| *t);
        let b = self.injected.peek().map(|Reverse((t, _))| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message due at or before `until_ms`, in time order (injected first on a tie).
    pub fn next_until(&mut self, until_ms: i64) -> Option<Message> {
        loop {
            let due = self.next_due()?;
            if due > until_ms {
                return None;
            }
            let injected_first = self.injected.peek().is_some_and(|Reverse((t, _))| *t == due);
            if injected_first {
                let Reverse((_, key)) = self.injected.pop()?;
                match self.pending.remove(&key)? {
                    Pending::Raw(m) => return Some(m),
                    Pending::Reading(r) => {
                        let Some(d) = self.devices.get_mut(r.device) else { continue };
                        d.seq += 1;
                        let payload = encode(r.at_ms, d.seq, r.status, &r.values);
                        return Some(Message {
                            at_ms: r.at_ms,
                            topic: d.topic.clone(),
                            payload,
                            device: Some(r.device),
                        });
                    }
                }
            }
            let Reverse((at, i)) = self.normal.pop()?;
            let interval = self.intervals.of(self.devices[i].kind);
            let jitter = (interval as f64 * self.devices[i].rng.range(-0.02, 0.02)) as i64;
            self.normal.push(Reverse((at + (interval + jitter).max(1), i)));
            if self.devices[i].silences.iter().any(|&(from, until)| at >= from && at < until) {
                continue;
            }
            if let Some(m) = self.normal_message(i, at) {
                return Some(m);
            }
        }
    }

    /// A normal reading of device `i` at `ts_ms`, advancing its counters (the load generator
    /// uses this directly); `None` when there is no device `i`.
    pub fn normal_message(&mut self, i: usize, ts_ms: i64) -> Option<Message> {
        let d = self.devices.get_mut(i)?;
        d.seq += 1;
        let values = normal_values(d, ts_ms);
        Some(Message {
            at_ms: ts_ms,
            topic: d.topic.clone(),
            payload: encode(ts_ms, d.seq, Status::Normal, &values),
            device: Some(i),
        })
    }
}

/// A device's first report falls at a stable, device-specific phase of its interval.
fn phase(interval: i64, seed: u64, device_id: &str) -> i64 {
    let mut rng = SimRng::derive(seed ^ 0x9e37_79b9, device_id);
    rng.below(interval.max(1) as u64) as i64
}

/// Daily temperature swing: coolest before dawn, warmest mid-afternoon (Chongqing, UTC+8).
fn diurnal(ts_ms: i64) -> f64 {
    let hour = ((ts_ms / 1000 + 8 * 3600).rem_euclid(86_400)) as f64 / 3600.0;
    ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin()
}

fn normal_values(d: &mut DeviceState, ts_ms: i64) -> WireValues {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, FleetSpec};
    use serde_json::Value;

    const START: i64 = 1_795_930_000_000;

    fn fleet() -> Fleet {
        generate_registry(&FleetSpec::default()).expect("fleet")
    }

    fn drain(g: &mut ReadingGenerator, until: i64) -> Vec<Message> {
        std::iter::from_fn(|| g.next_until(until)).collect()
    }

    fn num(v: &Value, key: &str) -> f64 {
        v.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
    }

    /// Checks one normal payload against DESIGN §2 and the normal ranges of a quiet fleet.
    fn check_normal(kind: Kind, m: &Message) {
        let v: Value = serde_json::from_slice(&m.payload).expect("JSON");
        assert!(m.payload.len() <= 4096);
        assert_eq!(v["ts"].as_i64(), Some(m.at_ms));
        assert!(v["seq"].is_u64());
        assert_eq!(v["status"], "normal");
        let values = &v["values"];
        assert!(values.is_object());
        match kind {
            Kind::Smoke => {
                assert!((0.01..=0.05).contains(&num(values, "obscuration_db_m")), "{values}");
                assert!((18.0..=30.0).contains(&num(values, "temperature_c")), "{values}");
                assert!((0.0..=100.0).contains(&num(values, "battery_pct")), "{values}");
            }
            Kind::Electrical => {
                assert!((10.0..=120.0).contains(&num(values, "residual_current_ma")), "{values}");
                let cables = values["cable_temp_c"].as_array().expect("array");
                assert!((1..=8).contains(&cables.len()));
                assert!(cables.iter().all(|c| c.as_f64().is_some_and(|c| (25.0..=45.0).contains(&c))), "{values}");
                assert!((0.0..=2000.0).contains(&num(values, "current_a")));
                assert!((205.0..=235.0).contains(&num(values, "voltage_v")));
            }
            Kind::ForestIr => {
                let ambient = num(values, "ambient_c");
                let max = num(values, "max_temp_c");
                assert!(max > ambient && max < ambient + 10.0 && max < 50.0, "{values}");
                assert_eq!(values["hotspot_px"].as_u64(), Some(0));
                assert!((0.0..=0.2).contains(&num(values, "smoke_score")));
            }
        }
    }

    #[test]
    fn every_normal_payload_is_well_formed_and_in_its_normal_range() {
        let f = fleet();
        let mut g = ReadingGenerator::new(&f, 1, START, "firegrid/v1", Intervals::default().sped_up(60.0));
        let msgs = drain(&mut g, START + 120_000);
        // Two minutes at 60×: every smoke detector once or more (30 s heartbeat), the rest often.
        assert!(msgs.len() > f.devices.len() * 3, "{}", msgs.len());
        let mut last = i64::MIN;
        for m in &msgs {
            assert!(m.at_ms >= last, "time order");
            last = m.at_ms;
            let d = &f.devices[m.device.expect("a device reading")];
            let t = firegrid_ingest::topic::parse("firegrid/v1", &m.topic).expect("valid topic");
            assert_eq!((t.county, t.township, t.kind, t.device_id), (&*d.county, &*d.township, d.kind, &*d.device_id));
            check_normal(d.kind, m);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_message_sequence() {
        let f = fleet();
        let run = |seed| {
            let mut g = ReadingGenerator::new(&f, seed, START, "firegrid/v1", Intervals::default().sped_up(60.0));
            drain(&mut g, START + 30_000)
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn seq_counts_up_per_device_and_battery_only_declines() {
        let f = fleet();
        let mut g = ReadingGenerator::new(&f, 2, START, "p", Intervals::default());
        let msgs = drain(&mut g, START + 2 * 3_600_000);
        let mut last: std::collections::HashMap<usize, (u64, f64)> = std::collections::HashMap::new();
        for m in msgs {
            let v: Value = serde_json::from_slice(&m.payload).expect("json");
            let seq = v["seq"].as_u64().expect("seq");
            let battery = v["values"]["battery_pct"].as_f64().unwrap_or(0.0);
            if let Some((s, b)) = last.insert(m.device.expect("device"), (seq, battery)) {
                assert_eq!(seq, s + 1);
                assert!(battery <= b);
            }
        }
    }

    #[test]
    fn devices_report_at_their_kinds_interval() {
        let f = fleet();
        let iv = Intervals::default();
        let mut g = ReadingGenerator::new(&f, 3, START, "p", iv);
        let hours = 2;
        let msgs = drain(&mut g, START + hours * 3_600_000);
        for kind in Kind::ALL {
            let n = msgs.iter().filter(|m| m.device.is_some_and(|d| f.devices[d].kind == kind)).count() as f64;
            let want = f.count(kind) as f64 * (hours * 3_600_000) as f64 / iv.of(kind) as f64;
            assert!((n / want - 1.0).abs() < 0.05, "{kind:?}: {n} vs {want}");
        }
    }
}
