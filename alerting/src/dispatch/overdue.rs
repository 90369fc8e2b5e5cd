//! What the planner does when escalation timers fall due (DESIGN §6): an unanswered `respond`
//! goes to the next station — of the same tier, then the tier above — that has not been asked
//! yet: at most `max_escalations` further stations of one tier, then the tier above, and after
//! the district tier the slot is dropped (an unanswered fire is then a dispatcher's to handle, not
//! a page to every station in range); an acknowledged fire nobody reports on scene brings in the
//! township team; an
//! unacknowledged hazard goes to the township team. The result is the routes of a new round and
//! the slot moves to record. Pure.

use firegrid_ingest::Tier;

use super::escalation::{Due, Escalation, SlotMove};
use super::place::Place;
use super::routing::{tier_above, Route, StationPicker};
use crate::incident::{Incident, NotifyRole};

/// The routes and slot moves of the timers of `esc` due at `now_ms`; `None` when none is due.
/// Slots nobody is left to take, or that went to `max_escalations` further stations of the
/// district tier already, are dropped from `esc`.
pub(super) fn resolve(
    esc: &mut Escalation,
    inc: &Incident,
    picker: &StationPicker<'_>,
    max_escalations: usize,
    now_ms: i64,
) -> Option<(Vec<Route>, Vec<SlotMove>)> {
    let due = esc.due(now_ms);
    if due.is_empty() {
        return None;
    }
    let mut round = DueRound {
        incident_id: &inc.id,
        picker,
        place: Place::of(inc, picker.registry),
        responders: esc.responders(),
        max_escalations,
        routes: Vec::new(),
        moves: Vec::new(),
        exhausted: Vec::new(),
    };
    for d in due {
        round.resolve(d);
    }
    round.exhausted.sort_unstable();
    for slot in round.exhausted.into_iter().rev() {
        esc.exhausted(slot);
        for m in round.moves.iter_mut() {
            if m.slot > slot {
                m.slot -= 1;
            }
        }
    }
    Some((round.routes, round.moves))
}

/// The timers of one incident that fell due at one tick, turned into a notification round.
struct DueRound<'a> {
    incident_id: &'a str,
    picker: &'a StationPicker<'a>,
    place: Place,
    /// Stations notified to respond so far (never picked again).
    responders: Vec<String>,
    /// Further stations of one tier a slot may go to before the tier above.
    max_escalations: usize,
    routes: Vec<Route>,
    moves: Vec<SlotMove>,
    /// Slots nobody is left to take.
    exhausted: Vec<usize>,
}

impl<'a> DueRound<'a> {
    /// The tier an unanswered `respond` slot at `tier` escalates within: its own while it went to
    /// at most `max_escalations` further stations of it (`tried` holds the slot's first station
    /// and each escalation's), else the tier above; `None` above the district tier.
    fn next_tier(&self, tier: Tier, tried: &[String]) -> Option<Tier> {
        let of_tier =
            tried.iter().filter(|id| self.picker.registry.station(id).is_some_and(|s| s.tier == tier)).count();
        if of_tier > self.max_escalations {
            tier_above(tier)
        } else {
            Some(tier)
        }
    }

    fn resolve(&mut self, due: Due) {
        let id = self.incident_id;
        match due {
            Due::Respond { slot, tier, tried } => {
                let mut exclude = tried.clone();
                exclude.extend(self.responders.iter().cloned());
                exclude.extend(self.moves.iter().map(|m| m.station_id.clone()));
                let from = self.next_tier(tier, &tried);
                match from.and_then(|t| self.picker.pick_up(t, &self.place, &exclude)) {
                    Some(s) => {
                        tracing::info!(event = "dispatch_escalated", incident = id, from = ?tried.last(),
                            to = %s.station_id, "respond unacknowledged: escalating");
                        self.routes.push(Route::station(&s, NotifyRole::Respond));
                        self.moves.push(SlotMove { slot, station_id: s.station_id.clone(), tier: s.tier });
                    }
                    None => {
                        let reason = if from.is_none() { "max_escalations" } else { "no_station_left" };
                        tracing::warn!(event = "dispatch_escalation_exhausted", incident = id, tried = ?tried,
                            reason, "respond unacknowledged by every station it may go to: left to a dispatcher");
                        self.exhausted.push(slot);
                    }
                }
            }
            Due::OnScene => {
                if let Some(s) = self.picker.pick_up(Tier::TownshipTeam, &self.place, &self.responders) {
                    tracing::info!(event = "dispatch_on_scene_overdue", incident = id, to = %s.station_id,
                        "nobody on scene: bringing in the township team");
                    self.routes.push(Route::station(&s, NotifyRole::Respond));
                }
            }
            Due::Hazard => {
                if let Some(s) = self.picker.pick_up(Tier::TownshipTeam, &self.place, &[]) {
                    tracing::info!(event = "dispatch_hazard_overdue", incident = id, to = %s.station_id,
                        "hazard unacknowledged: township team");
                    self.routes.push(Route::station(&s, NotifyRole::Rectify));
                }
            }
        }
    }
}
