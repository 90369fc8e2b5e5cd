//! The pure alerting pipeline: detection then correlation, fed with readings, responder actions
//! and clock ticks, every call taking the engine clock `now_ms` explicitly. The engine wraps it
//! with persistence and channels; scenario tests and the bench drive it directly.

use std::sync::Arc;

use firegrid_ingest::reading::EnrichedReading;
use firegrid_ingest::registry::Registry;

use crate::config::Settings;
use crate::correlate::{CorrelateError, Correlator, Outcome};
use crate::incident::{Action, Incident};
use crate::rules::{Detector, Verdict};

/// Detection and correlation state of one engine.
#[derive(Debug)]
pub struct AlertCore {
    detector: Detector,
    correlator: Correlator,
    duplicates: u64,
}

impl AlertCore {
    /// An empty core.
    pub fn new(settings: Arc<Settings>) -> AlertCore {
        AlertCore { detector: Detector::new(settings.clone()), correlator: Correlator::new(settings), duplicates: 0 }
    }

    /// Watches every registered device for silence, from `now_ms`.
    pub fn watch_registry(&mut self, registry: &Registry, now_ms: i64) {
        for d in registry.devices() {
            self.detector.watch(d, now_ms);
        }
    }

    /// Resumes active incidents and id counters from the store.
    pub fn restore(&mut self, incidents: Vec<Incident>, counters: Vec<(String, u64)>) {
        self.correlator.restore(incidents, counters);
    }

    /// Evaluates one reading and correlates what it raised.
    pub fn on_reading(&mut self, er: &EnrichedReading, now_ms: i64) -> Outcome {
        match self.detector.evaluate(er, now_ms) {
            Verdict::Duplicate => {
                self.duplicates += 1;
                Outcome::default()
            }
            Verdict::Assessed(a) if a.is_empty() && !a.quiet && !a.silenced => Outcome::default(),
            Verdict::Assessed(a) => self.correlator.observe(er, &a, now_ms),
        }
    }

    /// Clock tick: offline devices and persistence confirmations due by `now_ms`.
    pub fn on_tick(&mut self, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        for d in self.detector.poll_offline(now_ms) {
            out.merge(self.correlator.offline(&d, now_ms));
        }
        out.merge(self.correlator.tick(now_ms));
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
    pub fn notified(
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

    /// Devices currently offline.
    pub fn offline_count(&self) -> usize {
        self.detector.offline_count()
    }

    /// Redeliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}
