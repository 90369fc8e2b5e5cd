//! The readings of a run in time order: every device's normal readings ([`normal`]) merged with
//! what scenarios inject (readings with their own `seq`, raw messages, silences). Pure: the
//! clock is plain epoch milliseconds handed in; the same seed and start give the same message
//! sequence.
//!
//! Layout: this file is [`NormalReadings`] (any device's next normal reading, what the load
//! generator publishes) and the merge; `normal` is a quiet device's noise model, its 24-byte
//! state and the reporting intervals; [`payload`] encodes the wire payloads of DESIGN §2.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use firegrid_ingest::Status;

mod normal;
pub mod payload;

pub use normal::Intervals;

use crate::fleet::{DeviceDirectory, Fleet};
use crate::readings::normal::{normal_values, phase, DeviceState};
use crate::readings::payload::encode;
use crate::scenario::schedule::{Injection, Message, ScheduledReading};

/// A fleet's normal readings one device at a time, in any order (the load generator's source,
/// and what [`ReadingGenerator`] schedules): the compact directory, each device's compact state
/// and the run's seed and topic prefix.
#[derive(Debug)]
pub struct NormalReadings {
    seed: u64,
    prefix: String,
    directory: DeviceDirectory,
    devices: Vec<DeviceState>,
}

impl NormalReadings {
    /// The readings of the devices of `directory` in a run seeded `seed`, under `prefix`.
    pub fn new(directory: DeviceDirectory, seed: u64, prefix: &str) -> NormalReadings {
        let devices = directory.iter().map(|d| DeviceState::new(&d, seed)).collect();
        NormalReadings { seed, prefix: prefix.to_owned(), directory, devices }
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// A normal reading of device `i` at `ts_ms`, advancing its counters; `None` when there
    /// is no device `i`.
    pub fn message(&mut self, i: usize, ts_ms: i64) -> Option<Message> {
        let dev = self.directory.get(i)?;
        let d = self.devices.get_mut(i)?;
        d.seq += 1;
        let values = normal_values(&dev, self.seed, d, ts_ms);
        Some(Message {
            at_ms: ts_ms,
            topic: dev.topic(&self.prefix),
            payload: encode(ts_ms, d.seq, Status::Normal, &values),
            device: Some(i),
        })
    }

    /// A scenario's reading with the device's next `seq`; `None` for an unknown device.
    fn scheduled(&mut self, r: ScheduledReading) -> Option<Message> {
        let dev = self.directory.get(r.device)?;
        let d = self.devices.get_mut(r.device)?;
        d.seq += 1;
        let payload = encode(r.at_ms, d.seq, r.status, &r.values);
        Some(Message { at_ms: r.at_ms, topic: dev.topic(&self.prefix), payload, device: Some(r.device) })
    }

    /// When device `i`'s next normal reading after one due `at` is due: `interval` with ±2 %
    /// jitter drawn from its stream.
    fn next_at(&mut self, i: usize, at: i64, interval: i64) -> Option<i64> {
        let dev = self.directory.get(i)?;
        let d = self.devices.get_mut(i)?;
        let (mut rng, _) = d.resume(&dev, self.seed);
        let jitter = (interval as f64 * rng.range(-0.02, 0.02)) as i64;
        d.save(&rng);
        Some(at + (interval + jitter).max(1))
    }
}

/// Generates a fleet's readings in time order.
#[derive(Debug)]
pub struct ReadingGenerator {
    intervals: Intervals,
    readings: NormalReadings,
    normal: BinaryHeap<Reverse<(i64, usize)>>,
    injected: BinaryHeap<Reverse<(i64, u64)>>,
    pending: HashMap<u64, Pending>,
    /// Silenced devices (no normal readings) in these [from, until) windows.
    silences: HashMap<usize, Vec<(i64, i64)>>,
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
        let directory = DeviceDirectory::of(fleet);
        let readings = NormalReadings::new(directory, seed, prefix);
        let mut normal = BinaryHeap::with_capacity(readings.device_count());
        for (i, d) in readings.directory.iter().enumerate() {
            let first = start_ms + phase(intervals.of(d.kind), seed, d.device_id);
            normal.push(Reverse((first, i)));
        }
        ReadingGenerator {
            intervals,
            readings,
            normal,
            injected: BinaryHeap::new(),
            pending: HashMap::new(),
            silences: HashMap::new(),
            order: 0,
        }
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.readings.device_count()
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
            if s.device < self.device_count() {
                self.silences.entry(s.device).or_default().push((s.from_ms, s.until_ms));
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
                    Pending::Reading(r) => match self.readings.scheduled(r) {
                        Some(m) => return Some(m),
                        None => continue,
                    },
                }
            }
            let Reverse((at, i)) = self.normal.pop()?;
            let interval = self.intervals.of(self.readings.directory.get(i)?.kind);
            let next = self.readings.next_at(i, at, interval)?;
            self.normal.push(Reverse((next, i)));
            if self.silenced(i, at) {
                continue;
            }
            if let Some(m) = self.readings.message(i, at) {
                return Some(m);
            }
        }
    }

    /// Whether device `i`'s normal reading due at `at_ms` is held back by a scenario.
    fn silenced(&self, i: usize, at_ms: i64) -> bool {
        self.silences.get(&i).is_some_and(|w| w.iter().any(|&(from, until)| at_ms >= from && at_ms < until))
    }

    /// A normal reading of device `i` at `ts_ms`, advancing its counters; `None` when there is
    /// no device `i`.
    pub fn normal_message(&mut self, i: usize, ts_ms: i64) -> Option<Message> {
        self.readings.message(i, ts_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, FleetSpec};
    use firegrid_ingest::Kind;
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
            let t = firegrid_ingest::wire::topic::parse("firegrid/v1", &m.topic).expect("valid topic");
            assert_eq!((t.county, t.township, t.kind, t.device_id), (&*d.county, &*d.township, d.kind, &*d.device_id));
            check_normal(d.kind, m);
        }
    }

    #[test]
    fn a_device_costs_the_readings_two_dozen_bytes_of_state() {
        // The load generator keeps this per device, a million of them (issue 14): the old state
        // with its ChaCha stream, topic and baselines was over 400 bytes.
        assert!(std::mem::size_of::<DeviceState>() <= 24, "{}", std::mem::size_of::<DeviceState>());
        let f = fleet();
        let mut r = NormalReadings::new(DeviceDirectory::of(&f), 4, "p");
        let first = r.message(7, START).expect("a device");
        let again = NormalReadings::new(DeviceDirectory::of(&f), 4, "p").message(7, START).expect("a device");
        assert_eq!(first, again, "a reading is a function of the seed, the device and its count");
        assert_ne!(r.message(7, START), Some(first), "the next reading moves on");
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
