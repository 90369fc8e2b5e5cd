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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertingConfig;

    /// A high fire incident of `id` with `alarm_devices`, as the incident API shows one.
    fn fire(id: &str, alarm_devices: &[&str]) -> Incident {
        let v = serde_json::json!({
            "id": id, "class": "fire", "severity": "high", "status": "dispatched", "correlation_key": format!("hh:{id}"),
            "county": "500112", "township": "500112002", "community": "", "grid_id": "", "household_id": id,
            "address": "", "site_type": null, "vulnerable": false, "lat": null, "lon": null,
            "devices": alarm_devices, "alarm_devices": alarm_devices, "sounding_devices": alarm_devices,
            "signals": [], "confirmed": null, "confirmed_by": null, "silenced": false,
            "opened_at_ms": 1, "updated_at_ms": 1, "first_alarm_ms": 1, "last_alarm_ms": 1, "evidence_count": 1,
            "notified_stations": [], "notified_grids": [], "summary": "", "verification": null,
        });
        serde_json::from_value(v).expect("an incident")
    }

    #[test]
    fn a_rise_is_its_own_escalated_entry_beside_another_incident_opened_in_the_same_step() {
        let settings = AlertingConfig::default().validate().expect("valid");
        let other = fire("INC-2", &["b"]);
        let mut out = Outcome::default();
        out.audit.push(other.audit(Event::Opened, None, ENGINE_ACTOR, "opened", 1));
        // Two devices alarm: critical.
        let mut inc = fire("INC-1", &["x", "y"]);
        reassess(&mut inc, &settings, 2, &mut out);
        assert_eq!(inc.severity, Severity::Critical);
        let entries: Vec<(&str, Event, Severity)> =
            out.audit.iter().map(|a| (a.incident_id.as_str(), a.event, a.severity)).collect();
        assert_eq!(
            entries,
            vec![("INC-2", Event::Opened, Severity::High), ("INC-1", Event::Escalated, Severity::Critical)]
        );
    }

    #[test]
    fn a_rise_in_the_step_that_opened_the_incident_opens_it_at_the_higher_severity() {
        let settings = AlertingConfig::default().validate().expect("valid");
        let mut inc = fire("INC-1", &["x", "y"]);
        let mut out = Outcome::default();
        out.audit.push(inc.audit(Event::Escalated, None, ENGINE_ACTOR, "earlier", 1));
        out.audit.push(inc.audit(Event::Opened, None, ENGINE_ACTOR, "opened", 1));
        reassess(&mut inc, &settings, 2, &mut out);
        let entries: Vec<(Event, Severity)> = out.audit.iter().map(|a| (a.event, a.severity)).collect();
        assert_eq!(entries, vec![(Event::Escalated, Severity::High), (Event::Opened, Severity::Critical)]);
    }

    #[test]
    fn an_escalation_note_says_why_the_severity_rose() {
        let two = fire("INC-1", &["x", "y"]);
        let vulnerable = Incident { vulnerable: true, ..fire("INC-2", &["x"]) };
        let hospital = Incident { site_type: Some(firegrid_ingest::SiteType::Hospital), ..fire("INC-3", &["x"]) };
        let plain = fire("INC-4", &["x"]);
        let cases = [
            (&two, "2 devices alarm"),
            (&vulnerable, "vulnerable household"),
            (&hospital, "signals  at a hospital site"),
            (&plain, "signals "),
        ];
        for (inc, want) in cases {
            assert_eq!(describe_rise(inc), want, "{}", inc.id);
        }
        let settings = AlertingConfig::default().validate().expect("valid");
        let (mut inc, mut out) = (two.clone(), Outcome::default());
        reassess(&mut inc, &settings, 2, &mut out);
        assert_eq!(out.audit.iter().map(|a| a.note.as_str()).collect::<Vec<_>>(), vec!["2 devices alarm"]);
    }
}
