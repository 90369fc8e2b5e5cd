//! The incident lifecycle of DESIGN §5: `open → dispatched → acknowledged → on_scene →
//! resolved | false_alarm` (hazards: `open → acknowledged → rectified`). A responder's [`Action`]
//! moves an incident by [`next_status`]; every transition is an [`AuditEntry`] (one
//! `fire_incident` line each); an illegal one is a [`TransitionError`] that says what was asked and
//! why it cannot be done. Pure.

use serde::{Deserialize, Serialize};

use super::model::{Class, Incident, Severity, Status, Verification};

/// The actor name of changes the engine makes itself.
pub(crate) const ENGINE_ACTOR: &str = "engine";

named_enum!(
    /// A responder's action (DESIGN §6), plus `dispatched` recorded by the dispatch stage.
    pub enum Action {
        /// Notifications were sent (dispatch stage only).
        Dispatched => "dispatched",
        /// Acknowledge.
        Ack => "ack",
        /// Arrived on scene.
        OnScene => "on_scene",
        /// Handled.
        Resolve => "resolve",
        /// Not a fire.
        FalseAlarm => "false_alarm",
        /// A responder confirms the fire (severity critical).
        Confirm => "confirm",
        /// A hazard was rectified.
        Rectified => "rectified",
    }
);

named_enum!(
    /// What happened to an incident: one `fire_incident` line each.
    pub enum Event {
        /// Opened.
        Opened => "opened",
        /// Notifications sent.
        Dispatched => "dispatched",
        /// Acknowledged.
        Acknowledged => "acknowledged",
        /// On scene.
        OnScene => "on_scene",
        /// Severity rose.
        Escalated => "escalated",
        /// Resolved.
        Resolved => "resolved",
        /// Closed as a false alarm.
        FalseAlarm => "false_alarm",
        /// Hazard rectified.
        Rectified => "rectified",
        /// A responder confirmed an incident already critical (no severity change, no re-notification).
        Confirmed => "confirmed",
    }
);

/// One timestamped transition of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The incident.
    pub incident_id: String,
    /// When, epoch ms.
    pub at_ms: i64,
    /// What happened.
    pub event: Event,
    /// Status before (`None` when opened).
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// Severity after.
    pub severity: Severity,
    /// Who: `engine`, or `{role}:{subject}` of a token.
    pub actor: String,
    /// Free text (reason, responder's note).
    pub note: String,
}

/// A transition that cannot be made, with the context to explain why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TransitionError {
    /// The action does not apply to the incident's current status (or class).
    #[error("incident {incident_id} ({class}) is {status}: cannot {action}")]
    Illegal {
        /// The incident.
        incident_id: String,
        /// Its class.
        class: Class,
        /// Its status.
        status: Status,
        /// The refused action.
        action: Action,
    },
    /// The incident awaits a person's check: it can be confirmed (a live fire from then on),
    /// closed as a false alarm or acknowledged, nothing else.
    #[error("incident {incident_id} awaits verification ({verification}): cannot {action}; confirm it or close it as false_alarm")]
    AwaitsVerification {
        /// The incident.
        incident_id: String,
        /// Why it awaits a check.
        verification: Verification,
        /// The refused action.
        action: Action,
    },
}

/// The status an action leads to from `status`, for an incident of `class`, or `None` when illegal.
/// `confirm` keeps the status (it raises severity).
pub(crate) fn next_status(class: Class, status: Status, action: Action) -> Option<Status> {
    use Action as A;
    use Status as S;
    if class == Class::Hazard {
        return match (status, action) {
            (S::Open, A::Ack) => Some(S::Acknowledged),
            (S::Acknowledged, A::Rectified) => Some(S::Rectified),
            _ => None,
        };
    }
    match (status, action) {
        (S::Open, A::Dispatched) => Some(S::Dispatched),
        (S::Open | S::Dispatched, A::Ack) => Some(S::Acknowledged),
        (S::Open | S::Dispatched | S::Acknowledged, A::OnScene) => Some(S::OnScene),
        (S::Acknowledged | S::OnScene, A::Resolve) => Some(S::Resolved),
        (S::Open | S::Dispatched | S::Acknowledged | S::OnScene, A::FalseAlarm) => Some(S::FalseAlarm),
        (s, A::Confirm) if !s.is_terminal() => Some(s),
        _ => None,
    }
}

fn event_of(to: Status) -> Event {
    match to {
        Status::Open => Event::Opened,
        Status::Dispatched => Event::Dispatched,
        Status::Acknowledged => Event::Acknowledged,
        Status::OnScene => Event::OnScene,
        Status::Resolved => Event::Resolved,
        Status::FalseAlarm => Event::FalseAlarm,
        Status::Rectified => Event::Rectified,
    }
}

impl Incident {
    /// Whether `action` would repeat what is already done — `ack` of an acknowledged incident,
    /// `resolve` of a resolved one, `confirm` of one a responder already confirmed: it then changes
    /// nothing and is recorded nowhere (the caller answers with the incident as it is, so a
    /// retried request is harmless).
    pub fn repeats(&self, action: Action) -> bool {
        let done = match action {
            Action::Dispatched => return false,
            Action::Confirm => return self.confirmed_by.is_some(),
            Action::Ack => Status::Acknowledged,
            Action::OnScene => Status::OnScene,
            Action::Resolve => Status::Resolved,
            Action::FalseAlarm => Status::FalseAlarm,
            Action::Rectified => Status::Rectified,
        };
        self.status == done
    }

    /// Applies a responder action at `at_ms`, returning the audit entry, or why it is refused.
    /// `confirm` raises severity to critical (`escalated`); on an already critical incident it is
    /// recorded as `confirmed`, without a severity change. On an incident awaiting verification,
    /// `confirm` is the check instead (see [`Incident::verified`]) and `on_scene`/`resolve` are
    /// refused. (Callers skip repeats first: see [`Incident::repeats`].)
    pub fn apply(
        &mut self,
        action: Action,
        actor: &str,
        note: &str,
        at_ms: i64,
    ) -> Result<AuditEntry, TransitionError> {
        if let Some(verification) = self.verification {
            match action {
                Action::Confirm => return Ok(self.verified(actor, note, at_ms)),
                Action::OnScene | Action::Resolve => {
                    return Err(TransitionError::AwaitsVerification {
                        incident_id: self.id.clone(),
                        verification,
                        action,
                    })
                }
                _ => {}
            }
        }
        let to = next_status(self.class, self.status, action).ok_or_else(|| TransitionError::Illegal {
            incident_id: self.id.clone(),
            class: self.class,
            status: self.status,
            action,
        })?;
        let from = self.status;
        let event = if action == Action::Confirm {
            if self.confirmed.is_none() {
                self.confirmed = Some(format!("confirmed by {actor}"));
            }
            if self.confirmed_by.is_none() {
                self.confirmed_by = Some(actor.to_owned());
            }
            if self.severity == Severity::Critical {
                Event::Confirmed
            } else {
                self.severity = Severity::Critical;
                Event::Escalated
            }
        } else {
            event_of(to)
        };
        self.status = to;
        self.updated_at_ms = at_ms;
        Ok(self.audit(event, Some(from), actor, note, at_ms))
    }

    /// A person checked an incident that awaited verification and confirms the alarm: it becomes
    /// a live incident, back to `open` so the fire lifecycle starts afresh (the dispatch stage
    /// moves it to `dispatched` when the responders are told). The entry is `escalated`: the
    /// caller sets the severity the usual rules give (always above the `medium` it had), and that
    /// rise is what makes the dispatch stage notify the responders in a new round.
    fn verified(&mut self, actor: &str, note: &str, at_ms: i64) -> AuditEntry {
        let from = self.status;
        let why = self.verification.take().map_or("", Verification::as_str);
        self.status = Status::Open;
        self.updated_at_ms = at_ms;
        let note = if note.is_empty() { format!("verified ({why})") } else { note.to_owned() };
        self.audit(Event::Escalated, Some(from), actor, &note, at_ms)
    }

    /// An audit entry for this incident's current status and severity.
    pub fn audit(&self, event: Event, from: Option<Status>, actor: &str, note: &str, at_ms: i64) -> AuditEntry {
        AuditEntry {
            incident_id: self.id.clone(),
            at_ms,
            event,
            from_status: from,
            to_status: self.status,
            severity: self.severity,
            actor: actor.to_owned(),
            note: note.to_owned(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_fire_lifecycle_allows_exactly_the_design_transitions() {
        use Action as A;
        use Status as S;
        let table = [
            (S::Open, A::Dispatched, Some(S::Dispatched)),
            (S::Dispatched, A::Ack, Some(S::Acknowledged)),
            (S::Acknowledged, A::OnScene, Some(S::OnScene)),
            (S::OnScene, A::Resolve, Some(S::Resolved)),
            (S::OnScene, A::FalseAlarm, Some(S::FalseAlarm)),
            (S::Open, A::Resolve, None),
            (S::Acknowledged, A::Ack, None),
            (S::Resolved, A::Ack, None),
            (S::Resolved, A::Confirm, None),
            (S::Open, A::Rectified, None),
            (S::OnScene, A::Confirm, Some(S::OnScene)),
        ];
        for (from, action, want) in table {
            assert_eq!(next_status(Class::Fire, from, action), want, "{from} --{action}-->");
        }
    }

    #[test]
    fn the_hazard_lifecycle_is_open_acknowledged_rectified() {
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Ack), Some(Status::Acknowledged));
        assert_eq!(next_status(Class::Hazard, Status::Acknowledged, Action::Rectified), Some(Status::Rectified));
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Rectified), None);
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Resolve), None);
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Confirm), None);
    }
}
