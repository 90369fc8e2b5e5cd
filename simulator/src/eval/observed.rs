//! What the evaluation reads from a running firegrid, as plain values: an incident as the API
//! lists it and a dispatch message as seen on `{prefix}/dispatch/#`, the routing policy as a
//! function, and the matching windows. A leaf: scoring, routing checks and collection all build
//! on it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::scenario::truth::{ExpectedClass, Severity};

/// Why scoring could not be done.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    /// A setting is out of range.
    #[error("invalid evaluation setting: {0}")]
    InvalidSetting(String),
}

/// An incident as the API lists it (the fields the evaluation reads; others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedIncident {
    /// Incident id.
    pub id: String,
    /// Its class (never `none`).
    pub class: ExpectedClass,
    /// Highest severity reached (it never falls).
    pub severity: Severity,
    /// Lifecycle status (`open` until someone is notified); read only to tell an incident that
    /// was never dispatched.
    #[serde(default)]
    pub status: String,
    /// Devices that contributed evidence.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Devices that raised a fire alarm.
    #[serde(default)]
    pub alarm_devices: Vec<String>,
    /// Opened, epoch ms.
    pub opened_at_ms: i64,
    /// First alarm's measurement time, epoch ms (0 when unknown).
    #[serde(default)]
    pub first_alarm_ms: i64,
    /// Stations notified.
    #[serde(default)]
    pub notified_stations: Vec<String>,
    /// Grids notified.
    #[serde(default)]
    pub notified_grids: Vec<String>,
}

impl ObservedIncident {
    /// Whether the API shows it dispatched: anyone notified, or a status past `open`.
    pub(crate) fn was_dispatched(&self) -> bool {
        !self.notified_stations.is_empty() || !self.notified_grids.is_empty() || self.status != "open"
    }
}

/// One dispatch message as seen on the dispatch topics, with the time it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedDispatch {
    /// Incident id.
    pub incident_id: String,
    /// Notification round (1 = opening).
    pub seq: u32,
    /// Severity of the round.
    pub severity: Severity,
    /// `respond`, `verify`, `rectify`, `forward_119`: compared as the policy names it.
    pub role: String,
    /// Station id, or `grid:{grid_id}`.
    pub station_id: String,
    /// When the evaluation received it, epoch ms.
    #[serde(default)]
    pub received_at_ms: i64,
}

/// Who a round notifies: `(station_id, role)` pairs (`grid:{id}` for grid managers).
pub type Notified = BTreeSet<(String, String)>;

/// The routing policy as a function: the pairs an incident of the given severity notifies, or
/// `Err(reason)` when they cannot be computed.
pub type Policy<'a> = dyn Fn(&ObservedIncident, Severity) -> Result<Notified, String> + 'a;

/// What was collected from a run: the incidents, and the dispatch messages when the dispatch
/// topics were listened to for the whole run (else routing is checked against the incidents'
/// notified lists and no time to dispatch is measured).
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The incidents the API listed.
    pub incidents: &'a [ObservedIncident],
    /// The dispatch messages, or `None` when nobody listened.
    pub dispatches: Option<&'a [ObservedDispatch]>,
}

/// Matching windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EvalSettings {
    /// An incident may open this long before the event's `start_ts` (clock skew), ms.
    pub before_ms: i64,
    /// … and up to this long after its `end_ts`, ms.
    pub after_ms: i64,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings { before_ms: 5_000, after_ms: 120_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dispatch_message_decodes_into_what_the_evaluation_reads() {
        let m = r#"{"incident_id":"INC-1","seq":2,"class":"fire","severity":"critical","role":"forward_119",
            "station_id":"ds-500112","status":"dispatched","opened_at":"2026-11-29T06:56:57Z","devices":["a"]}"#;
        let d: ObservedDispatch = serde_json::from_str(m).expect("decodes");
        assert_eq!((d.seq, d.role.as_str(), d.station_id.as_str()), (2, "forward_119", "ds-500112"));
        assert_eq!(d.severity, Severity::Critical);
    }
}
