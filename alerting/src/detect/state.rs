//! Per-device rule state and what "default" means for it. A device whose state is not the
//! default (a smoke count under way, an open sustain window, hotspot frames within the window,
//! a raised hazard) is persisted with the incidents (one `rule_state` row, JSON), so a decision
//! that spans a restart is taken as if there had been none; a device back at the default has no
//! row, so the normal readings of a large fleet cost nothing extra. Pure.
//!
//! Sized for a city (issue 14): a state is 40 bytes held in the device's watch slot — the
//! smoke counter inline, the larger electrical and forest states boxed (a city is mostly smoke
//! detectors), and the redelivery memory as 8-byte keys grown one reading at a time.

use firegrid_ingest::{Kind, Values};
use serde::{Deserialize, Serialize};

use super::dedup::Recent;
use super::rules::{electrical, forest_ir, smoke};
use super::signal::Hazard;

/// Rule state of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum KindState {
    /// Smoke detector.
    Smoke(smoke::SmokeState),
    /// Electrical detector.
    Electrical(Box<electrical::ElectricalState>),
    /// Forest camera.
    ForestIr(Box<forest_ir::ForestIrState>),
}

impl KindState {
    /// The fresh state of a kind.
    pub(crate) fn new(kind: Kind) -> KindState {
        match kind {
            Kind::Smoke => KindState::Smoke(smoke::SmokeState::default()),
            Kind::Electrical => KindState::Electrical(Box::default()),
            Kind::ForestIr => KindState::ForestIr(Box::default()),
        }
    }

    /// Whether these values belong to this state's kind.
    pub(crate) fn fits(&self, v: &Values) -> bool {
        matches!(
            (self, v),
            (KindState::Smoke(_), Values::Smoke(_))
                | (KindState::Electrical(_), Values::Electrical(_))
                | (KindState::ForestIr(_), Values::ForestIr(_))
        )
    }

    /// Nothing under way that a later reading depends on. The newest electrical timestamp alone
    /// (kept against out-of-order readings) does not count.
    fn is_default(&self) -> bool {
        match self {
            KindState::Smoke(s) => s.consecutive == 0,
            KindState::Electrical(e) => {
                e.residual_since.is_none() && e.prealarm_since.is_none() && e.cable_since.is_none()
            }
            KindState::ForestIr(f) => f.frames.is_empty(),
        }
    }
}

/// Everything the rules keep about one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeviceState {
    /// The kind's rule state.
    pub(crate) rules: KindState,
    /// Hazards currently raised (bits of [`Hazard`]).
    #[serde(default)]
    pub(crate) hazards: u8,
    /// The keys of the device's recent readings, for redelivery detection. Named `seen`
    /// since the keys became 8 bytes: a row written before keeps its rule state and drops its
    /// old `recent` list (a redelivery right at that upgrade may be evaluated again).
    #[serde(default)]
    pub(crate) seen: Recent,
    /// The device was missing from the registry when the state was made.
    #[serde(default)]
    pub(crate) unregistered: bool,
    /// A `rule_state` row exists for the device (set on restore and on every upsert).
    #[serde(skip)]
    pub(crate) persisted: bool,
}

impl DeviceState {
    /// A fresh state. Its memory of recent readings grows as readings come, up to the
    /// configured number, rather than being reserved up front: a city holds a million states,
    /// most of whose devices report a few times an hour (issue 14).
    pub(crate) fn new(kind: Kind, unregistered: bool) -> DeviceState {
        DeviceState { rules: KindState::new(kind), hazards: 0, seen: Recent::default(), unregistered, persisted: false }
    }

    /// No later decision depends on this state (the offline bit does not count: the offline
    /// tracker restarts from the registry, and a reading clears it).
    pub(crate) fn is_default(&self) -> bool {
        self.hazards & !Hazard::Offline.bit() == 0 && self.rules.is_default()
    }

    /// The change of the device's `rule_state` row after an evaluation, if any: the JSON to
    /// upsert while the state is not the default, a delete when it has just returned to it.
    pub(crate) fn row_change(&mut self) -> Option<Option<String>> {
        if !self.is_default() {
            let doc = serde_json::to_string(self).ok()?;
            self.persisted = true;
            return Some(Some(doc));
        }
        if self.persisted {
            self.persisted = false;
            return Some(None);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_under_way_round_trips_through_its_row_and_the_default_has_none() {
        let mut st = DeviceState::new(Kind::Electrical, false);
        assert_eq!(st.row_change(), None, "default, never persisted");
        if let KindState::Electrical(e) = &mut st.rules {
            e.residual_since = Some(1_000);
            e.last_ts = Some(1_000);
        }
        st.seen.push(42, 16);
        let Some(Some(doc)) = st.row_change() else { panic!("an open window is persisted") };
        let mut back: DeviceState = serde_json::from_str(&doc).expect("decodes");
        back.persisted = true;
        assert_eq!(back, st);
        if let KindState::Electrical(e) = &mut st.rules {
            e.residual_since = None;
        }
        assert_eq!(st.row_change(), Some(None), "back to default: the row is deleted");
        assert_eq!(st.row_change(), None, "and only once");
        st.hazards = Hazard::Offline.bit();
        assert!(st.is_default(), "offline alone is not persisted");
    }

    #[test]
    fn a_row_written_before_the_compact_keys_keeps_its_rule_state() {
        let doc = r#"{"rules":{"kind":"smoke","consecutive":2},"hazards":0,"recent":[[7,1000,1000,42]]}"#;
        let st: DeviceState = serde_json::from_str(doc).expect("an old row decodes");
        assert_eq!(st.rules, KindState::Smoke(smoke::SmokeState { consecutive: 2 }));
        assert_eq!(st.seen, Recent::default());
    }

    #[test]
    fn a_state_is_small_enough_for_a_city() {
        assert!(std::mem::size_of::<Option<DeviceState>>() <= 40);
    }
}
