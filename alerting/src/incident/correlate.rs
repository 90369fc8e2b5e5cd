//! Correlation of detections into incidents (DESIGN §5), pure: alarms of one household (else
//! one device) within the household window join one incident; forest hotspots join an open forest
//! fire within the radius and window; hazards of a device join its open hazard incident. A repeat
//! alarm adds evidence and never opens a second incident; severity only rises, and each rise is an
//! `escalated` audit entry (the only repeat that re-notifies). Every change comes back as an
//! [`Outcome`] for the store and the `fire_incident` lines.
//!
//! An alarm that needs a person's check first — from a device missing from the registry, or a
//! reading older than the alarm age limit — opens or joins an *unverified* incident of its own
//! (keys `unreg:…`, `late:…`): at most `medium`, never confirmed or escalated by the rules, and
//! never joined by live alarms, so a fresh alarm of the same household opens a live fire as
//! usual. A person's `confirm` makes it a live incident with the usual severity.

use std::collections::HashMap;
use std::sync::Arc;

use firegrid_ingest::geo::distance_m;
use firegrid_ingest::{EnrichedReading, Kind, Reading};

use super::evidence::{evidence_of, EvidenceStatus};
use super::id::{incident_id, local_day};
use super::keys::{class_of, device_key, empty_values, fire_key, hazard_key, location, unverified_key};
use super::lifecycle::{Action, Event, TransitionError, ENGINE_ACTOR};
use super::model::{Class, Incident, IncidentSignal, Severity, Status, Verification};
use super::outcome::Outcome;
use super::severity::{confirm, fire_severity, hazard_severity, reassess};
use super::summary::summary;
use crate::detect::{Assessment, DeviceRef, Hazard};
use crate::settings::millis;
use crate::settings::AlertSettings;

/// An action the correlator refuses.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CorrelateError {
    /// No active incident has this id (unknown, or already closed).
    #[error("incident {0} is not active")]
    NotActive(String),
    /// The lifecycle forbids the action.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// The correlation stage: active incidents and the indexes to find them.
#[derive(Debug)]
pub struct Correlator {
    settings: Arc<AlertSettings>,
    active: HashMap<String, Incident>,
    by_key: HashMap<String, String>,
    sounding: HashMap<String, String>,
    forest: Vec<String>,
    counters: HashMap<String, u64>,
    suppressed: u64,
}

/// One assessed reading as correlation sees it.
struct Observation<'a> {
    er: &'a EnrichedReading,
    a: &'a Assessment,
    /// Why its alarm needs a person's check; `None` for a live alarm.
    verification: Option<Verification>,
}

impl Observation<'_> {
    /// Whether the reading tells how the device is now (a late one does not).
    fn live(&self) -> bool {
        self.verification != Some(Verification::LateAlarm)
    }
}

/// What a new incident is, besides the reading that opens it.
struct Opening {
    class: Class,
    key: String,
    verification: Option<Verification>,
}

fn push_unique<T: PartialEq + Clone>(list: &mut Vec<T>, v: &T) -> bool {
    if list.contains(v) {
        return false;
    }
    list.push(v.clone());
    true
}

impl Correlator {
    /// An empty correlator.
    pub(crate) fn new(settings: Arc<AlertSettings>) -> Correlator {
        Correlator {
            settings,
            active: HashMap::new(),
            by_key: HashMap::new(),
            sounding: HashMap::new(),
            forest: Vec::new(),
            counters: HashMap::new(),
            suppressed: 0,
        }
    }

    /// Alarms of unregistered devices stored only because the open unverified incidents were at
    /// their limit, so far.
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Resumes from the store: active incidents (their keys and timers) and id counters.
    pub(crate) fn restore(&mut self, mut incidents: Vec<Incident>, counters: Vec<(String, u64)>) {
        self.counters.extend(counters);
        // Oldest first, so a key's newest incident is the one indexed.
        incidents.sort_by(|a, b| (a.opened_at_ms, &a.id).cmp(&(b.opened_at_ms, &b.id)));
        for inc in incidents {
            if !inc.status.is_terminal() {
                self.index(&inc);
                self.active.insert(inc.id.clone(), inc);
            }
        }
    }

    fn index(&mut self, inc: &Incident) {
        self.by_key.insert(inc.correlation_key.clone(), inc.id.clone());
        if inc.class == Class::ForestFire && inc.verification.is_none() {
            push_unique(&mut self.forest, &inc.id);
        }
        for d in &inc.sounding_devices {
            self.sounding.insert(d.clone(), inc.id.clone());
        }
    }

    fn unindex(&mut self, inc: &Incident) {
        if self.by_key.get(&inc.correlation_key) == Some(&inc.id) {
            self.by_key.remove(&inc.correlation_key);
        }
        self.forest.retain(|id| id != &inc.id);
        self.sounding.retain(|_, id| id != &inc.id);
    }

    /// Active incidents.
    pub fn active(&self) -> impl Iterator<Item = &Incident> {
        self.active.values()
    }

    /// An active incident.
    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.active.get(id)
    }

    /// Active incidents per class, in the order of [`Class::ALL`].
    pub(crate) fn open_counts(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for inc in self.active.values() {
            if let Some(i) = Class::ALL.iter().position(|&c| c == inc.class) {
                n[i] += 1;
            }
        }
        n
    }

    /// Feeds one assessed reading at engine time `now_ms`. `verification` says why its alarm
    /// needs a person's check (unregistered device, late reading), `None` for a live alarm.
    pub(crate) fn observe(
        &mut self,
        er: &EnrichedReading,
        a: &Assessment,
        verification: Option<Verification>,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let r = &er.reading;
        let obs = Observation { er, a, verification };
        // A late reading says nothing about whether the device sounds now.
        let live = obs.live();
        if !a.alarms.is_empty() {
            let id = match verification {
                None => Some(match self.find_fire(er) {
                    Some(id) => id,
                    None => {
                        let opening = Opening { class: class_of(r.kind), key: fire_key(er), verification: None };
                        self.open(er, opening, now_ms, &mut out)
                    }
                }),
                Some(v) => self.unverified(er, v, now_ms, &mut out),
            };
            if let Some(id) = id {
                self.alarm(&id, &obs, now_ms, &mut out);
            }
        } else if live && (a.quiet || a.silenced) {
            if let Some(id) = self.sounding.remove(&r.device_id) {
                if let Some(inc) = self.active.get_mut(&id) {
                    inc.sounding_devices.retain(|d| d != &r.device_id);
                    inc.silenced |= a.silenced;
                    inc.updated_at_ms = now_ms;
                    out.put(inc.clone());
                }
            }
        }
        for (h, reason) in &a.hazards {
            self.hazard(er, *h, reason, now_ms, &mut out);
        }
        out
    }

    /// Adds an alarm reading to incident `id`: evidence, devices, signals, sounding, and the
    /// severity rules — which leave an incident awaiting verification as it is.
    fn alarm(&mut self, id: &str, obs: &Observation<'_>, now_ms: i64, out: &mut Outcome) {
        let (er, a, live) = (obs.er, obs.a, obs.live());
        let r = &er.reading;
        let reason = a.alarms.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; ");
        let settings = self.settings.clone();
        let Some(inc) = self.active.get_mut(id) else { return };
        out.evidence.push(evidence_of(inc, er, &reason));
        inc.evidence_count += 1;
        push_unique(&mut inc.devices, &r.device_id);
        push_unique(&mut inc.alarm_devices, &r.device_id);
        for (s, _) in &a.alarms {
            push_unique(&mut inc.signals, &IncidentSignal::Alarm(*s));
        }
        inc.last_alarm_ms = inc.last_alarm_ms.max(r.ts_ms);
        inc.updated_at_ms = now_ms;
        if live && a.silenced {
            inc.silenced = true;
            inc.sounding_devices.retain(|d| d != &r.device_id);
            self.sounding.remove(&r.device_id);
        } else if live {
            push_unique(&mut inc.sounding_devices, &r.device_id);
            self.sounding.insert(r.device_id.clone(), id.to_owned());
        }
        if inc.verification.is_none() {
            let persisted = r.ts_ms.saturating_sub(inc.first_alarm_ms);
            if live && !a.silenced && persisted >= millis(settings.correlation.confirm_persist) {
                confirm(inc, format!("alarm persisting {} s unsilenced", persisted / 1000));
            }
            reassess(inc, &settings, now_ms, out);
        } else {
            inc.summary = summary(inc);
        }
        out.put(inc.clone());
    }

    /// The unverified incident an alarm needing a check joins or opens; `None` when an
    /// unregistered device's alarm finds the open unverified incidents at their limit (it is
    /// stored only, and counted).
    fn unverified(&mut self, er: &EnrichedReading, v: Verification, now_ms: i64, out: &mut Outcome) -> Option<String> {
        let key = unverified_key(v, er);
        let window = millis(self.settings.correlation.household_window);
        let joinable = |inc: &Incident| {
            inc.class != Class::Hazard
                && (v == Verification::LateAlarm || er.reading.ts_ms <= inc.last_alarm_ms.saturating_add(window))
        };
        if let Some(inc) = self.by_key.get(&key).and_then(|id| self.active.get(id)).filter(|i| joinable(i)) {
            return Some(inc.id.clone());
        }
        if v == Verification::UnregisteredDevice {
            let open = self.active.values().filter(|i| i.verification == Some(v)).count();
            if open >= self.settings.trust.unregistered_max_open_incidents {
                self.suppressed += 1;
                return None;
            }
        }
        let opening = Opening { class: class_of(er.reading.kind), key, verification: Some(v) };
        Some(self.open(er, opening, now_ms, out))
    }

    /// Raises the offline hazard of a silent device.
    pub(crate) fn offline(&mut self, d: &DeviceRef, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let er = EnrichedReading {
            reading: Reading {
                device_id: d.device_id.clone(),
                kind: d.kind,
                county: d.county.clone(),
                township: d.township.clone(),
                ts_ms: now_ms,
                received_at_ms: now_ms,
                seq: None,
                status: firegrid_ingest::Status::Normal,
                values: empty_values(d.kind),
            },
            device: d.device.clone(),
            location_mismatch: false,
        };
        let silent = self.settings.rules(d.device.as_ref().map(|x| x.site_type())).offline_after(d.kind);
        let reason = format!("no message for {} s (offline)", silent.as_secs());
        self.hazard(&er, Hazard::Offline, &reason, now_ms, &mut out);
        if let Some(e) = out.evidence.last_mut() {
            // No reading raised it: the evidence is the silence itself.
            e.values = serde_json::Value::Null;
            e.status = EvidenceStatus::Offline;
        }
        out
    }

    /// Timers: a fire alarm still sounding unsilenced after the persistence delay is confirmed.
    pub(crate) fn tick(&mut self, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let persist = millis(self.settings.correlation.confirm_persist);
        let settings = self.settings.clone();
        for inc in self.active.values_mut() {
            if inc.class != Class::Hazard
                && inc.verification.is_none()
                && inc.severity < Severity::Critical
                && !inc.silenced
                && !inc.sounding_devices.is_empty()
                && now_ms.saturating_sub(inc.opened_at_ms) >= persist
            {
                confirm(inc, format!("alarm persisting {} s unsilenced", persist / 1000));
                reassess(inc, &settings, now_ms, &mut out);
                inc.updated_at_ms = now_ms;
                out.put(inc.clone());
            }
        }
        out
    }

    /// Applies a responder's (or the dispatch stage's) action to an active incident. A repeat
    /// ([`Incident::repeats`]) changes nothing: an empty outcome (no audit entry, no line, no plan).
    pub(crate) fn act(
        &mut self,
        id: &str,
        action: Action,
        actor: &str,
        note: &str,
        now_ms: i64,
    ) -> Result<Outcome, CorrelateError> {
        let inc = self.active.get_mut(id).ok_or_else(|| CorrelateError::NotActive(id.to_owned()))?;
        if inc.repeats(action) {
            return Ok(Outcome::default());
        }
        let awaited = inc.verification.is_some();
        let mut entry = inc.apply(action, actor, note, now_ms)?;
        if awaited && inc.verification.is_none() {
            // Checked by a person: a live fire now, with the severity the usual rules give.
            inc.severity = inc.severity.max(fire_severity(inc, &self.settings));
            entry.severity = inc.severity;
            if inc.class == Class::ForestFire {
                push_unique(&mut self.forest, &id.to_owned());
            }
        }
        let mut out = Outcome::default();
        out.audit.push(entry);
        inc.summary = summary(inc);
        let snapshot = inc.clone();
        if snapshot.status.is_terminal() {
            self.unindex(&snapshot);
            self.active.remove(id);
        }
        out.put(snapshot);
        Ok(out)
    }

    /// Records who was notified (the dispatch stage) and, for an open fire, the `dispatched` transition.
    pub(crate) fn notified(
        &mut self,
        id: &str,
        stations: &[String],
        grids: &[String],
        actor: &str,
        now_ms: i64,
    ) -> Result<Outcome, CorrelateError> {
        let inc = self.active.get_mut(id).ok_or_else(|| CorrelateError::NotActive(id.to_owned()))?;
        for s in stations {
            push_unique(&mut inc.notified_stations, s);
        }
        for g in grids {
            push_unique(&mut inc.notified_grids, g);
        }
        inc.updated_at_ms = now_ms;
        let mut out = Outcome::default();
        if inc.status == Status::Open && inc.class != Class::Hazard {
            out.audit.push(inc.apply(Action::Dispatched, actor, "", now_ms)?);
        }
        out.put(inc.clone());
        Ok(out)
    }

    fn find_fire(&self, er: &EnrichedReading) -> Option<String> {
        let r = &er.reading;
        let c = &self.settings.correlation;
        let (window, key) = if r.kind == Kind::ForestIr {
            (millis(c.forest_window), device_key(er))
        } else {
            (millis(c.household_window), fire_key(er))
        };
        // Live alarms never join an incident that awaits verification.
        let fresh = |inc: &Incident| r.ts_ms <= inc.last_alarm_ms.saturating_add(window) && inc.verification.is_none();
        if let Some(inc) = self.by_key.get(&key).and_then(|id| self.active.get(id)) {
            if fresh(inc) && inc.class != Class::Hazard {
                return Some(inc.id.clone());
            }
        }
        if r.kind != Kind::ForestIr {
            return None;
        }
        let (lat, lon) = location(er)?;
        self.forest
            .iter()
            .filter_map(|id| self.active.get(id))
            .filter(|inc| fresh(inc))
            .filter_map(|inc| Some((inc, distance_m(lat, lon, inc.lat?, inc.lon?))))
            .filter(|(_, d)| *d <= c.forest_radius_m)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(inc, _)| inc.id.clone())
    }

    fn hazard(&mut self, er: &EnrichedReading, h: Hazard, reason: &str, now_ms: i64, out: &mut Outcome) {
        let key = hazard_key(er);
        let id = match self.by_key.get(&key).filter(|id| self.active.contains_key(*id)) {
            Some(id) => id.clone(),
            None => self.open(er, Opening { class: Class::Hazard, key, verification: None }, now_ms, out),
        };
        if let Some(inc) = self.active.get_mut(&id) {
            out.evidence.push(evidence_of(inc, er, reason));
            inc.evidence_count += 1;
            push_unique(&mut inc.signals, &IncidentSignal::Hazard(h));
            inc.last_alarm_ms = inc.last_alarm_ms.max(er.reading.ts_ms);
            inc.updated_at_ms = now_ms;
            let before = inc.severity;
            inc.severity = inc.severity.max(hazard_severity(h));
            inc.summary = summary(inc);
            if inc.severity > before && inc.evidence_count > 1 {
                out.audit.push(inc.audit(Event::Escalated, Some(inc.status), ENGINE_ACTOR, reason, now_ms));
            } else if inc.evidence_count == 1 {
                if let Some(opened) = out.audit.iter_mut().rev().find(|a| a.incident_id == inc.id) {
                    opened.severity = inc.severity;
                    opened.note = reason.to_owned();
                }
            }
            out.put(inc.clone());
        }
    }

    /// Opens an incident for the reading's location and returns its id (evidence is added by the
    /// caller). An incident awaiting verification opens at `medium` and stays there until checked.
    fn open(&mut self, er: &EnrichedReading, opening: Opening, now_ms: i64, out: &mut Outcome) -> String {
        let county = er.county();
        let counter_key = format!("{county}-{}", local_day(now_ms));
        let n = self.counters.entry(counter_key.clone()).or_insert(0);
        *n += 1;
        out.counters.push((counter_key, *n));
        let id = incident_id(county, now_ms, *n);
        let mut inc = fresh(er, id.clone(), opening, now_ms);
        if inc.class != Class::Hazard && inc.verification.is_none() {
            inc.severity = fire_severity(&inc, &self.settings);
        }
        inc.summary = summary(&inc);
        out.audit.push(inc.audit(Event::Opened, None, ENGINE_ACTOR, "", now_ms));
        self.index(&inc);
        self.active.insert(id.clone(), inc);
        id
    }
}

/// A new incident `id` for the reading, at its initial severity: `low` for a hazard, `medium`
/// awaiting verification, `high` for a fire (the severity rules may raise it at once).
fn fresh(er: &EnrichedReading, id: String, opening: Opening, now_ms: i64) -> Incident {
    let r = &er.reading;
    let d = er.device.as_deref();
    let (lat, lon) = location(er).map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let severity = match (opening.class, opening.verification) {
        (Class::Hazard, _) => Severity::Low,
        (_, Some(_)) => Severity::Medium,
        _ => Severity::High,
    };
    Incident {
        id,
        class: opening.class,
        severity,
        status: Status::Open,
        correlation_key: opening.key,
        county: er.county().to_owned(),
        township: er.township().to_owned(),
        community: d.map(|d| d.community().to_owned()).unwrap_or_default(),
        grid_id: d.map(|d| d.grid_id().to_owned()).unwrap_or_default(),
        household_id: d.map(|d| d.household_id().to_owned()).unwrap_or_default(),
        address: d.map(|d| d.address().to_owned()).unwrap_or_default(),
        site_type: d.map(|d| d.site_type()),
        vulnerable: d.is_some_and(|d| d.vulnerable()),
        lat,
        lon,
        devices: vec![r.device_id.clone()],
        alarm_devices: Vec::new(),
        sounding_devices: Vec::new(),
        signals: Vec::new(),
        confirmed: None,
        confirmed_by: None,
        silenced: false,
        opened_at_ms: now_ms,
        updated_at_ms: now_ms,
        first_alarm_ms: r.ts_ms,
        last_alarm_ms: r.ts_ms,
        evidence_count: 0,
        notified_stations: Vec::new(),
        notified_grids: Vec::new(),
        summary: String::new(),
        verification: opening.verification,
    }
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
