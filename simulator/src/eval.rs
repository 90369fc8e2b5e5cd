//! Scoring what firegrid did against the ground truth of a run (`firegrid eval`), as pure code
//! over plain values: the truth records, the incidents the API lists and the dispatch messages
//! seen on `firegrid/v1/dispatch/#`. Detection recall of injected fires and of hazards, the
//! nuisance dispatch rate, severity agreement, routing accuracy against the policy and the
//! time-to-dispatch percentiles.
//!
//! The routing policy itself is not here (it lives in `firegrid-alerting`, which this crate must
//! not depend on): the caller passes the policy as a function from an incident and a severity to
//! the `(station_id, role)` pairs it notifies — the binary wraps `alerting::routing::Router`.
//!
//! Matching: a truth event is matched by an incident whose `devices` share a device with the
//! event's and which opened between `start_ts − before_ms` and `end_ts + after_ms`. A fire counts
//! as detected when a matching incident has the expected class; a nuisance (expected `none`) is
//! dispatched as a fire when a matching incident of a fire class was dispatched. Routing is checked
//! per notification round (`seq`): the opening round and every round where severity rose must
//! notify exactly what the policy computes for that severity; rounds at an unchanged severity are
//! escalations (timers) and are not the policy's table.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::eval_report::{percentile, render_table, EvalReport, EventOutcome, Percentiles, Ratio, RoutingMismatch};
use crate::truth::{ExpectedClass, Severity, TruthRecord};

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
    /// `fire`, `electrical_fire`, `forest_fire` or `hazard`.
    pub class: String,
    /// Highest severity reached (it never falls).
    pub severity: String,
    /// Lifecycle status.
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
    fn is_fire_class(&self) -> bool {
        matches!(self.class.as_str(), "fire" | "electrical_fire" | "forest_fire")
    }

    fn was_notified(&self) -> bool {
        !self.notified_stations.is_empty() || !self.notified_grids.is_empty()
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
    pub severity: String,
    /// `respond`, `verify`, `rectify`, `forward_119`.
    pub role: String,
    /// Station id, or `grid:{grid_id}`.
    pub station_id: String,
    /// When the evaluation received it, epoch ms.
    #[serde(default)]
    pub received_at_ms: i64,
}

/// The routing policy as a function: the `(station_id, role)` pairs an incident of the given
/// severity notifies (`grid:{id}` for grid managers), or `Err(reason)` when it cannot be computed.
pub type Policy<'a> = dyn Fn(&ObservedIncident, &str) -> Result<BTreeSet<(String, String)>, String> + 'a;

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

pub(crate) fn class_name(c: ExpectedClass) -> &'static str {
    match c {
        ExpectedClass::Fire => "fire",
        ExpectedClass::ElectricalFire => "electrical_fire",
        ExpectedClass::ForestFire => "forest_fire",
        ExpectedClass::Hazard => "hazard",
        ExpectedClass::None => "none",
    }
}

pub(crate) fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// Whether an incident matches a truth event: a shared device, opened in the window.
pub fn matches(t: &TruthRecord, inc: &ObservedIncident, s: &EvalSettings) -> bool {
    let in_window = inc.opened_at_ms >= t.start_ts - s.before_ms && inc.opened_at_ms <= t.end_ts + s.after_ms;
    in_window && inc.devices.iter().chain(&inc.alarm_devices).any(|d| t.devices.contains(d))
}

/// The rounds of an incident's messages: seq → (severity, sent pairs, first arrival).
type Rounds = BTreeMap<u32, (String, BTreeSet<(String, String)>, i64)>;

fn rounds_of(dispatches: &[ObservedDispatch]) -> BTreeMap<&str, Rounds> {
    let mut out: BTreeMap<&str, Rounds> = BTreeMap::new();
    for d in dispatches {
        let r = out
            .entry(d.incident_id.as_str())
            .or_default()
            .entry(d.seq)
            .or_insert_with(|| (d.severity.clone(), BTreeSet::new(), d.received_at_ms));
        r.1.insert((d.station_id.clone(), d.role.clone()));
        r.2 = r.2.min(d.received_at_ms);
    }
    out
}

fn show_pairs(set: &BTreeSet<(String, String)>) -> Vec<String> {
    set.iter().map(|(s, r)| format!("{s} {r}")).collect()
}

/// How one incident's routing was checked.
#[derive(Debug, Default)]
struct RoutingCheck {
    mismatches: Vec<RoutingMismatch>,
    checked: usize,
    escalations: usize,
}

/// Checks one incident's routing (no mismatch = correct).
fn check_routing(
    inc: &ObservedIncident,
    rounds: Option<&Rounds>,
    use_messages: bool,
    policy: &Policy<'_>,
) -> Result<RoutingCheck, String> {
    let mut out = RoutingCheck { checked: 1, ..RoutingCheck::default() };
    if !use_messages {
        let expected = policy(inc, &inc.severity)?;
        let notified: BTreeSet<String> = inc
            .notified_stations
            .iter()
            .cloned()
            .chain(inc.notified_grids.iter().map(|g| format!("grid:{g}")))
            .collect();
        if expected.is_empty() || !expected.iter().all(|(s, _)| notified.contains(s)) {
            out.mismatches.push(RoutingMismatch {
                incident_id: inc.id.clone(),
                seq: 0,
                severity: inc.severity.clone(),
                expected: show_pairs(&expected),
                sent: notified.into_iter().collect(),
            });
        }
        return Ok(out);
    }
    let Some(rounds) = rounds.filter(|r| !r.is_empty()) else {
        let expected = policy(inc, &inc.severity)?;
        out.mismatches.push(RoutingMismatch {
            incident_id: inc.id.clone(),
            seq: 0,
            severity: inc.severity.clone(),
            expected: show_pairs(&expected),
            sent: Vec::new(),
        });
        return Ok(out);
    };
    out.checked = 0;
    let mut highest = 0u8;
    for (seq, (severity, sent, _)) in rounds {
        let rank = severity_rank(severity);
        if rank <= highest {
            out.escalations += 1; // a round at an unchanged severity: an escalation timer
            continue;
        }
        highest = rank;
        out.checked += 1;
        let expected = policy(inc, severity)?;
        if &expected != sent {
            out.mismatches.push(RoutingMismatch {
                incident_id: inc.id.clone(),
                seq: *seq,
                severity: severity.clone(),
                expected: show_pairs(&expected),
                sent: show_pairs(sent),
            });
        }
    }
    Ok(out)
}

/// Scores a run. `dispatches_observed` says whether the dispatch topics were listened to for
/// the whole run (else routing is checked against the incidents' notified lists and no
/// time-to-dispatch is measured).
pub fn score(
    truth: &[TruthRecord],
    incidents: &[ObservedIncident],
    dispatches: &[ObservedDispatch],
    dispatches_observed: bool,
    policy: &Policy<'_>,
    settings: &EvalSettings,
) -> Result<EvalReport, EvalError> {
    if settings.before_ms < 0 || settings.after_ms < 0 {
        return Err(EvalError::InvalidSetting(format!("windows must not be negative: {settings:?}")));
    }
    let rounds = rounds_of(dispatches);
    let first_dispatch = |id: &str| rounds.get(id).and_then(|r| r.values().map(|x| x.2).min());
    let dispatched = |inc: &ObservedIncident| {
        if dispatches_observed {
            rounds.contains_key(inc.id.as_str())
        } else {
            inc.was_notified() || inc.status != "open"
        }
    };
    let mut events = Vec::new();
    let (mut fires, mut fires_hit, mut hazards, mut hazards_hit) = (0, 0, 0, 0);
    let (mut nuisances, mut nuisance_fired, mut malformed, mut malformed_opened) = (0, 0, 0, 0);
    let (mut sev_total, mut sev_ok) = (0, 0);
    let (mut from_start, mut from_alarm) = (Vec::new(), Vec::new());
    let mut matched_ids: BTreeSet<&str> = BTreeSet::new();
    for t in truth {
        let found: Vec<&ObservedIncident> = incidents.iter().filter(|i| matches(t, i, settings)).collect();
        matched_ids.extend(found.iter().map(|i| i.id.as_str()));
        let want = class_name(t.expected_class);
        let right: Vec<&&ObservedIncident> = found.iter().filter(|i| i.class == want).collect();
        let shown = right.first().copied().or(found.first());
        let mut ev = EventOutcome {
            id: t.id.clone(),
            scenario: t.scenario.clone(),
            expected_class: t.expected_class,
            expected_severity: t.expected_severity,
            incidents: found.iter().map(|i| i.id.clone()).collect(),
            class: shown.map(|i| i.class.clone()),
            severity: shown.map(|i| i.severity.clone()),
            outcome: String::new(),
            dispatch_after_start_ms: None,
            dispatch_after_alarm_ms: None,
        };
        let first = right.iter().filter_map(|i| first_dispatch(&i.id)).min();
        ev.dispatch_after_start_ms = first.map(|f| f - t.start_ts);
        ev.dispatch_after_alarm_ms = right
            .iter()
            .filter(|i| i.first_alarm_ms > 0)
            .map(|i| i.first_alarm_ms)
            .min()
            .and_then(|a| first.map(|f| f - a));
        match t.expected_class {
            ExpectedClass::Fire | ExpectedClass::ElectricalFire | ExpectedClass::ForestFire => {
                fires += 1;
                if right.is_empty() {
                    ev.outcome = if found.is_empty() { "missed" } else { "wrong_class" }.into();
                } else {
                    fires_hit += 1;
                    ev.outcome = "detected".into();
                    from_start.extend(ev.dispatch_after_start_ms);
                    from_alarm.extend(ev.dispatch_after_alarm_ms);
                }
            }
            ExpectedClass::Hazard => {
                hazards += 1;
                if right.is_empty() {
                    ev.outcome = if found.is_empty() { "missed" } else { "wrong_class" }.into();
                } else {
                    hazards_hit += 1;
                    ev.outcome = "detected".into();
                }
            }
            ExpectedClass::None if t.deadletter_reason.is_some() => {
                malformed += 1;
                malformed_opened += usize::from(!found.is_empty());
                ev.outcome = if found.is_empty() { "dead_letter" } else { "opened_not_fire" }.into();
            }
            ExpectedClass::None => {
                nuisances += 1;
                let fired = found.iter().any(|i| i.is_fire_class() && dispatched(i));
                nuisance_fired += usize::from(fired);
                ev.outcome = if fired {
                    "dispatched_as_fire"
                } else if found.is_empty() {
                    "quiet"
                } else {
                    "opened_not_fire"
                }
                .into();
            }
        }
        if let (Some(want_sev), Some(inc)) = (t.expected_severity, right.first()) {
            sev_total += 1;
            sev_ok += usize::from(inc.severity == severity_name(want_sev));
        }
        events.push(ev);
    }
    // The run's incidents: those opened while its events played out.
    let lo = truth.iter().map(|t| t.start_ts).min().unwrap_or(i64::MIN) - settings.before_ms;
    let hi = truth.iter().map(|t| t.end_ts).max().unwrap_or(i64::MAX).saturating_add(settings.after_ms);
    let in_run: Vec<&ObservedIncident> =
        incidents.iter().filter(|i| i.opened_at_ms >= lo && i.opened_at_ms <= hi).collect();
    let unmatched_fire_incidents = in_run
        .iter()
        .filter(|i| i.is_fire_class() && !matched_ids.contains(i.id.as_str()))
        .map(|i| i.id.clone())
        .collect();
    let (mut routed_ok, mut routing_mismatches, mut routing_errors) = (0, Vec::new(), Vec::new());
    let (mut routing_rounds_checked, mut escalation_rounds) = (0, 0);
    for inc in &in_run {
        match check_routing(inc, rounds.get(inc.id.as_str()), dispatches_observed, policy) {
            Ok(c) => {
                routing_rounds_checked += c.checked;
                escalation_rounds += c.escalations;
                routed_ok += usize::from(c.mismatches.is_empty());
                routing_mismatches.extend(c.mismatches);
            }
            Err(e) => routing_errors.push(format!("{}: {e}", inc.id)),
        }
    }
    Ok(EvalReport {
        fire_recall: Ratio::of(fires_hit, fires),
        hazard_recall: Ratio::of(hazards_hit, hazards),
        nuisance_dispatch_rate: Ratio::of(nuisance_fired, nuisances),
        malformed_opened: Ratio::of(malformed_opened, malformed),
        severity_agreement: Ratio::of(sev_ok, sev_total),
        routing_accuracy: Ratio::of(routed_ok, in_run.len()),
        routing_source: if dispatches_observed { "dispatch_messages" } else { "incident_notified" }.into(),
        time_to_dispatch_from_start_ms: Percentiles::of(&from_start),
        time_to_dispatch_from_alarm_ms: Percentiles::of(&from_alarm),
        unmatched_fire_incidents,
        routing_mismatches,
        routing_errors,
        routing_rounds_checked,
        escalation_rounds,
        dispatch_messages: dispatches.len(),
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(id: &str, class: ExpectedClass, sev: Option<Severity>, devices: &[&str], start: i64) -> TruthRecord {
        TruthRecord {
            id: id.into(),
            scenario: "s".into(),
            what: String::new(),
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            household: String::new(),
            county: "500112".into(),
            township: "500112002".into(),
            community: String::new(),
            grid_id: String::new(),
            site_type: "residential".into(),
            vulnerable: false,
            start_ts: start,
            end_ts: start + 60_000,
            expected_class: class,
            expected_severity: sev,
            deadletter_reason: None,
        }
    }

    fn inc(id: &str, class: &str, sev: &str, devices: &[&str], opened: i64) -> ObservedIncident {
        ObservedIncident {
            id: id.into(),
            class: class.into(),
            severity: sev.into(),
            status: "dispatched".into(),
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            alarm_devices: Vec::new(),
            opened_at_ms: opened,
            first_alarm_ms: opened - 500,
            notified_stations: vec!["ms-1".into()],
            notified_grids: Vec::new(),
        }
    }

    fn msg(inc: &str, seq: u32, sev: &str, station: &str, role: &str, at: i64) -> ObservedDispatch {
        ObservedDispatch {
            incident_id: inc.into(),
            seq,
            severity: sev.into(),
            role: role.into(),
            station_id: station.into(),
            received_at_ms: at,
        }
    }

    /// A toy policy: high → micro respond; critical → + township team respond.
    fn policy(_: &ObservedIncident, sev: &str) -> Result<BTreeSet<(String, String)>, String> {
        let mut s = BTreeSet::from([("ms-1".to_owned(), "respond".to_owned())]);
        match sev {
            "high" => {}
            "critical" => {
                s.insert(("tt-1".into(), "respond".into()));
            }
            other => return Err(format!("no policy for {other}")),
        }
        Ok(s)
    }

    #[test]
    fn an_incident_matches_an_event_by_a_shared_device_within_the_window() {
        let s = EvalSettings::default();
        let t = truth("ev-1", ExpectedClass::Fire, Some(Severity::High), &["sd-1", "sd-2"], 100_000);
        let cases = [
            ("shared device, opened after start", &["sd-2"][..], 130_000, true),
            ("other device", &["sd-9"][..], 130_000, false),
            ("opened long before the event", &["sd-1"][..], 90_000, false),
            ("opened within the skew before start", &["sd-1"][..], 96_000, true),
            ("opened after end plus grace", &["sd-1"][..], 160_000 + 120_001, false),
            ("opened at end plus grace", &["sd-1"][..], 160_000 + 120_000, true),
        ];
        for (name, devices, opened, want) in cases {
            assert_eq!(matches(&t, &inc("i", "fire", "high", devices, opened), &s), want, "{name}");
        }
    }

    #[test]
    fn recall_counts_fires_detected_with_their_class_and_tells_missed_from_wrong_class() {
        let t = vec![
            truth("ev-1", ExpectedClass::Fire, Some(Severity::High), &["a"], 0),
            truth("ev-2", ExpectedClass::ElectricalFire, Some(Severity::High), &["b"], 0),
            truth("ev-3", ExpectedClass::ForestFire, Some(Severity::Critical), &["c"], 0),
            truth("ev-4", ExpectedClass::Hazard, Some(Severity::Low), &["d"], 0),
        ];
        let incs = vec![
            inc("i1", "fire", "high", &["a"], 10_000),
            inc("i2", "hazard", "low", &["b"], 10_000),
            inc("i4", "hazard", "medium", &["d"], 10_000),
        ];
        let r = score(&t, &incs, &[], false, &policy, &EvalSettings::default()).expect("scores");
        assert_eq!((r.fire_recall.count, r.fire_recall.total), (1, 3));
        assert_eq!((r.hazard_recall.count, r.hazard_recall.total), (1, 1));
        let outcomes: Vec<&str> = r.events.iter().map(|e| e.outcome.as_str()).collect();
        assert_eq!(outcomes, ["detected", "wrong_class", "missed", "detected"]);
        assert_eq!((r.severity_agreement.count, r.severity_agreement.total), (1, 2), "hazard low vs medium");
    }

    #[test]
    fn a_nuisance_counts_only_when_a_fire_class_incident_of_it_was_dispatched() {
        let cases: [(&str, Vec<ObservedIncident>, bool, &str); 4] = [
            ("nothing opened", vec![], false, "quiet"),
            ("a fire dispatched", vec![inc("i", "fire", "high", &["n"], 5_000)], true, "dispatched_as_fire"),
            ("a hazard opened", vec![inc("i", "hazard", "low", &["n"], 5_000)], false, "opened_not_fire"),
            (
                "a fire opened but nobody notified",
                vec![ObservedIncident {
                    status: "open".into(),
                    notified_stations: vec![],
                    ..inc("i", "fire", "high", &["n"], 5_000)
                }],
                false,
                "opened_not_fire",
            ),
        ];
        for (name, incs, fired, outcome) in cases {
            let t = vec![truth("ev-1", ExpectedClass::None, None, &["n"], 0)];
            let r = score(&t, &incs, &[], false, &policy, &EvalSettings::default()).expect("scores");
            assert_eq!(r.nuisance_dispatch_rate.count, usize::from(fired), "{name}");
            assert_eq!(r.events[0].outcome, outcome, "{name}");
        }
    }

    #[test]
    fn malformed_input_is_not_a_nuisance_and_counts_apart() {
        let mut t = truth("ev-1.1", ExpectedClass::None, None, &["m"], 0);
        t.deadletter_reason = Some("not_json".into());
        let r = score(&[t], &[], &[], true, &policy, &EvalSettings::default()).expect("scores");
        assert_eq!(r.nuisance_dispatch_rate.total, 0);
        assert_eq!((r.malformed_opened.count, r.malformed_opened.total), (0, 1));
        assert_eq!(r.events[0].outcome, "dead_letter");
    }

    #[test]
    fn routing_checks_the_opening_round_and_each_severity_rise_but_not_escalations() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::Critical), &["a"], 0)];
        let i = inc("i1", "fire", "critical", &["a"], 10_000);
        let good = vec![
            msg("i1", 1, "high", "ms-1", "respond", 10_100),
            msg("i1", 2, "high", "ms-2", "respond", 70_100), // escalation: unchanged severity
            msg("i1", 3, "critical", "ms-1", "respond", 80_000),
            msg("i1", 3, "critical", "tt-1", "respond", 80_000),
        ];
        let r = score(&t, std::slice::from_ref(&i), &good, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_accuracy.total), (1, 1), "{:?}", r.routing_mismatches);
        assert_eq!((r.routing_rounds_checked, r.escalation_rounds), (2, 1));
        assert_eq!(r.events[0].dispatch_after_start_ms, Some(10_100));
        assert_eq!(r.events[0].dispatch_after_alarm_ms, Some(600));

        let missing_team =
            vec![msg("i1", 1, "high", "ms-1", "respond", 10_100), msg("i1", 2, "critical", "ms-1", "respond", 80_000)];
        let r =
            score(&t, std::slice::from_ref(&i), &missing_team, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!(r.routing_accuracy.count, 0);
        assert_eq!(r.routing_mismatches[0].seq, 2);
        assert_eq!(r.routing_mismatches[0].expected, ["ms-1 respond", "tt-1 respond"]);

        let nothing_sent =
            score(&t, std::slice::from_ref(&i), &[], true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!(nothing_sent.routing_accuracy.count, 0, "an incident with no message is not routed right");
    }

    #[test]
    fn a_policy_that_cannot_be_computed_is_reported_not_counted_right() {
        let t = vec![truth("ev-1", ExpectedClass::Hazard, Some(Severity::Low), &["a"], 0)];
        let i = inc("i1", "hazard", "low", &["a"], 10_000);
        let m = vec![msg("i1", 1, "low", "grid:g1", "rectify", 10_100)];
        let r = score(&t, &[i], &m, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_accuracy.total), (0, 1));
        assert_eq!(r.routing_errors, ["i1: no policy for low"]);
    }

    #[test]
    fn without_dispatch_messages_routing_is_checked_against_the_notified_lists() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::Critical), &["a"], 0)];
        let mut i = inc("i1", "fire", "critical", &["a"], 10_000);
        i.notified_stations = vec!["ms-1".into(), "tt-1".into(), "ms-7".into()];
        let r = score(&t, std::slice::from_ref(&i), &[], false, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_source.as_str()), (1, "incident_notified"));
        i.notified_stations = vec!["ms-1".into()];
        let r = score(&t, &[i], &[], false, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!(r.routing_accuracy.count, 0);
    }

    #[test]
    fn incidents_of_the_run_that_match_no_event_are_listed_and_those_outside_it_ignored() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::High), &["a"], 100_000)];
        let incs = vec![
            inc("i1", "fire", "high", &["a"], 110_000),
            inc("i2", "fire", "high", &["z"], 120_000),
            inc("i3", "fire", "high", &["y"], 1_000),
        ];
        let m =
            vec![msg("i1", 1, "high", "ms-1", "respond", 110_050), msg("i2", 1, "high", "ms-1", "respond", 120_050)];
        let r = score(&t, &incs, &m, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!(r.unmatched_fire_incidents, ["i2"]);
        assert_eq!(r.routing_accuracy.total, 2, "i3 opened before the run");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let cases: [(&[i64], f64, Option<i64>); 6] = [
            (&[], 50.0, None),
            (&[7], 99.0, Some(7)),
            (&[1, 2, 3, 4], 50.0, Some(2)),
            (&[1, 2, 3, 4], 95.0, Some(4)),
            (&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90.0, Some(90)),
            (&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 95.0, Some(100)),
        ];
        for (sample, p, want) in cases {
            assert_eq!(percentile(sample, p), want, "{sample:?} p{p}");
        }
        let p = Percentiles::of(&[300, 100, 200]);
        assert_eq!((p.p50, p.max, p.count), (Some(200), Some(300), 3));
    }

    #[test]
    fn negative_windows_are_refused() {
        let s = EvalSettings { before_ms: -1, after_ms: 0 };
        assert!(matches!(score(&[], &[], &[], true, &policy, &s), Err(EvalError::InvalidSetting(_))));
    }

    #[test]
    fn the_table_names_every_figure_and_event() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::High), &["a"], 0)];
        let r = score(&t, &[], &[], true, &policy, &EvalSettings::default()).expect("ok");
        let table = render_table(&r);
        for want in ["fire recall", "0.0 % (0/1)", "routing accuracy", "time to dispatch", "ev-1", "missed"] {
            assert!(table.contains(want), "{want} in\n{table}");
        }
    }
}
