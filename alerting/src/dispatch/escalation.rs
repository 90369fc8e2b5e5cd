//! Escalation timers of DESIGN §6 as a pure state machine with an explicit clock: one
//! [`Escalation`] per active incident, serialised with every change of the incident (the
//! dispatch state of the incident store), so timers resume after a restart.
//!
//! - A `respond` notification not acknowledged within `ack_timeout` is due: the dispatch stage
//!   moves its slot to the next station (same tier, then the tier above) and re-arms the timer.
//! - An acknowledged fire with no `on_scene` within `on_scene_timeout` is due once: the township
//!   team is brought in.
//! - A hazard not acknowledged within `hazard_ack_timeout` is due once: the township team.
//!
//! An acknowledgement at any time before a deadline (even 1 ms) cancels it: a timer fires only at
//! or after its due time.
//!
//! An incident for which routing found no recipient at all keeps a state too, with
//! `unroutable_since_ms` set and no round yet: the planner routes it again when availability or
//! the registry changes, also after a restart.

use firegrid_ingest::Tier;
use serde::{Deserialize, Serialize};

use super::routing::Route;
use crate::incident::{Class, NotifyRole, Recipient, RecipientTier};

/// The timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// `respond` unacknowledged → next station.
    pub(crate) ack_ms: i64,
    /// Acknowledged, not on scene → township team.
    pub(crate) on_scene_ms: i64,
    /// Hazard unacknowledged → township team.
    pub(crate) hazard_ack_ms: i64,
}

/// One `respond` notification awaiting acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// The station notified last on this slot.
    pub station_id: String,
    /// Its tier.
    #[serde(with = "crate::by_name")]
    pub tier: Tier,
    /// Deadline of its acknowledgement, epoch ms.
    pub due_ms: i64,
    /// Every station this slot has gone to, first one first.
    pub tried: Vec<String>,
}

/// A timer that has fired.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Due {
    /// The `respond` slot at this index went unanswered.
    Respond {
        /// Slot index.
        slot: usize,
        /// Tier of the station that did not answer.
        tier: Tier,
        /// Stations already tried on the slot.
        tried: Vec<String>,
    },
    /// Acknowledged but nobody on scene.
    OnScene,
    /// Hazard unacknowledged.
    Hazard,
}

/// A `respond` slot moved to the next station by an escalation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlotMove {
    /// Slot index.
    pub(crate) slot: usize,
    /// The station it goes to now.
    pub(crate) station_id: String,
    /// Its tier.
    pub(crate) tier: Tier,
}

/// The dispatch state of one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// The incident.
    pub incident_id: String,
    /// Its class.
    pub class: Class,
    /// Last notification round (the `seq` of idempotency keys and messages); 0 = none yet.
    pub seq: u32,
    /// `(target, role)` of every notification sent.
    pub sent: Vec<(String, NotifyRole)>,
    /// `respond` notifications awaiting acknowledgement.
    pub slots: Vec<Slot>,
    /// Acknowledged at, epoch ms.
    pub acked_at_ms: Option<i64>,
    /// Deadline of the `on_scene` report.
    pub on_scene_due_ms: Option<i64>,
    /// Deadline of a hazard's acknowledgement.
    pub hazard_due_ms: Option<i64>,
    /// Epoch ms of the reading that opened the incident (for `firegrid_dispatch_seconds`).
    pub received_at_ms: Option<i64>,
    /// Routing found no recipient at all since this epoch ms (no round sent yet); `None` once routed.
    #[serde(default)]
    pub unroutable_since_ms: Option<i64>,
}

impl Escalation {
    /// A fresh state.
    pub(crate) fn new(incident_id: &str, class: Class) -> Escalation {
        Escalation {
            incident_id: incident_id.to_owned(),
            class,
            seq: 0,
            sent: Vec::new(),
            slots: Vec::new(),
            acked_at_ms: None,
            on_scene_due_ms: None,
            hazard_due_ms: None,
            received_at_ms: None,
            unroutable_since_ms: None,
        }
    }

    /// Starts a notification round; returns its `seq`.
    pub(crate) fn next_round(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Whether `target` was already notified as `role`.
    fn was_sent(&self, target: &str, role: NotifyRole) -> bool {
        self.sent.iter().any(|(t, r)| t == target && *r == role)
    }

    /// Stations notified to respond (never to be picked again by an escalation).
    pub(crate) fn responders(&self) -> Vec<String> {
        self.sent.iter().filter(|(_, r)| *r == NotifyRole::Respond).map(|(t, _)| t.clone()).collect()
    }

    /// Records a notification sent at `now_ms`: a `respond` to a station arms a slot unless the
    /// incident is already acknowledged; a hazard's first notification arms its timer.
    pub(crate) fn sent(&mut self, route: &Route, now_ms: i64, t: &Timeouts) {
        let target = route.recipient.target();
        if !self.was_sent(&target, route.role) {
            self.sent.push((target.clone(), route.role));
        }
        if self.class == Class::Hazard {
            // Armed by the first round only: the township team called in after a day is the end.
            let first = self.acked_at_ms.is_none() && self.hazard_due_ms.is_none() && self.seq <= 1;
            if first && route.role == NotifyRole::Rectify {
                self.hazard_due_ms = Some(now_ms + t.hazard_ack_ms);
            }
            return;
        }
        let (Recipient::Station(station_id), RecipientTier::Station(tier)) = (&route.recipient, route.tier) else {
            return;
        };
        if route.role == NotifyRole::Respond
            && self.acked_at_ms.is_none()
            && !self.slots.iter().any(|s| &s.station_id == station_id)
        {
            self.slots.push(Slot {
                station_id: station_id.clone(),
                tier,
                due_ms: now_ms + t.ack_ms,
                tried: vec![station_id.clone()],
            });
        }
    }

    /// Moves a slot to its next station at `now_ms` and re-arms it.
    pub(crate) fn escalated(&mut self, mv: &SlotMove, now_ms: i64, t: &Timeouts) {
        if let Some(s) = self.slots.get_mut(mv.slot) {
            s.station_id = mv.station_id.clone();
            s.tier = mv.tier;
            s.tried.push(mv.station_id.clone());
            s.due_ms = now_ms + t.ack_ms;
        }
    }

    /// Drops a slot nobody is left to take.
    pub(crate) fn exhausted(&mut self, slot: usize) {
        if slot < self.slots.len() {
            self.slots.remove(slot);
        }
    }

    /// The incident was acknowledged at `now_ms`: `respond` and hazard timers stop; a fire's
    /// `on_scene` timer starts.
    pub(crate) fn acknowledged(&mut self, now_ms: i64, t: &Timeouts) {
        if self.acked_at_ms.is_some() {
            return;
        }
        self.acked_at_ms = Some(now_ms);
        self.slots.clear();
        self.hazard_due_ms = None;
        if self.class != Class::Hazard {
            self.on_scene_due_ms = Some(now_ms + t.on_scene_ms);
        }
    }

    /// A responder is on scene: no timer is left.
    pub(crate) fn on_scene(&mut self) {
        self.slots.clear();
        self.on_scene_due_ms = None;
    }

    /// Timers due at `now_ms`. `OnScene` and `Hazard` fire once (they are cleared here); a
    /// `Respond` stays until [`Escalation::escalated`] or [`Escalation::exhausted`].
    pub(crate) fn due(&mut self, now_ms: i64) -> Vec<Due> {
        let mut out: Vec<Due> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.due_ms <= now_ms)
            .map(|(i, s)| Due::Respond { slot: i, tier: s.tier, tried: s.tried.clone() })
            .collect();
        if self.on_scene_due_ms.is_some_and(|d| d <= now_ms) {
            self.on_scene_due_ms = None;
            out.push(Due::OnScene);
        }
        if self.hazard_due_ms.is_some_and(|d| d <= now_ms) {
            self.hazard_due_ms = None;
            out.push(Due::Hazard);
        }
        out
    }

    /// The earliest pending deadline, if any.
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.slots.iter().map(|s| s.due_ms).chain(self.on_scene_due_ms).chain(self.hazard_due_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts { ack_ms: 60_000, on_scene_ms: 180_000, hazard_ack_ms: 86_400_000 };

    fn micro(id: &str) -> Route {
        Route {
            recipient: Recipient::Station(id.into()),
            tier: RecipientTier::Station(Tier::Micro),
            role: NotifyRole::Respond,
        }
    }

    fn grid(role: NotifyRole) -> Route {
        Route { recipient: Recipient::Grid("g1".into()), tier: RecipientTier::Grid, role }
    }

    #[test]
    fn a_respond_slot_falls_due_at_its_deadline_not_before() {
        let mut e = Escalation::new("INC-1", Class::Fire);
        e.sent(&micro("ms-1"), 1_000, &T);
        e.sent(&grid(NotifyRole::Verify), 1_000, &T);
        assert!(e.due(60_999).is_empty());
        assert_eq!(e.due(61_000), vec![Due::Respond { slot: 0, tier: Tier::Micro, tried: vec!["ms-1".into()] }]);
        e.escalated(&SlotMove { slot: 0, station_id: "ms-2".into(), tier: Tier::Micro }, 61_000, &T);
        assert!(e.due(120_999).is_empty());
        assert_eq!(e.slots[0].tried, vec!["ms-1", "ms-2"]);
    }

    #[test]
    fn an_acknowledgement_stops_respond_timers_and_starts_the_on_scene_timer_once() {
        let mut e = Escalation::new("INC-1", Class::Fire);
        e.sent(&micro("ms-1"), 0, &T);
        e.acknowledged(59_999, &T);
        assert!(e.due(60_000).is_empty());
        assert_eq!(e.due(239_998), vec![]);
        assert_eq!(e.due(239_999), vec![Due::OnScene]);
        assert!(e.due(1_000_000).is_empty(), "fires once");
    }

    #[test]
    fn a_hazard_falls_due_after_a_day_unless_acknowledged() {
        let mut e = Escalation::new("INC-2", Class::Hazard);
        e.sent(&grid(NotifyRole::Rectify), 0, &T);
        assert!(e.slots.is_empty());
        assert_eq!(e.next_due(), Some(86_400_000));
        let mut acked = e.clone();
        acked.acknowledged(86_399_999, &T);
        assert!(acked.due(86_400_000).is_empty());
        assert_eq!(e.due(86_400_000), vec![Due::Hazard]);
    }

    #[test]
    fn a_state_stored_before_unroutable_existed_still_loads() {
        let old = r#"{"incident_id":"INC-1","class":"fire","seq":1,"sent":[],"slots":[],"acked_at_ms":null,
            "on_scene_due_ms":null,"hazard_due_ms":null,"received_at_ms":null}"#;
        let e: Escalation = serde_json::from_str(old).expect("parses");
        assert_eq!(e.unroutable_since_ms, None);
    }

    #[test]
    fn the_state_survives_a_json_round_trip() {
        let mut e = Escalation::new("INC-3", Class::ForestFire);
        let team = Route {
            recipient: Recipient::Station("ft-1".into()),
            tier: RecipientTier::Station(Tier::ForestTeam),
            role: NotifyRole::Respond,
        };
        e.sent(&team, 5, &T);
        let back: Escalation = serde_json::from_str(&serde_json::to_string(&e).expect("serialises")).expect("parses");
        assert_eq!(back, e);
    }

    fn station(id: &str, tier: Tier, role: NotifyRole) -> Route {
        Route { recipient: Recipient::Station(id.into()), tier: RecipientTier::Station(tier), role }
    }

    #[test]
    fn each_notification_is_recorded_once_and_only_stations_asked_to_respond_are_responders() {
        let mut e = Escalation::new("INC-4", Class::Fire);
        let routes = [
            micro("ms-1"),
            grid(NotifyRole::Verify),
            station("tt-1", Tier::TownshipTeam, NotifyRole::Respond),
            station("ds-1", Tier::District, NotifyRole::Forward119),
            // A second round repeats the first's recipients.
            micro("ms-1"),
            grid(NotifyRole::Verify),
            grid(NotifyRole::Rectify),
        ];
        for r in &routes {
            e.sent(r, 0, &T);
        }
        assert_eq!(
            e.sent,
            vec![
                ("ms-1".to_owned(), NotifyRole::Respond),
                ("grid:g1".to_owned(), NotifyRole::Verify),
                ("tt-1".to_owned(), NotifyRole::Respond),
                ("ds-1".to_owned(), NotifyRole::Forward119),
                ("grid:g1".to_owned(), NotifyRole::Rectify),
            ]
        );
        assert_eq!(e.responders(), vec!["ms-1", "tt-1"]);
    }

    #[test]
    fn every_station_asked_to_respond_gets_one_slot_and_a_repeat_does_not_rearm_it() {
        let mut e = Escalation::new("INC-5", Class::Fire);
        e.sent(&micro("ms-1"), 0, &T);
        e.sent(&station("tt-1", Tier::TownshipTeam, NotifyRole::Respond), 1_000, &T);
        e.sent(&station("ds-1", Tier::District, NotifyRole::Forward119), 1_000, &T);
        e.sent(&micro("ms-1"), 30_000, &T);
        let slots: Vec<(&str, Tier, i64)> = e.slots.iter().map(|s| (s.station_id.as_str(), s.tier, s.due_ms)).collect();
        assert_eq!(slots, vec![("ms-1", Tier::Micro, 60_000), ("tt-1", Tier::TownshipTeam, 61_000)]);
        assert_eq!(e.next_due(), Some(60_000));
    }

    #[test]
    fn a_station_asked_to_respond_after_the_acknowledgement_gets_no_slot() {
        let mut e = Escalation::new("INC-6", Class::Fire);
        e.sent(&micro("ms-1"), 0, &T);
        e.acknowledged(10_000, &T);
        e.sent(&station("tt-1", Tier::TownshipTeam, NotifyRole::Respond), 190_000, &T);
        assert!(e.slots.is_empty(), "{:?}", e.slots);
        assert_eq!(e.next_due(), Some(190_000), "only the on-scene timer runs");
    }

    #[test]
    fn an_escalated_slot_is_due_a_full_timeout_after_the_escalation() {
        let mut e = Escalation::new("INC-7", Class::Fire);
        e.sent(&micro("ms-1"), 0, &T);
        e.escalated(&SlotMove { slot: 0, station_id: "ms-2".into(), tier: Tier::Micro }, 60_000, &T);
        assert_eq!(e.next_due(), Some(120_000));
        // A move of a slot that no longer exists changes nothing.
        e.escalated(&SlotMove { slot: 3, station_id: "ms-3".into(), tier: Tier::Micro }, 70_000, &T);
        assert_eq!(e.slots.len(), 1);
    }

    #[test]
    fn exhausting_a_slot_drops_exactly_that_slot_and_an_index_past_the_end_is_ignored() {
        let mut e = Escalation::new("INC-8", Class::Fire);
        e.sent(&micro("ms-1"), 0, &T);
        e.sent(&micro("ms-2"), 0, &T);
        e.exhausted(2);
        assert_eq!(e.slots.len(), 2, "an index past the end is ignored");
        e.exhausted(0);
        assert_eq!(e.slots.iter().map(|s| s.station_id.as_str()).collect::<Vec<_>>(), vec!["ms-2"]);
        e.exhausted(1);
        assert_eq!(e.slots.len(), 1, "one past the end is ignored too");
    }

    #[test]
    fn a_hazard_timer_is_armed_by_the_first_rectify_of_the_first_round_only() {
        let mut e = Escalation::new("INC-9", Class::Hazard);
        assert_eq!(e.next_round(), 1);
        e.sent(&grid(NotifyRole::Rectify), 0, &T);
        e.sent(&station("tt-1", Tier::TownshipTeam, NotifyRole::Rectify), 5_000, &T);
        assert_eq!(e.next_due(), Some(86_400_000), "a second rectify of the round does not move the deadline");
        assert_eq!(e.due(86_400_000), vec![Due::Hazard]);
        assert_eq!(e.next_round(), 2);
        e.sent(&station("tt-1", Tier::TownshipTeam, NotifyRole::Rectify), 86_400_000, &T);
        assert_eq!(e.next_due(), None, "the township team called in is the end");
        // Acknowledged before its first notification went out: no timer.
        let mut acked = Escalation::new("INC-10", Class::Hazard);
        acked.next_round();
        acked.acknowledged(0, &T);
        acked.sent(&grid(NotifyRole::Rectify), 0, &T);
        assert_eq!(acked.next_due(), None);
    }
}
