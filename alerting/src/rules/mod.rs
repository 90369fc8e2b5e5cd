//! Detection (DESIGN §5) as pure code: readings and an explicit clock in, [`Assessment`]s out.
//! [`Detector`] keeps the small per-device state the rules need (consecutive counts, sustain
//! windows, hotspot frames, hazard edges, the redelivery memory) and the offline tracker. Each
//! kind's rule lives in its own module; none of them does I/O or reads a wall clock.

pub mod electrical;
pub mod forest_ir;
pub mod offline;
pub mod smoke;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use firegrid_ingest::reading::{EnrichedReading, Kind, Status, Values};
use firegrid_ingest::registry::Device;

use crate::config::Settings;
use offline::OfflineTracker;

/// A fire alarm signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Smoke (the detector's alarm or sustained obscuration).
    Smoke,
    /// Heat at a smoke detector.
    Heat,
    /// Electrical fire alarm (residual current, cable temperature, arc fault).
    Electrical,
    /// Confirmed forest hotspot.
    Hotspot,
}

impl Signal {
    /// The name kept in an incident's signals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Smoke => "smoke",
            Signal::Heat => "heat",
            Signal::Electrical => "electrical",
            Signal::Hotspot => "hotspot",
        }
    }
}

/// A hazard (隐患): not a fire, but something the grid must rectify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hazard {
    /// The device reports a fault.
    Fault,
    /// Removed from its base.
    Tamper,
    /// Battery low.
    BatteryLow,
    /// Electrical residual-current pre-alarm.
    ResidualPrealarm,
    /// Forest smoke score pre-alarm (verify).
    SmokePrealarm,
    /// No message for the offline delay.
    Offline,
}

impl Hazard {
    /// The name kept in an incident's signals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hazard::Fault => "fault",
            Hazard::Tamper => "tamper",
            Hazard::BatteryLow => "battery_low",
            Hazard::ResidualPrealarm => "residual_prealarm",
            Hazard::SmokePrealarm => "smoke_prealarm",
            Hazard::Offline => "offline",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What the rules found in one reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Fire alarm signals, with the reason each was raised (level: repeated while the condition holds).
    pub alarms: Vec<(Signal, String)>,
    /// Hazards newly raised by this reading (edge: once until the condition clears).
    pub hazards: Vec<(Hazard, String)>,
    /// The reading says the device is quiet again (normal, no alarm condition).
    pub quiet: bool,
    /// Hush was pressed on the device.
    pub silenced: bool,
}

impl Assessment {
    /// Nothing to correlate.
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.hazards.is_empty()
    }
}

/// Per-device rule state of one kind.
#[derive(Debug, Clone)]
enum KindState {
    Smoke(smoke::SmokeState),
    Electrical(electrical::ElectricalState),
    ForestIr(forest_ir::ForestIrState),
}

#[derive(Debug, Clone)]
struct DeviceState {
    kind: KindState,
    /// Hazards currently raised (bits of [`Hazard`]).
    hazards: u8,
    /// Recent (seq, ts, received_at) of the device, for redelivery detection.
    recent: VecDeque<(Option<u64>, i64, i64)>,
}

/// What the offline tracker remembers of a device, to raise its hazard without a reading.
#[derive(Debug, Clone)]
pub struct DeviceRef {
    /// Device id.
    pub device_id: String,
    /// Kind.
    pub kind: Kind,
    /// County (registry's, else topic's).
    pub county: String,
    /// Township (registry's, else topic's).
    pub township: String,
    /// The registry entry, when registered.
    pub device: Option<Arc<Device>>,
}

/// Result of feeding one reading to the [`Detector`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A redelivery of a reading already evaluated: ignore it.
    Duplicate,
    /// The reading was evaluated.
    Assessed(Assessment),
}

/// The detection stage: per-device rule state plus offline tracking.
#[derive(Debug)]
pub struct Detector {
    settings: Arc<Settings>,
    devices: HashMap<String, DeviceState>,
    offline: OfflineTracker<DeviceRef>,
}

impl Detector {
    /// An empty detector.
    pub fn new(settings: Arc<Settings>) -> Detector {
        Detector { settings, devices: HashMap::new(), offline: OfflineTracker::new() }
    }

    /// Starts watching a registered device that has not reported yet (start-up, registry load):
    /// it goes offline when silent for its offline delay from `now_ms` (plus the start-up grace).
    pub fn watch(&mut self, device: &Arc<Device>, now_ms: i64) {
        if self.offline.contains(&device.device_id) {
            return;
        }
        let rules = self.settings.rules(Some(device.site_type));
        let after = offline_after_ms(rules, device.kind) + ms(self.settings.startup_grace);
        let r = DeviceRef {
            device_id: device.device_id.clone(),
            kind: device.kind,
            county: device.county.clone(),
            township: device.township.clone(),
            device: Some(device.clone()),
        };
        self.offline.seen(&device.device_id, now_ms, after, || r);
    }

    /// Evaluates one reading; `now_ms` is the engine clock (arrival), the rules use the reading's
    /// own `ts` for their windows.
    pub fn evaluate(&mut self, er: &EnrichedReading, now_ms: i64) -> Verdict {
        let r = &er.reading;
        let rules = self.settings.rules(er.device.as_ref().map(|d| d.site_type));
        let after = offline_after_ms(rules, r.kind);
        let back_online = self.offline.seen(&r.device_id, now_ms, after, || device_ref(er));
        let dedup = self.settings.correlation.dedup_per_device;
        if !self.devices.contains_key(&r.device_id) {
            let fresh = DeviceState { kind: new_state(r.kind), hazards: 0, recent: VecDeque::with_capacity(dedup) };
            self.devices.insert(r.device_id.clone(), fresh);
        }
        let Some(st) = self.devices.get_mut(&r.device_id) else { return Verdict::Assessed(Assessment::default()) };
        if is_redelivery(&st.recent, r.seq, r.ts_ms, r.received_at_ms) {
            return Verdict::Duplicate;
        }
        if st.recent.len() >= dedup {
            st.recent.pop_front();
        }
        st.recent.push_back((r.seq, r.ts_ms, r.received_at_ms));
        if back_online {
            st.hazards &= !Hazard::Offline.bit();
        }
        if !matches!(
            (&st.kind, &r.values),
            (KindState::Smoke(_), Values::Smoke(_))
                | (KindState::Electrical(_), Values::Electrical(_))
                | (KindState::ForestIr(_), Values::ForestIr(_))
        ) {
            // The device changed kind (registry edit): start its rule state afresh.
            st.kind = new_state(r.values.kind());
        }
        let mut out = Assessment::default();
        let mut present = 0u8;
        if r.status != Status::Test {
            let mut raise = |h: Hazard, reason: String| {
                present |= h.bit();
                if st.hazards & h.bit() == 0 {
                    out.hazards.push((h, reason));
                }
            };
            if r.status == Status::Fault {
                raise(Hazard::Fault, "device reports status=fault".to_owned());
            }
            match (&mut st.kind, &r.values) {
                (KindState::Smoke(s), Values::Smoke(v)) => {
                    smoke::evaluate(&rules.smoke, s, r.status, v, &mut out.alarms, &mut raise, &mut out.silenced)
                }
                (KindState::Electrical(s), Values::Electrical(v)) => {
                    electrical::evaluate(&rules.electrical, s, r.status, r.ts_ms, v, &mut out.alarms, &mut raise)
                }
                (KindState::ForestIr(s), Values::ForestIr(v)) => {
                    forest_ir::evaluate(&rules.forest_ir, s, r.status, r.ts_ms, v, &mut out.alarms, &mut raise)
                }
                _ => {}
            }
            // A hazard whose condition is gone may be raised again later; offline clears on arrival.
            st.hazards = (st.hazards & Hazard::Offline.bit()) | present;
            out.quiet = out.alarms.is_empty() && r.status == Status::Normal;
        }
        Verdict::Assessed(out)
    }

    /// Devices that fell silent by `now_ms`: each raised once per silence. Costs O(due devices).
    pub fn poll_offline(&mut self, now_ms: i64) -> Vec<DeviceRef> {
        let due = self.offline.poll(now_ms);
        for d in &due {
            if let Some(st) = self.devices.get_mut(&d.device_id) {
                st.hazards |= Hazard::Offline.bit();
            }
        }
        due
    }

    /// Devices currently offline.
    pub fn offline_count(&self) -> usize {
        self.offline.offline_count()
    }
}

/// How long after a message a repeat of its `seq` (with another `ts`) still counts as a redelivery:
/// a payload without `ts` gets the receive time, which differs on redelivery; a device that
/// restarts its counter later is not mistaken for one.
const REDELIVERY_WINDOW_MS: i64 = 5 * 60 * 1000;

/// Same device and same `seq` (same `ts`, or received within the window), or, without a `seq`,
/// the same `ts`.
fn is_redelivery(recent: &VecDeque<(Option<u64>, i64, i64)>, seq: Option<u64>, ts: i64, received: i64) -> bool {
    recent.iter().any(|&(s, t, rx)| match (seq, s) {
        (Some(a), Some(b)) => a == b && (t == ts || received.saturating_sub(rx).abs() < REDELIVERY_WINDOW_MS),
        (None, None) => t == ts,
        _ => false,
    })
}

fn new_state(kind: Kind) -> KindState {
    match kind {
        Kind::Smoke => KindState::Smoke(smoke::SmokeState::default()),
        Kind::Electrical => KindState::Electrical(electrical::ElectricalState::default()),
        Kind::ForestIr => KindState::ForestIr(forest_ir::ForestIrState::default()),
    }
}

fn device_ref(er: &EnrichedReading) -> DeviceRef {
    DeviceRef {
        device_id: er.reading.device_id.clone(),
        kind: er.reading.kind,
        county: er.county().to_owned(),
        township: er.township().to_owned(),
        device: er.device.clone(),
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offline_after_ms(rules: &crate::config::KindRules, kind: Kind) -> i64 {
    ms(match kind {
        Kind::Smoke => rules.smoke.offline_after,
        Kind::Electrical => rules.electrical.offline_after,
        Kind::ForestIr => rules.forest_ir.offline_after,
    })
}

/// Milliseconds of a duration, saturating (rules compare reading timestamps in ms).
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    ms(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeliveries_are_the_same_seq_or_without_seq_the_same_ts() {
        let recent: VecDeque<_> = [(Some(7), 1_000, 1_000), (None, 5_000, 5_100)].into_iter().collect();
        assert!(is_redelivery(&recent, Some(7), 1_000, 90_000_000), "same seq and ts");
        assert!(is_redelivery(&recent, Some(7), 61_000, 61_000), "same seq, receive-time ts, soon after");
        assert!(!is_redelivery(&recent, Some(7), 900_000, 900_000), "a restarted counter much later");
        assert!(!is_redelivery(&recent, Some(8), 1_000, 1_000));
        assert!(is_redelivery(&recent, None, 5_000, 9_000));
        assert!(!is_redelivery(&recent, None, 5_001, 5_001));
    }
}
