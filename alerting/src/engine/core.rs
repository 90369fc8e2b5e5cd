//! The pure alerting pipeline: detection then correlation, fed with readings, responder actions
//! and clock ticks, every call taking the engine clock `now_ms` explicitly. The engine wraps it
//! with persistence and channels; scenario tests and the bench drive it directly.
//!
//! Trust decisions are taken here, between the two stages (DESIGN §5): a device missing from the
//! registry raises no hazard and, under `alerting.unregistered = "verify"`, only an unverified
//! incident (`"store_only"`: nothing at all, not even rule state); an alarm whose reading is
//! older than `alerting.max_alarm_age_seconds` on arrival is a late alarm, never a live fire.
//! Every outcome carries the rule-state rows its readings changed, to persist with it.

use std::sync::Arc;

use firegrid_ingest::{EnrichedReading, Registry};

use crate::detect::{Detector, Rewatch, Verdict};
use crate::incident::{Action, CorrelateError, Correlator, Incident, Outcome, Verification};
use crate::settings::millis;
use crate::settings::{AlertSettings, UnregisteredPolicy};

/// Detection and correlation state of one engine.
#[derive(Debug)]
pub struct AlertCore {
    settings: Arc<AlertSettings>,
    detector: Detector,
    correlator: Correlator,
    duplicates: u64,
}

impl AlertCore {
    /// An empty core.
    pub fn new(settings: Arc<AlertSettings>) -> AlertCore {
        AlertCore {
            detector: Detector::new(settings.clone()),
            correlator: Correlator::new(settings.clone()),
            settings,
            duplicates: 0,
        }
    }

    /// Watches every registered device for silence, from `now_ms` (start-up and after a
    /// registry reload; public for the city-scale sweep benchmark).
    pub fn watch_registry(&mut self, registry: &Registry, now_ms: i64) {
        self.detector.watch_registry(registry, now_ms);
    }

    /// One step of watching a (re)loaded registry: at most `budget` devices (then `8 × budget` watch
    /// slots to detach from an older registry). Returns whether `job` is done. The engine watches
    /// a registry this way, between readings, so a city's load never holds it for long.
    pub fn rewatch_step(&mut self, job: &mut Rewatch, budget: usize, now_ms: i64) -> bool {
        self.detector.rewatch_step(job, budget, now_ms)
    }

    /// Resumes active incidents, id counters and the per-device rule state (`rule_state` rows
    /// `(device_id, json)`) from the store. Returns the rows that did not decode, with the
    /// reason: their devices start afresh.
    pub fn restore(
        &mut self,
        incidents: Vec<Incident>,
        counters: Vec<(String, u64)>,
        rule_state: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        self.correlator.restore(incidents, counters);
        self.detector.restore(rule_state)
    }

    /// Evaluates one reading and correlates what it raised.
    pub fn on_reading(&mut self, er: &EnrichedReading, now_ms: i64) -> Outcome {
        let registered = er.device.is_some();
        if !registered && self.settings.trust.unregistered == UnregisteredPolicy::StoreOnly {
            return Outcome::default();
        }
        let mut out = match self.detector.evaluate(er, now_ms) {
            Verdict::Duplicate => {
                self.duplicates += 1;
                Outcome::default()
            }
            Verdict::Assessed(mut a) => {
                let late = self.is_late(er);
                if !registered {
                    // Hazards are the grid's closed loop for registered equipment.
                    a.hazards.clear();
                }
                if late {
                    // An old reading says nothing about the device now.
                    a.quiet = false;
                    a.silenced = false;
                }
                let verification = match (registered, late) {
                    (false, _) => Some(Verification::UnregisteredDevice),
                    (true, true) => Some(Verification::LateAlarm),
                    (true, false) => None,
                };
                if a.is_empty() && !a.quiet && !a.silenced {
                    Outcome::default()
                } else {
                    self.correlator.observe(er, &a, verification, now_ms)
                }
            }
        };
        self.detector.take_row_changes(&mut out.rule_state);
        out
    }

    /// The reading was older than the alarm age limit when it arrived.
    fn is_late(&self, er: &EnrichedReading) -> bool {
        let r = &er.reading;
        r.received_at_ms.saturating_sub(r.ts_ms) > millis(self.settings.trust.max_alarm_age)
    }

    /// Clock tick: offline devices and persistence confirmations due by `now_ms`.
    pub fn on_tick(&mut self, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        for d in self.detector.poll_offline(now_ms) {
            out.merge(self.correlator.offline(&d, now_ms));
        }
        out.merge(self.correlator.tick(now_ms));
        self.detector.take_row_changes(&mut out.rule_state);
        out
    }

    /// A responder's action on an active incident.
    pub fn act(
        &mut self,
        id: &str,
        action: Action,
        actor: &str,
        note: &str,
        now_ms: i64,
    ) -> Result<Outcome, CorrelateError> {
        self.correlator.act(id, action, actor, note, now_ms)
    }

    /// Records the stations and grids notified of an incident (the dispatch stage).
    pub(crate) fn notified(
        &mut self,
        id: &str,
        stations: &[String],
        grids: &[String],
        actor: &str,
        now_ms: i64,
    ) -> Result<Outcome, CorrelateError> {
        self.correlator.notified(id, stations, grids, actor, now_ms)
    }

    /// The correlation state (active incidents).
    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    /// The detection state (per-device rule state, offline tracking).
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Devices currently offline.
    pub fn offline_count(&self) -> usize {
        self.detector.offline_count()
    }

    /// Devices currently offline per `(county, township)`, when a count changed since the last
    /// call.
    pub(crate) fn offline_by_township(&mut self) -> Option<impl Iterator<Item = (&str, &str, u32)>> {
        self.detector.offline_by_township()
    }

    /// Redeliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Alarms of unregistered devices stored only (open unverified incidents at their limit) so far.
    pub fn unregistered_suppressed(&self) -> u64 {
        self.correlator.suppressed()
    }
}
