//! Scoring a run against its ground truth, as pure code over plain values: detection recall of
//! injected fires and of hazards, the nuisance dispatch rate, malformed input that opened
//! incidents, severity agreement, routing accuracy against the policy (see `routing`) and the
//! time-to-dispatch percentiles.
//!
//! Matching: a truth event is matched by an incident whose `devices` share a device with the
//! event's and which opened between `start_ts − before_ms` and `end_ts + after_ms`. A fire counts
//! as detected when a matching incident has the expected class; a nuisance (expected `none`) is
//! dispatched as a fire when a matching incident of a fire class was dispatched.

use std::collections::{BTreeMap, BTreeSet};

use crate::eval::observed::{EvalError, EvalSettings, Observed, ObservedIncident, Policy};
use crate::eval::report::{EvalReport, EventOutcome, Outcome, Percentiles, Ratio, RoutingMismatch, RoutingSource};
use crate::eval::routing::{check_routing, rounds_of, Rounds};
use crate::scenario::truth::{ExpectedClass, TruthRecord};

/// Whether an incident matches a truth event: a shared device, opened in the window.
pub(crate) fn matches(t: &TruthRecord, inc: &ObservedIncident, s: &EvalSettings) -> bool {
    let in_window = inc.opened_at_ms >= t.start_ts - s.before_ms && inc.opened_at_ms <= t.end_ts + s.after_ms;
    in_window && inc.devices.iter().chain(&inc.alarm_devices).any(|d| t.devices.contains(d))
}

/// Counts over the truth events, as the report's ratios and samples need them.
#[derive(Debug, Default)]
struct Tally {
    fires: usize,
    fires_hit: usize,
    hazards: usize,
    hazards_hit: usize,
    nuisances: usize,
    nuisance_fired: usize,
    malformed: usize,
    malformed_opened: usize,
    severity_total: usize,
    severity_ok: usize,
    from_start: Vec<i64>,
    from_alarm: Vec<i64>,
}

/// What judging an event reads: the incidents, the rounds of each (when the dispatch topics were
/// listened to) and the windows.
struct Judge<'a> {
    incidents: &'a [ObservedIncident],
    rounds: Option<&'a BTreeMap<&'a str, Rounds>>,
    settings: &'a EvalSettings,
}

impl Judge<'_> {
    /// When an incident's first dispatch message arrived.
    fn first_dispatch(&self, id: &str) -> Option<i64> {
        self.rounds?.get(id)?.values().map(|r| r.first_at_ms).min()
    }

    /// Whether an incident was dispatched: a message seen, or (without messages) the API says so.
    fn dispatched(&self, inc: &ObservedIncident) -> bool {
        match self.rounds {
            Some(rounds) => rounds.contains_key(inc.id.as_str()),
            None => inc.was_dispatched(),
        }
    }

    /// Judges one event, counting it into `tally`; returns its outcome and the ids of the
    /// incidents it matched.
    fn event<'i>(&'i self, t: &TruthRecord, tally: &mut Tally) -> (EventOutcome, Vec<&'i str>) {
        let found: Vec<&ObservedIncident> = self.incidents.iter().filter(|i| matches(t, i, self.settings)).collect();
        let right: Vec<&ObservedIncident> = found.iter().copied().filter(|i| i.class == t.expected_class).collect();
        let shown = right.first().or(found.first());
        let first = right.iter().filter_map(|i| self.first_dispatch(&i.id)).min();
        let first_alarm = right.iter().filter(|i| i.first_alarm_ms > 0).map(|i| i.first_alarm_ms).min();
        let mut ev = EventOutcome {
            id: t.id.clone(),
            scenario: t.scenario.clone(),
            expected_class: t.expected_class,
            expected_severity: t.expected_severity,
            incidents: found.iter().map(|i| i.id.clone()).collect(),
            class: shown.map(|i| i.class),
            severity: shown.map(|i| i.severity),
            outcome: Outcome::Missed,
            dispatch_after_start_ms: first.map(|f| f - t.start_ts),
            dispatch_after_alarm_ms: first_alarm.and_then(|a| first.map(|f| f - a)),
        };
        ev.outcome = self.outcome(t, &found, &right, tally);
        if t.expected_class.is_fire() && ev.outcome == Outcome::Detected {
            tally.from_start.extend(ev.dispatch_after_start_ms);
            tally.from_alarm.extend(ev.dispatch_after_alarm_ms);
        }
        if let (Some(want), Some(inc)) = (t.expected_severity, right.first()) {
            tally.severity_total += 1;
            tally.severity_ok += usize::from(inc.severity == want);
        }
        (ev, found.iter().map(|i| i.id.as_str()).collect())
    }

    /// The outcome of an event that matched `found`, `right` of them of the expected class.
    fn outcome(
        &self,
        t: &TruthRecord,
        found: &[&ObservedIncident],
        right: &[&ObservedIncident],
        tally: &mut Tally,
    ) -> Outcome {
        let missed = if found.is_empty() { Outcome::Missed } else { Outcome::WrongClass };
        match t.expected_class {
            ExpectedClass::Fire | ExpectedClass::ElectricalFire | ExpectedClass::ForestFire => {
                tally.fires += 1;
                tally.fires_hit += usize::from(!right.is_empty());
                if right.is_empty() {
                    missed
                } else {
                    Outcome::Detected
                }
            }
            ExpectedClass::Hazard => {
                tally.hazards += 1;
                tally.hazards_hit += usize::from(!right.is_empty());
                if right.is_empty() {
                    missed
                } else {
                    Outcome::Detected
                }
            }
            ExpectedClass::None if t.deadletter_reason.is_some() => {
                tally.malformed += 1;
                tally.malformed_opened += usize::from(!found.is_empty());
                if found.is_empty() {
                    Outcome::DeadLetter
                } else {
                    Outcome::OpenedNotFire
                }
            }
            ExpectedClass::None => {
                tally.nuisances += 1;
                let fired = found.iter().any(|i| i.class.is_fire() && self.dispatched(i));
                tally.nuisance_fired += usize::from(fired);
                match (fired, found.is_empty()) {
                    (true, _) => Outcome::DispatchedAsFire,
                    (false, true) => Outcome::Quiet,
                    (false, false) => Outcome::OpenedNotFire,
                }
            }
        }
    }
}

/// The routing of a run's incidents, summed.
#[derive(Debug, Default)]
struct RoutingTally {
    routed_ok: usize,
    mismatches: Vec<RoutingMismatch>,
    errors: Vec<String>,
    rounds_checked: usize,
    escalation_rounds: usize,
}

fn check_all(
    in_run: &[&ObservedIncident],
    rounds: Option<&BTreeMap<&str, Rounds>>,
    policy: &Policy<'_>,
) -> RoutingTally {
    let mut out = RoutingTally::default();
    let none = Rounds::new();
    for inc in in_run {
        let mine = rounds.map(|r| r.get(inc.id.as_str()).unwrap_or(&none));
        match check_routing(inc, mine, policy) {
            Ok(c) => {
                out.rounds_checked += c.checked;
                out.escalation_rounds += c.escalations;
                out.routed_ok += usize::from(c.mismatches.is_empty());
                out.mismatches.extend(c.mismatches);
            }
            Err(e) => out.errors.push(format!("{}: {e}", inc.id)),
        }
    }
    out
}

/// The incidents of the run: those opened while its events played out (with the windows).
fn in_run<'a>(truth: &[TruthRecord], incidents: &'a [ObservedIncident], s: &EvalSettings) -> Vec<&'a ObservedIncident> {
    let lo = truth.iter().map(|t| t.start_ts).min().unwrap_or(i64::MIN).saturating_sub(s.before_ms);
    let hi = truth.iter().map(|t| t.end_ts).max().unwrap_or(i64::MAX).saturating_add(s.after_ms);
    incidents.iter().filter(|i| i.opened_at_ms >= lo && i.opened_at_ms <= hi).collect()
}

/// Scores a run.
pub fn score(
    truth: &[TruthRecord],
    observed: Observed<'_>,
    policy: &Policy<'_>,
    settings: &EvalSettings,
) -> Result<EvalReport, EvalError> {
    if settings.before_ms < 0 || settings.after_ms < 0 {
        return Err(EvalError::InvalidSetting(format!("windows must not be negative: {settings:?}")));
    }
    let rounds = observed.dispatches.map(rounds_of);
    let judge = Judge { incidents: observed.incidents, rounds: rounds.as_ref(), settings };
    let mut tally = Tally::default();
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    let mut events = Vec::with_capacity(truth.len());
    for t in truth {
        let (ev, ids) = judge.event(t, &mut tally);
        matched.extend(ids);
        events.push(ev);
    }
    let in_run = in_run(truth, observed.incidents, settings);
    let unmatched_fire_incidents =
        in_run.iter().filter(|i| i.class.is_fire() && !matched.contains(i.id.as_str())).map(|i| i.id.clone()).collect();
    let routing = check_all(&in_run, rounds.as_ref(), policy);
    Ok(EvalReport {
        fire_recall: Ratio::of(tally.fires_hit, tally.fires),
        hazard_recall: Ratio::of(tally.hazards_hit, tally.hazards),
        nuisance_dispatch_rate: Ratio::of(tally.nuisance_fired, tally.nuisances),
        malformed_opened: Ratio::of(tally.malformed_opened, tally.malformed),
        severity_agreement: Ratio::of(tally.severity_ok, tally.severity_total),
        routing_accuracy: Ratio::of(routing.routed_ok, in_run.len()),
        routing_source: if rounds.is_some() {
            RoutingSource::DispatchMessages
        } else {
            RoutingSource::IncidentNotified
        },
        time_to_dispatch_from_start_ms: Percentiles::of(&tally.from_start),
        time_to_dispatch_from_alarm_ms: Percentiles::of(&tally.from_alarm),
        unmatched_fire_incidents,
        routing_mismatches: routing.mismatches,
        routing_errors: routing.errors,
        routing_rounds_checked: routing.rounds_checked,
        escalation_rounds: routing.escalation_rounds,
        dispatch_messages: observed.dispatches.map_or(0, <[_]>::len),
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::observed::{Notified, ObservedDispatch};
    use crate::eval::report::{percentile, render_table};
    use crate::scenario::truth::Severity;

    #[test]
    fn a_run_that_injected_nothing_scores_without_overflowing() {
        let policy = |_: &ObservedIncident, _: Severity| -> Result<Notified, String> { Ok(Notified::default()) };
        let observed = Observed { incidents: &[], dispatches: Some(&[]) };
        let r = score(&[], observed, &policy, &EvalSettings::default()).expect("scores");
        assert!(r.events.is_empty() && r.fire_recall.rate.is_none());
    }

    fn class(name: &str) -> ExpectedClass {
        serde_json::from_value(serde_json::json!(name)).expect("a class")
    }

    fn sev(name: &str) -> Severity {
        serde_json::from_value(serde_json::json!(name)).expect("a severity")
    }

    /// `score` with the dispatch messages `msgs` when `listened`, else without any.
    fn score_with(
        truth: &[TruthRecord],
        incidents: &[ObservedIncident],
        msgs: &[ObservedDispatch],
        listened: bool,
        policy: &Policy<'_>,
        settings: &EvalSettings,
    ) -> Result<EvalReport, EvalError> {
        score(truth, Observed { incidents, dispatches: listened.then_some(msgs) }, policy, settings)
    }

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

    fn inc(id: &str, class_name: &str, severity: &str, devices: &[&str], opened: i64) -> ObservedIncident {
        ObservedIncident {
            id: id.into(),
            class: class(class_name),
            severity: sev(severity),
            status: "dispatched".into(),
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            alarm_devices: Vec::new(),
            opened_at_ms: opened,
            first_alarm_ms: opened - 500,
            notified_stations: vec!["ms-1".into()],
            notified_grids: Vec::new(),
        }
    }

    fn msg(inc: &str, seq: u32, severity: &str, station: &str, role: &str, at: i64) -> ObservedDispatch {
        ObservedDispatch {
            incident_id: inc.into(),
            seq,
            severity: sev(severity),
            role: role.into(),
            station_id: station.into(),
            received_at_ms: at,
        }
    }

    /// A toy policy: high → micro respond; critical → + township team respond.
    fn policy(_: &ObservedIncident, sev: Severity) -> Result<BTreeSet<(String, String)>, String> {
        let mut s = BTreeSet::from([("ms-1".to_owned(), "respond".to_owned())]);
        match sev.as_str() {
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
        let r = score_with(&t, &incs, &[], false, &policy, &EvalSettings::default()).expect("scores");
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
            let r = score_with(&t, &incs, &[], false, &policy, &EvalSettings::default()).expect("scores");
            assert_eq!(r.nuisance_dispatch_rate.count, usize::from(fired), "{name}");
            assert_eq!(r.events[0].outcome.as_str(), outcome, "{name}");
        }
    }

    #[test]
    fn malformed_input_is_not_a_nuisance_and_counts_apart() {
        let mut t = truth("ev-1.1", ExpectedClass::None, None, &["m"], 0);
        t.deadletter_reason = Some(firegrid_ingest::Reason::NotJson);
        let r = score_with(&[t], &[], &[], true, &policy, &EvalSettings::default()).expect("scores");
        assert_eq!(r.nuisance_dispatch_rate.total, 0);
        assert_eq!((r.malformed_opened.count, r.malformed_opened.total), (0, 1));
        assert_eq!(r.events[0].outcome, Outcome::DeadLetter);
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
        let r = score_with(&t, std::slice::from_ref(&i), &good, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_accuracy.total), (1, 1), "{:?}", r.routing_mismatches);
        assert_eq!((r.routing_rounds_checked, r.escalation_rounds), (2, 1));
        assert_eq!(r.events[0].dispatch_after_start_ms, Some(10_100));
        assert_eq!(r.events[0].dispatch_after_alarm_ms, Some(600));

        let missing_team =
            vec![msg("i1", 1, "high", "ms-1", "respond", 10_100), msg("i1", 2, "critical", "ms-1", "respond", 80_000)];
        let r = score_with(&t, std::slice::from_ref(&i), &missing_team, true, &policy, &EvalSettings::default())
            .expect("ok");
        assert_eq!(r.routing_accuracy.count, 0);
        assert_eq!(r.routing_mismatches[0].seq, 2);
        assert_eq!(r.routing_mismatches[0].expected, ["ms-1 respond", "tt-1 respond"]);

        let nothing_sent =
            score_with(&t, std::slice::from_ref(&i), &[], true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!(nothing_sent.routing_accuracy.count, 0, "an incident with no message is not routed right");
    }

    #[test]
    fn a_policy_that_cannot_be_computed_is_reported_not_counted_right() {
        let t = vec![truth("ev-1", ExpectedClass::Hazard, Some(Severity::Low), &["a"], 0)];
        let i = inc("i1", "hazard", "low", &["a"], 10_000);
        let m = vec![msg("i1", 1, "low", "grid:g1", "rectify", 10_100)];
        let r = score_with(&t, &[i], &m, true, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_accuracy.total), (0, 1));
        assert_eq!(r.routing_errors, ["i1: no policy for low"]);
    }

    #[test]
    fn without_dispatch_messages_routing_is_checked_against_the_notified_lists() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::Critical), &["a"], 0)];
        let mut i = inc("i1", "fire", "critical", &["a"], 10_000);
        i.notified_stations = vec!["ms-1".into(), "tt-1".into(), "ms-7".into()];
        let r = score_with(&t, std::slice::from_ref(&i), &[], false, &policy, &EvalSettings::default()).expect("ok");
        assert_eq!((r.routing_accuracy.count, r.routing_source.as_str()), (1, "incident_notified"));
        i.notified_stations = vec!["ms-1".into()];
        let r = score_with(&t, &[i], &[], false, &policy, &EvalSettings::default()).expect("ok");
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
        let r = score_with(&t, &incs, &m, true, &policy, &EvalSettings::default()).expect("ok");
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
        assert!(matches!(score_with(&[], &[], &[], true, &policy, &s), Err(EvalError::InvalidSetting(_))));
    }

    #[test]
    fn the_table_names_every_figure_and_event() {
        let t = vec![truth("ev-1", ExpectedClass::Fire, Some(Severity::High), &["a"], 0)];
        let r = score_with(&t, &[], &[], true, &policy, &EvalSettings::default()).expect("ok");
        let table = render_table(&r);
        for want in ["fire recall", "0.0 % (0/1)", "routing accuracy", "time to dispatch", "ev-1", "missed"] {
            assert!(table.contains(want), "{want} in\n{table}");
        }
    }
}
