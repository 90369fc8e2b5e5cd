//! [`Outcome`]: everything one step of the engine changed — incident snapshots, evidence, audit
//! entries, id counters, outbox rows, dispatch state and rule-state rows — written to the store in
//! one transaction, so a crash leaves all of a change or none. Correlation fills the incident
//! side, detection the rule state, the dispatch stage the outbox and its state.

use super::evidence::Evidence;
use super::forwarded::Verdict;
use super::lifecycle::{AuditEntry, Event};
use super::model::Incident;
use super::notification::OutboxEntry;
use crate::detect::RowChange;

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
    pub rule_state: Vec<RowChange>,
    /// Forwarded actions this step answered, `(row id, verdict)`: marked applied in the same
    /// transaction as the change they made, so a leader change can neither lose nor repeat one
    /// (PostgreSQL only; DESIGN §9).
    pub forwarded: Vec<(i64, Verdict)>,
}

impl Outcome {
    /// Nothing changed: no incident, evidence, audit entry or rule-state row.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty() && self.evidence.is_empty() && self.audit.is_empty() && self.rule_state.is_empty()
    }

    /// Nothing to write at all: no change of any kind (counters, outbox and dispatch state included).
    pub(crate) fn writes_nothing(&self) -> bool {
        self.is_empty()
            && self.counters.is_empty()
            && self.outbox.is_empty()
            && self.dispatch_state.is_empty()
            && self.forwarded.is_empty()
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
        self.forwarded.extend(other.forwarded);
    }

    /// The incidents this outcome opens (those with an `opened` audit entry), as it writes them.
    pub(crate) fn opened_incidents(&self) -> Vec<&Incident> {
        self.incidents
            .iter()
            .filter(|i| self.audit.iter().any(|a| a.event == Event::Opened && a.incident_id == i.id))
            .collect()
    }

    /// Keeps `inc` as the latest snapshot of its incident.
    pub(crate) fn put(&mut self, inc: Incident) {
        match self.incidents.iter_mut().find(|i| i.id == inc.id) {
            Some(slot) => *slot = inc,
            None => self.incidents.push(inc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::summary_zh::tests::incident;
    use crate::incident::{Severity, Status};

    fn audit(id: &str, event: Event) -> AuditEntry {
        AuditEntry {
            incident_id: id.into(),
            at_ms: 1,
            event,
            from_status: None,
            to_status: Status::Open,
            severity: Severity::High,
            actor: "engine".into(),
            note: String::new(),
        }
    }

    #[test]
    fn the_opened_incidents_are_those_with_an_opened_audit_entry() {
        let a = incident();
        let b = Incident { id: "INC-500112-20261129-0002".into(), ..incident() };
        let cases: [(Vec<AuditEntry>, Vec<&str>); 4] = [
            (vec![], vec![]),
            (vec![audit(&a.id, Event::Escalated)], vec![]),
            (vec![audit(&b.id, Event::Opened)], vec![b.id.as_str()]),
            (vec![audit(&a.id, Event::Opened), audit(&b.id, Event::Opened)], vec![a.id.as_str(), b.id.as_str()]),
        ];
        for (entries, want) in cases {
            let out = Outcome { incidents: vec![a.clone(), b.clone()], audit: entries.clone(), ..Outcome::default() };
            let got: Vec<&str> = out.opened_incidents().iter().map(|i| i.id.as_str()).collect();
            assert_eq!(got, want, "{entries:?}");
        }
    }
}
