//! The detection stage: per-device rule state plus offline tracking, fed one reading at a time.
//!
//! Registered devices are watched for silence and keep their state in a plain map (the registry
//! bounds it). Devices missing from the registry — ids anyone can make up — are never watched
//! and keep their state in a bounded [`Generations`] map. Every state that is not the default is
//! reported as a `rule_state` row change ([`Detector::take_row_changes`]) to persist with the
//! incidents, and [`Detector::restore`] takes the rows back at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use firegrid_ingest::{DeviceRecord, EnrichedReading, Reading, Registry, Status, Values};

use super::dedup::{self, Seen};
use super::generations::Generations;
use super::rules::{electrical, forest_ir, smoke};
use super::signal::Hazard;
use super::state::{DeviceState, KindState};
use super::watch::WatchList;
use super::Rewatch;
use super::{Assessment, Verdict};
use crate::settings::millis;
use crate::settings::{AlertSettings, KindRules};

/// A change of one device's `rule_state` row: the JSON to upsert, or `None` to delete the row.
pub(crate) type RowChange = (String, Option<String>);

/// What the offline tracker remembers of a device, to raise its hazard without a reading.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRef {
    pub(crate) device_id: String,
    pub(crate) kind: firegrid_ingest::Kind,
    /// County (registry's, else topic's).
    pub(crate) county: String,
    /// Township (registry's, else topic's).
    pub(crate) township: String,
    /// The registry entry, when registered.
    pub(crate) device: Option<Arc<DeviceRecord>>,
}

impl DeviceRef {
    /// The reference of a registered device (only registered devices are watched).
    fn of(device: Arc<DeviceRecord>) -> DeviceRef {
        DeviceRef {
            device_id: device.device_id().to_owned(),
            kind: device.kind(),
            county: device.county().to_owned(),
            township: device.township().to_owned(),
            device: Some(device),
        }
    }
}

/// The detection stage (see the module doc).
#[derive(Debug)]
pub struct Detector {
    settings: Arc<AlertSettings>,
    held: Held,
    changes: Vec<RowChange>,
}

/// Where rule state lives: registered devices in their watch slot, unregistered ids in the
/// bounded map, and states restored for registered devices not watched yet aside until they are.
#[derive(Debug)]
struct Held {
    watched: WatchList,
    restored: HashMap<String, DeviceState>,
    unregistered: Generations<DeviceState>,
    /// Watch slots holding a state.
    states: usize,
}

impl Held {
    /// Moves a state restored for the device into its slot, if there is one for it.
    fn adopt_restored(&mut self, i: u32) {
        let Some(slot) = self.watched.get_mut(i) else { return };
        if slot.state.is_none() {
            if let Some(st) = self.restored.remove(slot.device.device_id()) {
                slot.state = Some(st);
                self.states += 1;
            }
        }
    }
}

impl Detector {
    /// An empty detector.
    pub(crate) fn new(settings: Arc<AlertSettings>) -> Detector {
        let cap = settings.trust.unregistered_max_devices;
        Detector {
            settings,
            held: Held {
                watched: WatchList::default(),
                restored: HashMap::new(),
                unregistered: Generations::new(cap),
                states: 0,
            },
            changes: Vec::new(),
        }
    }

    /// Takes back the `rule_state` rows persisted before a restart. A row that does not decode
    /// is skipped (its device starts afresh; its row is replaced on its next change) and
    /// returned with the reason, so the caller can log it.
    pub(crate) fn restore(&mut self, rows: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        let mut evicted = Vec::new();
        for (id, doc) in rows {
            match serde_json::from_str::<DeviceState>(&doc) {
                Ok(mut st) => {
                    st.persisted = true;
                    if st.unregistered {
                        self.held.unregistered.insert(id, st, &mut evicted);
                    } else if let Some(i) = self.held.watched.find(&id) {
                        self.held.restored.insert(id, st);
                        self.held.adopt_restored(i);
                    } else {
                        self.held.restored.insert(id, st);
                    }
                }
                Err(e) => bad.push((id, e.to_string())),
            }
        }
        self.forget(evicted);
        bad
    }

    /// Moves the `rule_state` row changes made since the last call into `into`, in order (a
    /// later change of a device supersedes an earlier one).
    pub(crate) fn take_row_changes(&mut self, into: &mut Vec<RowChange>) {
        into.append(&mut self.changes);
    }

    /// Devices whose rule state is held: (registered, unregistered).
    pub fn held(&self) -> (usize, usize) {
        (self.held.states + self.held.restored.len(), self.held.unregistered.len())
    }

    /// Starts watching a registered device that has not reported yet (start-up, registry load):
    /// it goes offline when silent for its offline delay from `now_ms` (plus the start-up grace).
    pub(crate) fn watch(&mut self, device: &Arc<DeviceRecord>, now_ms: i64) {
        let rules = self.settings.rules(Some(device.site_type()));
        let after = millis(rules.offline_after(device.kind())).saturating_add(millis(self.settings.startup_grace));
        let i = self.held.watched.watch(device, now_ms, after);
        if !self.held.restored.is_empty() {
            self.held.adopt_restored(i);
        }
    }

    /// Watches every device of a (re)loaded registry at once; devices it no longer has stop
    /// holding the previous registry in memory. (The engine does it in steps: [`Self::rewatch_step`].)
    pub(crate) fn watch_registry(&mut self, registry: &Registry, now_ms: i64) {
        let devices = registry.device_list();
        self.watch_devices(devices, now_ms);
        if let Some(current) = devices.first() {
            self.held.watched.detach_removed(current, 0, usize::MAX);
        }
    }

    /// One step of watching a (re)loaded registry: the next `budget` devices of `job`'s registry,
    /// then, once every one is watched, the next `8 × budget` slots given a record of their own when
    /// the registry no longer has their device. Returns whether the job is done. Readings between
    /// steps are evaluated as usual (a device not re-watched yet is brought up to date by its
    /// reading), so a city's reload never holds the engine for more than a step.
    pub(crate) fn rewatch_step(&mut self, job: &mut Rewatch, budget: usize, now_ms: i64) -> bool {
        let devices = job.registry.device_list();
        if job.next == 0 && self.held.watched.is_empty() {
            self.held.watched.reserve(devices.len());
        }
        let end = job.next.saturating_add(budget).min(devices.len());
        self.watch_devices(devices.get(job.next..end).unwrap_or_default(), now_ms);
        job.next = end;
        if end < devices.len() {
            return false;
        }
        let Some(current) = devices.first() else { return true };
        // A slot's check is a pointer comparison: many more of them per step than devices.
        job.detached = self.held.watched.detach_removed(current, job.detached, budget.saturating_mul(8));
        job.detached >= self.held.watched.len()
    }

    /// Watches these devices (room made at once on a first load).
    fn watch_devices(&mut self, devices: &[Arc<DeviceRecord>], now_ms: i64) {
        if self.held.watched.is_empty() {
            self.held.watched.reserve(devices.len());
        }
        for d in devices {
            self.watch(d, now_ms);
        }
    }

    /// Evaluates one reading; `now_ms` is the engine clock (arrival), the rules use the reading's
    /// own `ts` for their windows. Only registered devices are watched for silence.
    pub(crate) fn evaluate(&mut self, er: &EnrichedReading, now_ms: i64) -> Verdict {
        let r = &er.reading;
        let rules = self.settings.rules(er.device.as_ref().map(|d| d.site_type()));
        let slot = match &er.device {
            Some(device) => Some(self.held.watched.seen(device, now_ms, millis(rules.offline_after(r.kind))).0),
            None => self.held.watched.find(&r.device_id),
        };
        let seen = Seen::of(r);
        let dedup = self.settings.correlation.dedup_per_device;
        let Some(st) = state(&mut self.held, &mut self.changes, er, slot) else {
            return Verdict::Assessed(Assessment::default());
        };
        if dedup::is_redelivery(&st.seen, &seen) {
            return Verdict::Duplicate;
        }
        st.seen.push(seen.key, dedup);
        // A reading is proof of life: the offline hazard may be raised again by a later silence.
        st.hazards &= !Hazard::Offline.bit();
        if !st.rules.fits(&r.values) {
            // An unregistered id published under another kind, or a registry edit: start afresh.
            st.rules = KindState::new(r.values.kind());
        }
        let out = assess(rules, st, r);
        if let Some(change) = st.row_change() {
            self.changes.push((r.device_id.clone(), change));
        }
        Verdict::Assessed(out)
    }

    /// Deletes the rows of states dropped from the bounded map.
    fn forget(&mut self, evicted: Vec<(String, DeviceState)>) {
        forget(&mut self.changes, evicted);
    }

    /// Devices that fell silent by `now_ms`: each raised once per silence. Costs O(due devices).
    pub(crate) fn poll_offline(&mut self, now_ms: i64) -> Vec<DeviceRef> {
        let due = self.held.watched.poll(now_ms);
        let mut refs = Vec::with_capacity(due.len());
        for i in due {
            let Some(slot) = self.held.watched.get_mut(i) else { continue };
            if let Some(st) = &mut slot.state {
                st.hazards |= Hazard::Offline.bit();
            }
            refs.push(DeviceRef::of(slot.device.clone()));
        }
        refs
    }

    /// Devices currently offline.
    pub(crate) fn offline_count(&self) -> usize {
        self.held.watched.offline_count()
    }

    /// Devices currently offline per `(county, township)`, when a count changed since the last
    /// call (for the township gauge).
    pub(crate) fn offline_by_township(&mut self) -> Option<impl Iterator<Item = (&str, &str, u32)>> {
        self.held.watched.offline_by_township().take_changed()
    }
}

/// The state of the reading's device, made when new. A device lives in one place only: its
/// watch slot once the registry knows it (taking over a state kept while it was not); a state
/// restored for a device the registry no longer has stays aside and is used as before.
fn state<'a>(
    held: &'a mut Held,
    changes: &mut Vec<RowChange>,
    er: &EnrichedReading,
    slot: Option<u32>,
) -> Option<&'a mut DeviceState> {
    let id = er.reading.device_id.as_str();
    let kind = er.reading.kind;
    if let Some(i) = slot {
        held.adopt_restored(i);
        let s = held.watched.get_mut(i)?;
        if s.state.is_none() {
            let mut st = held.unregistered.remove(id).unwrap_or_else(|| DeviceState::new(kind, false));
            st.unregistered = false;
            s.state = Some(st);
            held.states += 1;
        }
        return s.state.as_mut();
    }
    if held.restored.contains_key(id) {
        return held.restored.get_mut(id);
    }
    let mut evicted = Vec::new();
    let st = held.unregistered.touch(id, || DeviceState::new(kind, true), &mut evicted);
    forget(changes, evicted);
    st
}

/// Deletes the `rule_state` rows of states dropped from the bounded map.
fn forget(changes: &mut Vec<RowChange>, evicted: Vec<(String, DeviceState)>) {
    for (id, st) in evicted {
        if st.persisted {
            changes.push((id, None));
        }
    }
}

/// Runs the kind's rule on a reading (not a redelivery) and keeps the hazard edges: a hazard is
/// reported when it is raised, not again while its condition holds.
fn assess(rules: &KindRules, st: &mut DeviceState, r: &Reading) -> Assessment {
    let mut out = Assessment::default();
    if r.status == Status::Test {
        return out;
    }
    if r.status == Status::Fault {
        out.hazards.push((Hazard::Fault, "device reports status=fault".to_owned()));
    }
    match (&mut st.rules, &r.values) {
        (KindState::Smoke(s), Values::Smoke(v)) => smoke::evaluate(&rules.smoke, s, r, v, &mut out),
        (KindState::Electrical(s), Values::Electrical(v)) => electrical::evaluate(&rules.electrical, s, r, v, &mut out),
        (KindState::ForestIr(s), Values::ForestIr(v)) => forest_ir::evaluate(&rules.forest_ir, s, r, v, &mut out),
        _ => {}
    }
    let (raised, present) = (st.hazards, out.hazards.iter().fold(0u8, |bits, (h, _)| bits | h.bit()));
    out.hazards.retain(|(h, _)| raised & h.bit() == 0);
    // A hazard whose condition is gone may be raised again later.
    st.hazards = (st.hazards & Hazard::Offline.bit()) | present;
    out.quiet = out.alarms.is_empty() && r.status == Status::Normal;
    out
}
