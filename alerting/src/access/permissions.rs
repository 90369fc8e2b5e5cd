//! Who may do what to an incident: the role × action table of DESIGN §6, one pure function
//! ([`decide`]) that the HTTP API and the MQTT acknowledgements both ask.
//!
//! | caller | may |
//! | --- | --- |
//! | admin, dispatcher | every action on every incident |
//! | station or grid notified to `respond` (a fire) | `ack`, `on_scene`, `resolve`, `false_alarm`, `confirm` |
//! | station or grid notified to `verify` (a fire) | `confirm`; of an *unverified* incident also `false_alarm` |
//! | station or grid notified to `rectify` (a hazard) | `ack`, `rectified` |
//! | station notified to `forward_119` | nothing (it reads the incident) |
//! | a grid manager, whatever it was notified as | never `resolve`, `on_scene` or `false_alarm` a fire (except `false_alarm` of an unverified incident it was asked to verify) |
//! | anyone not notified | nothing (`not_notified`) |
//!
//! How a station or grid was notified comes from the incident's dispatch outbox (the `role` of
//! every notification sent to it, written in the same transaction as the notified list), never
//! from the request. The incident's lifecycle still decides whether the action fits its status
//! (409 otherwise).

use std::fmt::Write as _;

use super::CallerRole;
use crate::incident::{Action, Class, NotifyRole as Notified};

/// One request to act on an incident.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The caller's role: its token's, or its acknowledgement topic's (`ack/{station_id}` is a
    /// station, `ack/grid/{grid_id}` a grid manager).
    pub(crate) caller: CallerRole,
    /// `role:subject`, for the reason of a refusal.
    pub(crate) actor: &'a str,
    /// The incident, for the reason of a refusal.
    pub(crate) incident_id: &'a str,
    /// Its class.
    pub(crate) class: Class,
    /// Whether the incident is unverified: its alarm came from an unregistered device or arrived
    /// stale or late (`Incident.verification`). A recipient notified to `verify` it may then also
    /// close it as a false alarm — that is the verification.
    pub(crate) unverified: bool,
    /// How the caller was notified of the incident (from the dispatch outbox); empty = not at all.
    pub(crate) notified_as: &'a [Notified],
    /// What it asks for.
    pub(crate) action: Action,
}

/// Why a request is refused (HTTP 403; a dead letter over MQTT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Denial {
    /// The caller was not notified of the incident (dead letter `not_notified`).
    #[error("{0}")]
    NotNotified(String),
    /// The caller's role does not allow the action (dead letter `forbidden`).
    #[error("{0}")]
    Forbidden(String),
}

fn is_fire(class: Class) -> bool {
    class != Class::Hazard
}

/// What one notification role allows on an incident of `class`.
fn grants(role: Notified, class: Class, unverified: bool, action: Action) -> bool {
    use Action as A;
    match role {
        Notified::Respond => {
            is_fire(class) && matches!(action, A::Ack | A::OnScene | A::Resolve | A::FalseAlarm | A::Confirm)
        }
        Notified::Verify => is_fire(class) && (action == A::Confirm || (unverified && action == A::FalseAlarm)),
        Notified::Rectify => !is_fire(class) && matches!(action, A::Ack | A::Rectified),
        Notified::Forward119 => false,
    }
}

/// A grid manager never closes a fire or reports on scene, whatever it was notified as — except
/// closing as a false alarm an unverified incident it was asked to verify.
fn grid_may_not(r: &Request<'_>) -> bool {
    r.caller == CallerRole::Grid
        && is_fire(r.class)
        && match r.action {
            Action::Resolve | Action::OnScene => true,
            Action::FalseAlarm => !(r.unverified && r.notified_as.contains(&Notified::Verify)),
            _ => false,
        }
}

fn allows(r: &Request<'_>) -> bool {
    if r.action == Action::Dispatched {
        return false;
    }
    match r.caller {
        CallerRole::Admin | CallerRole::Dispatcher => true,
        CallerRole::Station | CallerRole::Grid => {
            !grid_may_not(r) && r.notified_as.iter().any(|n| grants(*n, r.class, r.unverified, r.action))
        }
    }
}

/// The responder actions `r`'s caller may take on the incident (its `action` is ignored).
pub(crate) fn allowed_actions(r: &Request<'_>) -> Vec<Action> {
    Action::ALL.iter().copied().filter(|&action| allows(&Request { action, ..*r })).collect()
}

/// Decides a request by the table (see the module doc); a refusal says why.
pub(crate) fn decide(r: &Request<'_>) -> Result<(), Denial> {
    if allows(r) {
        return Ok(());
    }
    if r.action == Action::Dispatched {
        return Err(Denial::Forbidden("`dispatched` is recorded by the dispatch stage only".to_owned()));
    }
    if r.notified_as.is_empty() {
        return Err(Denial::NotNotified(format!("{} was not notified of incident {}", r.actor, r.incident_id)));
    }
    let mut why = format!("{} was notified of this {} to ", r.actor, r.class);
    for (i, n) in r.notified_as.iter().enumerate() {
        let _ = write!(why, "{}{n}", if i == 0 { "" } else { " and " });
    }
    let allowed = allowed_actions(r);
    if allowed.is_empty() {
        why.push_str(", which allows no action on it");
    } else {
        let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
        let _ = write!(why, ", which allows {} only", names.join(", "));
    }
    let _ = write!(why, "; `{}` needs {}", r.action, who_may(r.class, r.action));
    Err(Denial::Forbidden(why))
}

/// Who may take `action` on an incident of `class`, in words.
fn who_may(class: Class, action: Action) -> &'static str {
    match (is_fire(class), action) {
        (true, Action::Confirm) => "a station notified to respond, a grid manager notified to verify, or a dispatcher",
        (true, Action::FalseAlarm) => {
            "a station notified to respond (or to verify an unverified incident), or a dispatcher"
        }
        (true, Action::Ack | Action::OnScene | Action::Resolve) => "a station notified to respond, or a dispatcher",
        (false, Action::Ack | Action::Rectified) => "the grid manager or station notified to rectify, or a dispatcher",
        _ => "a dispatcher (it does not apply to this incident's class otherwise)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Notified as N;

    const FIRES: [Class; 3] = [Class::Fire, Class::ElectricalFire, Class::ForestFire];
    const EVERY: [Action; 6] = [A::Ack, A::OnScene, A::Resolve, A::FalseAlarm, A::Confirm, A::Rectified];

    /// One row: caller, how it was notified, fire (else hazard), unverified → what it may do
    /// (`None` = refused as not notified).
    type Row = (CallerRole, Vec<N>, bool, bool, Option<Vec<Action>>);

    /// The table, cell by cell.
    fn table() -> Vec<Row> {
        let fire_respond = vec![A::Ack, A::OnScene, A::Resolve, A::FalseAlarm, A::Confirm];
        let mut rows = Vec::new();
        for unverified in [false, true] {
            for fire in [true, false] {
                for caller in [CallerRole::Admin, CallerRole::Dispatcher] {
                    for notified in [vec![], vec![N::Forward119]] {
                        rows.push((caller, notified, fire, unverified, Some(EVERY.to_vec())));
                    }
                }
                rows.push((CallerRole::Station, vec![], fire, unverified, None));
                rows.push((CallerRole::Grid, vec![], fire, unverified, None));
                rows.push((CallerRole::Station, vec![N::Forward119], fire, unverified, Some(vec![])));
            }
            // A fire.
            let verify = if unverified { vec![A::FalseAlarm, A::Confirm] } else { vec![A::Confirm] };
            rows.push((CallerRole::Station, vec![N::Respond], true, unverified, Some(fire_respond.clone())));
            rows.push((
                CallerRole::Station,
                vec![N::Respond, N::Forward119],
                true,
                unverified,
                Some(fire_respond.clone()),
            ));
            rows.push((CallerRole::Station, vec![N::Verify], true, unverified, Some(verify.clone())));
            rows.push((CallerRole::Station, vec![N::Rectify], true, unverified, Some(vec![])));
            rows.push((CallerRole::Grid, vec![N::Verify], true, unverified, Some(verify.clone())));
            rows.push((CallerRole::Grid, vec![N::Verify, N::Rectify], true, unverified, Some(verify.clone())));
            rows.push((CallerRole::Grid, vec![N::Rectify], true, unverified, Some(vec![])));
            // Never routed, held by the grid rule all the same: a grid manager neither resolves nor goes on scene.
            rows.push((CallerRole::Grid, vec![N::Respond], true, unverified, Some(vec![A::Ack, A::Confirm])));
            // A hazard.
            for caller in [CallerRole::Station, CallerRole::Grid] {
                rows.push((caller, vec![N::Rectify], false, unverified, Some(vec![A::Ack, A::Rectified])));
                rows.push((caller, vec![N::Respond], false, unverified, Some(vec![])));
                rows.push((caller, vec![N::Verify], false, unverified, Some(vec![])));
            }
        }
        rows
    }

    #[test]
    fn every_cell_of_the_role_action_table() {
        for (caller, notified, fire, unverified, want) in table() {
            let classes: &[Class] = if fire { &FIRES } else { &[Class::Hazard] };
            for &class in classes {
                for action in EVERY {
                    let r = Request {
                        caller,
                        actor: "x:y",
                        incident_id: "INC-1",
                        class,
                        unverified,
                        notified_as: &notified,
                        action,
                    };
                    let got = decide(&r);
                    let cell = format!("{caller:?} notified {notified:?} {class} unverified={unverified} {action}");
                    match &want {
                        None => assert!(matches!(got, Err(Denial::NotNotified(_))), "{cell}: {got:?}"),
                        Some(ok) if ok.contains(&action) => assert_eq!(got, Ok(()), "{cell}"),
                        Some(_) => assert!(matches!(got, Err(Denial::Forbidden(_))), "{cell}: {got:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn nobody_records_dispatched_through_a_request() {
        for caller in [CallerRole::Admin, CallerRole::Dispatcher, CallerRole::Station, CallerRole::Grid] {
            let r = Request {
                caller,
                actor: "a",
                incident_id: "INC-1",
                class: Class::Fire,
                unverified: false,
                notified_as: &[N::Respond],
                action: A::Dispatched,
            };
            assert!(matches!(decide(&r), Err(Denial::Forbidden(_))));
        }
    }

    #[test]
    fn a_refusal_says_how_the_caller_was_notified_and_who_may() {
        let r = Request {
            caller: CallerRole::Grid,
            actor: "grid:g-1",
            incident_id: "INC-1",
            class: Class::Fire,
            unverified: false,
            notified_as: &[N::Verify],
            action: A::FalseAlarm,
        };
        let Err(Denial::Forbidden(why)) = decide(&r) else { panic!("refused") };
        assert_eq!(
            why,
            "grid:g-1 was notified of this fire to verify, which allows confirm only; `false_alarm` needs a station \
             notified to respond (or to verify an unverified incident), or a dispatcher"
        );
        let r = Request { notified_as: &[], ..r };
        assert_eq!(decide(&r), Err(Denial::NotNotified("grid:g-1 was not notified of incident INC-1".to_owned())));
    }
}
