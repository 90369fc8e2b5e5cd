//! The readings of a run in time order: every device's normal readings ([`normal`]) merged with
//! what scenarios inject (readings with their own `seq`, raw messages, silences). Pure: the
//! clock is plain epoch milliseconds handed in; the same seed and start give the same message
//! sequence.
//!
//! Layout: this file is the merge; `normal` is a quiet device's noise model and reporting
//! intervals; [`payload`] encodes the wire payloads of DESIGN §2.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use firegrid_ingest::Status;

mod normal;
pub mod payload;

pub use normal::Intervals;

use crate::fleet::Fleet;
use crate::readings::normal::{normal_values, phase, DeviceState};
use crate::readings::payload::encode;
use crate::scenario::schedule::{Injection, Message, ScheduledReading};

/// Generates a fleet's readings in time order.
#[derive(Debug)]
pub struct ReadingGenerator {
    intervals: Intervals,
    devices: Vec<DeviceState>,
    normal: BinaryHeap<Reverse<(i64, usize)>>,
    injected: BinaryHeap<Reverse<(i64, u64)>>,
    pending: HashMap<u64, Pending>,
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
            devices.push(DeviceState::new(d, seed, prefix));
            let first = start_ms + phase(intervals.of(d.kind), seed, &d.device_id);
            normal.push(Reverse((first, i)));
        }
        ReadingGenerator { intervals, devices, normal, injected: BinaryHeap::new(), pending: HashMap::new(), order: 0 }
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
                    Pending::Reading(r) => match self.scheduled(r) {
                        Some(m) => return Some(m),
                        None => continue,
                    },
                }
            }
            let Reverse((at, i)) = self.normal.pop()?;
            let device = self.devices.get_mut(i)?;
            let interval = self.intervals.of(device.kind);
            let jitter = (interval as f64 * device.rng.range(-0.02, 0.02)) as i64;
            let silenced = device.silenced(at);
            self.normal.push(Reverse((at + (interval + jitter).max(1), i)));
            if silenced {
                continue;
            }
            if let Some(m) = self.normal_message(i, at) {
                return Some(m);
            }
        }
    }

    /// A scenario's reading with the device's next `seq`; `None` for an unknown device.
    fn scheduled(&mut self, r: ScheduledReading) -> Option<Message> {
        let d = self.devices.get_mut(r.device)?;
        d.seq += 1;
        let payload = encode(r.at_ms, d.seq, r.status, &r.values);
        Some(Message { at_ms: r.at_ms, topic: d.topic.clone(), payload, device: Some(r.device) })
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
