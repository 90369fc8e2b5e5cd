//! Severity rules of DESIGN §5, pure: a single-device fire alarm is `high`; it is `critical`
//! (confirmed) when two or more devices alarm, smoke and heat or smoke and electrical alarm
//! together, an alarm persists unsilenced, or a responder confirms — and at once for vulnerable
//! households and critical site types. Severity never falls; a rise is an `escalated` transition.

use super::lifecycle::{Event, ENGINE_ACTOR};
use super::model::{Incident, Severity};
use super::outcome::Outcome;
use super::summary::summary;
use crate::detect::{Hazard, Signal};
use crate::settings::AlertSettings;

/// The severity a hazard kind gives its incident.
pub(crate) fn hazard_severity(h: Hazard) -> Severity {
    match h {
        Hazard::ResidualPrealarm | Hazard::SmokePrealarm | Hazard::Tamper => Severity::Medium,
        Hazard::Fault | Hazard::BatteryLow | Hazard::Offline => Severity::Low,
    }
}

/// Marks an incident confirmed (the first reason is kept).
pub(crate) fn confirm(inc: &mut Incident, reason: String) {
    if inc.confirmed.is_none() {
        inc.confirmed = Some(reason);
    }
}

/// The severity rules of a fire incident (DESIGN §5).
pub(crate) fn fire_severity(inc: &Incident, settings: &AlertSettings) -> Severity {
    let critical_site = inc.site_type.is_some_and(|s| settings.correlation.critical_site_types.contains(&s));
    let has = |s: Signal| inc.has_signal(s);
    let smoke_and_heat = has(Signal::Smoke) && has(Signal::Heat);
    let smoke_and_electrical = (has(Signal::Smoke) || has(Signal::Heat)) && has(Signal::Electrical);
    if inc.confirmed.is_some()
        || inc.vulnerable
        || critical_site
        || inc.alarm_devices.len() >= 2
        || smoke_and_heat
        || smoke_and_electrical
    {
        Severity::Critical
    } else {
        Severity::High
    }
}

/// Recomputes a fire's severity; a rise is an `escalated` audit entry (and so a re-notification).
/// An incident awaiting verification keeps its severity (at most `medium`) until a person
/// confirms it.
pub(crate) fn reassess(inc: &mut Incident, settings: &AlertSettings, now_ms: i64, out: &mut Outcome) {
    if inc.verification.is_some() {
        inc.summary = summary(inc);
        return;
    }
    let before = inc.severity;
    inc.severity = before.max(fire_severity(inc, settings));
    inc.summary = summary(inc);
    if inc.severity > before {
        let why = inc.confirmed.clone().unwrap_or_else(|| describe_rise(inc));
        if let Some(opened) =
            out.audit.iter_mut().find(|a| a.incident_id == inc.id && a.event == Event::Opened && a.severity == before)
        {
            // Opened in this same step: it opens at the higher severity, no separate escalation.
            opened.severity = inc.severity;
            opened.note = why;
        } else {
            out.audit.push(inc.audit(Event::Escalated, Some(inc.status), ENGINE_ACTOR, &why, now_ms));
        }
    }
}

fn describe_rise(inc: &Incident) -> String {
    if inc.alarm_devices.len() >= 2 {
        format!("{} devices alarm", inc.alarm_devices.len())
    } else if inc.vulnerable {
        "vulnerable household".to_owned()
    } else if let Some(s) = inc.site_type {
        format!("signals {} at a {} site", inc.signal_names(), s.as_str())
    } else {
        format!("signals {}", inc.signal_names())
    }
}
