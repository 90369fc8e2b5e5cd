//! The evaluation report of `firegrid eval`: the figures (ratios, percentiles, per-event
//! outcomes, routing mismatches) as serializable values, and their rendering as a table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenario::truth::{ExpectedClass, Severity};

/// A count out of a total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// How many.
    pub count: usize,
    /// Out of.
    pub total: usize,
    /// `count / total`, `None` when the total is 0.
    pub rate: Option<f64>,
}

impl Ratio {
    /// `count` out of `total`.
    pub(crate) fn of(count: usize, total: usize) -> Ratio {
        Ratio { count, total, rate: (total > 0).then(|| count as f64 / total as f64) }
    }

    pub(crate) fn show(&self) -> String {
        match self.rate {
            Some(r) => format!("{:.1} % ({}/{})", r * 100.0, self.count, self.total),
            None => "n/a (0 events)".to_owned(),
        }
    }
}

/// Percentiles of a sample (nearest rank), ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// Median.
    pub p50: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
    /// 99th percentile.
    pub p99: Option<i64>,
    /// Largest.
    pub max: Option<i64>,
}

/// Nearest-rank percentile `p` (0–100] of a sample.
pub(crate) fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

impl Percentiles {
    /// The percentiles of `sample` (any order).
    pub fn of(sample: &[i64]) -> Percentiles {
        let mut s = sample.to_vec();
        s.sort_unstable();
        Percentiles {
            count: s.len(),
            p50: percentile(&s, 50.0),
            p95: percentile(&s, 95.0),
            p99: percentile(&s, 99.0),
            max: s.last().copied(),
        }
    }

    pub(crate) fn show(&self) -> String {
        let f = |v: Option<i64>| v.map_or("-".to_owned(), |ms| format!("{:.3} s", ms as f64 / 1000.0));
        format!(
            "p50 {}  p95 {}  p99 {}  max {}  (n={})",
            f(self.p50),
            f(self.p95),
            f(self.p99),
            f(self.max),
            self.count
        )
    }
}

/// What became of one truth event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A fire or hazard opened with the expected class.
    Detected,
    /// A fire or hazard that opened nothing.
    Missed,
    /// A fire or hazard that opened an incident of another class only.
    WrongClass,
    /// A nuisance that opened nothing.
    Quiet,
    /// A nuisance dispatched as a fire.
    DispatchedAsFire,
    /// A nuisance or malformed message that opened an incident, not dispatched as a fire.
    OpenedNotFire,
    /// A malformed message that opened nothing (a dead letter, as it should be).
    DeadLetter,
}

impl Outcome {
    /// The name in the report.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Detected => "detected",
            Outcome::Missed => "missed",
            Outcome::WrongClass => "wrong_class",
            Outcome::Quiet => "quiet",
            Outcome::DispatchedAsFire => "dispatched_as_fire",
            Outcome::OpenedNotFire => "opened_not_fire",
            Outcome::DeadLetter => "dead_letter",
        }
    }
}

/// Where routing was checked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingSource {
    /// The notification rounds seen on MQTT.
    DispatchMessages,
    /// The API's notified lists only.
    IncidentNotified,
}

impl RoutingSource {
    /// The name in the report.
    pub const fn as_str(self) -> &'static str {
        match self {
            RoutingSource::DispatchMessages => "dispatch_messages",
            RoutingSource::IncidentNotified => "incident_notified",
        }
    }
}

/// What became of one truth event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventOutcome {
    /// Truth id.
    pub id: String,
    /// Scenario.
    pub scenario: String,
    /// Expected class.
    pub expected_class: ExpectedClass,
    /// Expected severity.
    pub expected_severity: Option<Severity>,
    /// Incidents matched (any class).
    pub incidents: Vec<String>,
    /// Class of the first matched incident.
    pub class: Option<ExpectedClass>,
    /// Its severity.
    pub severity: Option<Severity>,
    /// What became of it.
    pub outcome: Outcome,
    /// Time from `start_ts` to the first dispatch message, ms.
    pub dispatch_after_start_ms: Option<i64>,
    /// Time from the first alarm reading to the first dispatch message, ms.
    pub dispatch_after_alarm_ms: Option<i64>,
}

/// A notification round that differs from the policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingMismatch {
    /// Incident.
    pub incident_id: String,
    /// Round (`0` when checked against the incident's notified lists).
    pub seq: u32,
    /// Severity of the round.
    pub severity: Severity,
    /// What the policy computes (`station_id role`).
    pub expected: Vec<String>,
    /// What was sent.
    pub sent: Vec<String>,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Injected fires detected with the right class.
    pub fire_recall: Ratio,
    /// Hazards detected as hazards.
    pub hazard_recall: Ratio,
    /// Nuisance events (expected `none`, not malformed input) dispatched as a fire.
    pub nuisance_dispatch_rate: Ratio,
    /// Malformed-input events that opened an incident (they should be dead letters).
    pub malformed_opened: Ratio,
    /// Detected events whose incident reached the expected severity.
    pub severity_agreement: Ratio,
    /// Incidents of the run whose notification rounds all match the policy.
    pub routing_accuracy: Ratio,
    /// Where routing was checked from.
    pub routing_source: RoutingSource,
    /// From the event's start to the first dispatch message, fires only, ms.
    pub time_to_dispatch_from_start_ms: Percentiles,
    /// From the first alarm reading to the first dispatch message, fires only, ms.
    pub time_to_dispatch_from_alarm_ms: Percentiles,
    /// Fire-class incidents opened during the run that match no truth event.
    pub unmatched_fire_incidents: Vec<String>,
    /// Rounds that differ from the policy.
    pub routing_mismatches: Vec<RoutingMismatch>,
    /// Incidents whose expected routing could not be computed, with why.
    pub routing_errors: Vec<String>,
    /// Notification rounds checked against the policy (openings and severity rises).
    pub routing_rounds_checked: usize,
    /// Rounds at an unchanged severity (escalation timers), not the policy's table.
    pub escalation_rounds: usize,
    /// Dispatch messages seen.
    pub dispatch_messages: usize,
    /// Per event.
    pub events: Vec<EventOutcome>,
}

/// The report as a table for people.
pub fn render_table(r: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<34} value", "metric");
    let _ = writeln!(s, "{:<34} {}", "fire recall", r.fire_recall.show());
    let _ = writeln!(s, "{:<34} {}", "hazard recall", r.hazard_recall.show());
    let _ = writeln!(s, "{:<34} {}", "nuisance dispatch rate", r.nuisance_dispatch_rate.show());
    let _ = writeln!(s, "{:<34} {}", "malformed input opening incidents", r.malformed_opened.show());
    let _ = writeln!(s, "{:<34} {}", "severity agreement", r.severity_agreement.show());
    let _ = writeln!(
        s,
        "{:<34} {} [{}: {} rounds checked, {} escalation rounds]",
        "routing accuracy",
        r.routing_accuracy.show(),
        r.routing_source.as_str(),
        r.routing_rounds_checked,
        r.escalation_rounds
    );
    let _ = writeln!(s, "{:<34} {}", "time to dispatch (from start)", r.time_to_dispatch_from_start_ms.show());
    let _ = writeln!(s, "{:<34} {}", "time to dispatch (from 1st alarm)", r.time_to_dispatch_from_alarm_ms.show());
    let _ = writeln!(s, "{:<34} {}", "dispatch messages seen", r.dispatch_messages);
    let _ = writeln!(s, "{:<34} {}", "fire incidents matching no event", r.unmatched_fire_incidents.len());
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<10} {:<24} {:<16} {:<9} {:<16} {:<9} {:<19} {:>9}",
        "event", "scenario", "expected", "severity", "got", "severity", "outcome", "dispatch"
    );
    for e in &r.events {
        let _ = writeln!(
            s,
            "{:<10} {:<24} {:<16} {:<9} {:<16} {:<9} {:<19} {:>9}",
            e.id,
            e.scenario,
            e.expected_class.as_str(),
            e.expected_severity.map_or("-", Severity::as_str),
            e.class.map_or("-", ExpectedClass::as_str),
            e.severity.map_or("-", Severity::as_str),
            e.outcome.as_str(),
            e.dispatch_after_start_ms.map_or("-".to_owned(), |ms| format!("{:.3} s", ms as f64 / 1000.0)),
        );
    }
    for m in &r.routing_mismatches {
        let _ = writeln!(
            s,
            "routing: {} round {} ({}): policy {:?}, sent {:?}",
            m.incident_id,
            m.seq,
            m.severity.as_str(),
            m.expected,
            m.sent
        );
    }
    for e in &r.routing_errors {
        let _ = writeln!(s, "routing not computed: {e}");
    }
    for id in &r.unmatched_fire_incidents {
        let _ = writeln!(s, "unmatched fire incident: {id}");
    }
    s
}
