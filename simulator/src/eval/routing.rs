//! Checking an incident's routing against the policy. With the dispatch messages, per
//! notification round (`seq`): the opening round and every round where severity rose must notify
//! exactly what the policy computes for that severity; rounds at an unchanged severity are
//! escalations (timers) and not the policy's table. Without them, the incident's notified lists
//! must hold every station the policy names for its final severity.

use std::collections::BTreeMap;

use crate::eval::observed::{Notified, ObservedDispatch, ObservedIncident, Policy};
use crate::eval::report::RoutingMismatch;
use crate::scenario::truth::Severity;

/// One notification round as seen: its severity, who it notified, when its first message came.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Round {
    pub(crate) severity: Severity,
    pub(crate) sent: Notified,
    pub(crate) first_at_ms: i64,
}

/// The rounds of an incident's messages, by `seq`.
pub(crate) type Rounds = BTreeMap<u32, Round>;

/// The rounds of every incident that has dispatch messages.
pub(crate) fn rounds_of(dispatches: &[ObservedDispatch]) -> BTreeMap<&str, Rounds> {
    let mut out: BTreeMap<&str, Rounds> = BTreeMap::new();
    for d in dispatches {
        let r = out.entry(d.incident_id.as_str()).or_default().entry(d.seq).or_insert_with(|| Round {
            severity: d.severity,
            sent: Notified::new(),
            first_at_ms: d.received_at_ms,
        });
        r.sent.insert((d.station_id.clone(), d.role.clone()));
        r.first_at_ms = r.first_at_ms.min(d.received_at_ms);
    }
    out
}

fn show(set: &Notified) -> Vec<String> {
    set.iter().map(|(s, r)| format!("{s} {r}")).collect()
}

/// How one incident's routing was checked.
#[derive(Debug, Default)]
pub(crate) struct RoutingCheck {
    /// Rounds that differ from the policy (none: routed right).
    pub(crate) mismatches: Vec<RoutingMismatch>,
    /// Rounds checked against the policy.
    pub(crate) checked: usize,
    /// Rounds at an unchanged severity.
    pub(crate) escalations: usize,
}

/// Checks one incident's routing: against its `rounds` when the dispatch messages were
/// collected (`Some`, possibly empty), else against its notified lists.
pub(crate) fn check_routing(
    inc: &ObservedIncident,
    rounds: Option<&Rounds>,
    policy: &Policy<'_>,
) -> Result<RoutingCheck, String> {
    let Some(rounds) = rounds else { return by_notified_lists(inc, policy) };
    if rounds.is_empty() {
        let expected = policy(inc, inc.severity)?;
        let mismatch = mismatch(inc, 0, inc.severity, &expected, Vec::new());
        return Ok(RoutingCheck { mismatches: vec![mismatch], checked: 1, escalations: 0 });
    }
    let mut out = RoutingCheck::default();
    let mut highest: Option<Severity> = None;
    for (seq, round) in rounds {
        if highest.is_some_and(|h| round.severity <= h) {
            out.escalations += 1; // a round at an unchanged severity: an escalation timer
            continue;
        }
        highest = Some(round.severity);
        out.checked += 1;
        let expected = policy(inc, round.severity)?;
        if expected != round.sent {
            out.mismatches.push(mismatch(inc, *seq, round.severity, &expected, show(&round.sent)));
        }
    }
    Ok(out)
}

/// Without messages: every station the policy names for the final severity was notified.
fn by_notified_lists(inc: &ObservedIncident, policy: &Policy<'_>) -> Result<RoutingCheck, String> {
    let expected = policy(inc, inc.severity)?;
    let notified: Vec<String> =
        inc.notified_stations.iter().cloned().chain(inc.notified_grids.iter().map(|g| format!("grid:{g}"))).collect();
    let mut out = RoutingCheck { checked: 1, ..RoutingCheck::default() };
    if expected.is_empty() || !expected.iter().all(|(s, _)| notified.contains(s)) {
        let mut sent = notified;
        sent.sort();
        sent.dedup();
        out.mismatches.push(mismatch(inc, 0, inc.severity, &expected, sent));
    }
    Ok(out)
}

fn mismatch(
    inc: &ObservedIncident,
    seq: u32,
    severity: Severity,
    expected: &Notified,
    sent: Vec<String>,
) -> RoutingMismatch {
    RoutingMismatch { incident_id: inc.id.clone(), seq, severity, expected: show(expected), sent }
}
