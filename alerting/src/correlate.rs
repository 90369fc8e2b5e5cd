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

use firegrid_ingest::{EnrichedReading, Kind, Values};

use crate::config::Settings;
use crate::evidence::{evidence_of, summary};
use crate::incident::{
    Action, AuditEntry, Class, Event, Evidence, Incident, Severity, Status, TransitionError, Verification,
};
use crate::outbox::OutboxEntry;
use crate::rules::{millis, Assessment, DeviceRef, Hazard};
use crate::severity::{confirm, fire_severity, hazard_severity, reassess};

/// The actor name of changes the engine makes itself.
pub const ENGINE_ACTOR: &str = "engine";

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

/// Everything that changed: incident snapshots to upsert, evidence and audit entries to append,
/// incident-number counters and rule-state rows to persist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Changed incidents (latest snapshot of each).
    pub incidents: Vec<Incident>,
    /// New evidence.
    pub evidence: Vec<Evidence>,
    /// New audit entries: one `fire_incident` line each.
    pub audit: Vec<AuditEntry>,
    /// Counters `(county-yyyymmdd, last n)` used for new ids.
    pub counters: Vec<(String, u64)>,
    /// Notifications to enqueue in the same transaction (filled by the dispatch stage).
    pub outbox: Vec<OutboxEntry>,
    /// Dispatch state `(incident_id, json)` to persist in the same transaction (escalation timers).
    pub dispatch_state: Vec<(String, String)>,
    /// Rule-state rows `(device_id, Some(json))` to upsert or `(device_id, None)` to delete, in
    /// order, in the same transaction: the per-device detection state later decisions depend on
    /// (DESIGN §5, guarantees: rule state survives a restart).
    pub rule_state: Vec<(String, Option<String>)>,
}

impl Outcome {
    /// Nothing changed: no incident, evidence, audit entry or rule-state row.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty() && self.evidence.is_empty() && self.audit.is_empty() && self.rule_state.is_empty()
    }

    /// Appends another outcome, keeping one (the latest) snapshot per incident.
    pub fn merge(&mut self, other: Outcome) {
        for inc in other.incidents {
            self.put(inc);
        }
        self.evidence.extend(other.evidence);
        self.audit.extend(other.audit);
        self.counters.extend(other.counters);
        self.outbox.extend(other.outbox);
        self.dispatch_state.extend(other.dispatch_state);
        self.rule_state.extend(other.rule_state);
    }

    fn put(&mut self, inc: Incident) {
        match self.incidents.iter_mut().find(|i| i.id == inc.id) {
            Some(slot) => *slot = inc,
            None => self.incidents.push(inc),
        }
    }
}

/// The correlation stage: active incidents and the indexes to find them.
#[derive(Debug)]
pub struct Correlator {
    settings: Arc<Settings>,
    active: HashMap<String, Incident>,
    by_key: HashMap<String, String>,
    sounding: HashMap<String, String>,
    forest: Vec<String>,
    counters: HashMap<String, u64>,
    suppressed: u64,
}

fn class_of(kind: Kind) -> Class {
    match kind {
        Kind::Smoke => Class::Fire,
        Kind::Electrical => Class::ElectricalFire,
        Kind::ForestIr => Class::ForestFire,
    }
}

fn push_unique(list: &mut Vec<String>, v: &str) -> bool {
    if list.iter().any(|x| x == v) {
        return false;
    }
    list.push(v.to_owned());
    true
}

/// Great-circle distance in metres (haversine, mean Earth radius).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().clamp(0.0, 1.0).asin()
}

impl Correlator {
    /// An empty correlator.
    pub fn new(settings: Arc<Settings>) -> Correlator {
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
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Resumes from the store: active incidents (their keys and timers) and id counters.
    pub fn restore(&mut self, mut incidents: Vec<Incident>, counters: Vec<(String, u64)>) {
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
    pub fn open_counts(&self) -> [usize; 4] {
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
    pub fn observe(
        &mut self,
        er: &EnrichedReading,
        a: &Assessment,
        verification: Option<Verification>,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let r = &er.reading;
        // A late reading says nothing about whether the device sounds now.
        let live = verification != Some(Verification::LateAlarm);
        if !a.alarms.is_empty() {
            let id = match verification {
                None => Some(match self.find_fire(er) {
                    Some(id) => id,
                    None => self.open(er, class_of(r.kind), fire_key(er), None, now_ms, &mut out),
                }),
                Some(v) => self.unverified(er, v, now_ms, &mut out),
            };
            if let Some(id) = id {
                self.alarm(&id, er, a, live, now_ms, &mut out);
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
    fn alarm(&mut self, id: &str, er: &EnrichedReading, a: &Assessment, live: bool, now_ms: i64, out: &mut Outcome) {
        let r = &er.reading;
        let reason = a.alarms.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; ");
        let settings = self.settings.clone();
        let Some(inc) = self.active.get_mut(id) else { return };
        out.evidence.push(evidence_of(inc, er, &reason));
        inc.evidence_count += 1;
        push_unique(&mut inc.devices, &r.device_id);
        push_unique(&mut inc.alarm_devices, &r.device_id);
        for (s, _) in &a.alarms {
            push_unique(&mut inc.signals, s.as_str());
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
        let key = format!("{}:{}", key_prefix(v), fire_key(er));
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
        Some(self.open(er, class_of(er.reading.kind), key, Some(v), now_ms, out))
    }

    /// Raises the offline hazard of a silent device.
    pub fn offline(&mut self, d: &DeviceRef, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let er = EnrichedReading {
            reading: firegrid_ingest::Reading {
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
        let after = self.settings.rules(d.device.as_ref().map(|x| x.site_type));
        let silent = match d.kind {
            Kind::Smoke => after.smoke.offline_after,
            Kind::Electrical => after.electrical.offline_after,
            Kind::ForestIr => after.forest_ir.offline_after,
        };
        let reason = format!("no message for {} s (offline)", silent.as_secs());
        self.hazard(&er, Hazard::Offline, &reason, now_ms, &mut out);
        if let Some(e) = out.evidence.last_mut() {
            // No reading raised it: the evidence is the silence itself.
            e.values = serde_json::Value::Null;
            e.status = "offline".to_owned();
        }
        out
    }

    /// Timers: a fire alarm still sounding unsilenced after the persistence delay is confirmed.
    pub fn tick(&mut self, now_ms: i64) -> Outcome {
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
    pub fn act(
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
                push_unique(&mut self.forest, id);
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
    pub fn notified(
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
            (millis(c.forest_window), format!("dev:{}", r.device_id))
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
            .filter_map(|inc| Some((inc, haversine_m(lat, lon, inc.lat?, inc.lon?))))
            .filter(|(_, d)| *d <= c.forest_radius_m)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(inc, _)| inc.id.clone())
    }

    fn hazard(&mut self, er: &EnrichedReading, h: Hazard, reason: &str, now_ms: i64, out: &mut Outcome) {
        let key = format!("hz:{}", er.reading.device_id);
        let id = match self.by_key.get(&key).filter(|id| self.active.contains_key(*id)) {
            Some(id) => id.clone(),
            None => self.open(er, Class::Hazard, key, None, now_ms, out),
        };
        if let Some(inc) = self.active.get_mut(&id) {
            out.evidence.push(evidence_of(inc, er, reason));
            inc.evidence_count += 1;
            push_unique(&mut inc.signals, h.as_str());
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
    fn open(
        &mut self,
        er: &EnrichedReading,
        class: Class,
        key: String,
        verification: Option<Verification>,
        now_ms: i64,
        out: &mut Outcome,
    ) -> String {
        let r = &er.reading;
        let county = er.county().to_owned();
        let day = crate::incident::local_day(now_ms);
        let counter_key = format!("{county}-{day}");
        let n = self.counters.entry(counter_key.clone()).or_insert(0);
        *n += 1;
        out.counters.push((counter_key, *n));
        let id = crate::incident::incident_id(&county, now_ms, *n);
        let d = er.device.as_deref();
        let (lat, lon) = location(er).map_or((None, None), |(a, b)| (Some(a), Some(b)));
        let initial = match (class, verification) {
            (Class::Hazard, _) => Severity::Low,
            (_, Some(_)) => Severity::Medium,
            _ => Severity::High,
        };
        let mut inc = Incident {
            id: id.clone(),
            class,
            severity: initial,
            status: Status::Open,
            correlation_key: key,
            county,
            township: er.township().to_owned(),
            community: d.map(|d| d.community.clone()).unwrap_or_default(),
            grid_id: d.map(|d| d.grid_id.clone()).unwrap_or_default(),
            household_id: d.map(|d| d.household_id.clone()).unwrap_or_default(),
            address: d.map(|d| d.address.clone()).unwrap_or_default(),
            site_type: d.map(|d| d.site_type.as_str().to_owned()),
            vulnerable: d.is_some_and(|d| d.vulnerable),
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
            verification,
        };
        if class != Class::Hazard && verification.is_none() {
            inc.severity = fire_severity(&inc, &self.settings);
        }
        inc.summary = summary(&inc);
        out.audit.push(inc.audit(Event::Opened, None, ENGINE_ACTOR, "", now_ms));
        self.index(&inc);
        self.active.insert(id.clone(), inc);
        id
    }
}

/// The key prefix of incidents awaiting verification: they never share a key with live ones.
fn key_prefix(v: Verification) -> &'static str {
    match v {
        Verification::UnregisteredDevice => "unreg",
        Verification::LateAlarm => "late",
    }
}

/// The correlation key of a fire alarm: the household, else the device.
fn fire_key(er: &EnrichedReading) -> String {
    match er.device.as_deref() {
        Some(d) if !d.household_id.is_empty() && er.reading.kind != Kind::ForestIr => format!("hh:{}", d.household_id),
        _ => format!("dev:{}", er.reading.device_id),
    }
}

/// The reading's position: a forest hotspot's estimate, else the device's.
fn location(er: &EnrichedReading) -> Option<(f64, f64)> {
    if let Values::ForestIr(v) = &er.reading.values {
        if let (Some(a), Some(b)) = (v.lat, v.lon) {
            return Some((a, b));
        }
    }
    let d = er.device.as_deref()?;
    Some((d.lat?, d.lon?))
}

fn empty_values(kind: Kind) -> Values {
    use firegrid_ingest::{ElectricalValues, ForestIrValues, SmokeValues};
    match kind {
        Kind::Smoke => Values::Smoke(SmokeValues::default()),
        Kind::Electrical => Values::Electrical(ElectricalValues::default()),
        Kind::ForestIr => Values::ForestIr(ForestIrValues::default()),
    }
}
