//! Ground truth: one JSON line per injected event — what happened, where, when, and what
//! firegrid is expected to make of it (class and highest severity), for `firegrid eval`.

use std::io::Write;

use serde::{Deserialize, Serialize};

use firegrid_ingest::Reason;

use crate::error::SimError;

/// The incident class firegrid should open for an event, or `none` for a nuisance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedClass {
    /// A fire (smoke/heat).
    Fire,
    /// An electrical fire.
    ElectricalFire,
    /// A forest fire.
    ForestFire,
    /// A hazard (隐患): fault, tamper, low battery, offline.
    Hazard,
    /// Nothing should be opened or dispatched (nuisance, test, malformed input).
    None,
}

impl ExpectedClass {
    /// The name on the wire and in the API (`fire`, `electrical_fire`, …, `none`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ExpectedClass::Fire => "fire",
            ExpectedClass::ElectricalFire => "electrical_fire",
            ExpectedClass::ForestFire => "forest_fire",
            ExpectedClass::Hazard => "hazard",
            ExpectedClass::None => "none",
        }
    }

    /// A fire of any kind (what must never be a nuisance's outcome).
    pub const fn is_fire(self) -> bool {
        matches!(self, ExpectedClass::Fire | ExpectedClass::ElectricalFire | ExpectedClass::ForestFire)
    }
}

/// Incident severity (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High: a single-device fire alarm.
    High,
    /// Critical: a confirmed fire, or a fire where people are vulnerable.
    Critical,
}

impl Severity {
    /// The name on the wire and in the API (`low` … `critical`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One injected event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRecord {
    /// Unique id within a run, e.g. `ev-0003`.
    pub id: String,
    /// Scenario name, e.g. `kitchen_fire`.
    pub scenario: String,
    /// What happened, in words.
    pub what: String,
    /// The devices involved, first to last.
    pub devices: Vec<String>,
    /// The household (home, venue, site) when there is one.
    pub household: String,
    /// County code.
    pub county: String,
    /// Township code.
    pub township: String,
    /// Community code.
    pub community: String,
    /// Grid id.
    pub grid_id: String,
    /// Site type of the devices.
    pub site_type: String,
    /// A vulnerable household.
    pub vulnerable: bool,
    /// When the event starts, epoch ms (its first message).
    pub start_ts: i64,
    /// When its last message is due, epoch ms.
    pub end_ts: i64,
    /// What firegrid should open.
    pub expected_class: ExpectedClass,
    /// The highest severity the incident should reach; `None` when nothing should open. Fires
    /// follow DESIGN §5 (two devices, a vulnerable household, a sensitive site or an alarm
    /// persisting 120 s: `critical`; else `high`); hazards are `low` (fault, low battery,
    /// offline) or `medium` (tamper, pre-alarms), as the alert engine grades them.
    pub expected_severity: Option<Severity>,
    /// For malformed input: the dead-letter reason firegrid should give.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[serde(with = "reason_name")]
    pub deadletter_reason: Option<Reason>,
}

impl TruthRecord {
    /// One JSON line (with the trailing newline).
    pub fn to_line(&self) -> Result<String, SimError> {
        let mut s = serde_json::to_string(self)?;
        s.push('\n');
        Ok(s)
    }
}

/// Writes truth records as JSONL, flushing each so a reader sees events as they start.
pub fn write_records<W: Write>(out: &mut W, records: &[TruthRecord]) -> Result<(), SimError> {
    for r in records {
        out.write_all(r.to_line()?.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| SimError::Io { path: "truth".into(), source })?;
    }
    Ok(())
}

/// Reads truth records from JSONL text (blank lines skipped).
pub fn parse_records(text: &str) -> Result<Vec<TruthRecord>, SimError> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// A dead-letter reason in a truth line, by its wire name (`not_json`, …).
mod reason_name {
    use firegrid_ingest::Reason;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(reason: &Option<Reason>, s: S) -> Result<S::Ok, S::Error> {
        match reason {
            Some(r) => s.serialize_some(r.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Reason>, D::Error> {
        let Some(name) = Option::<String>::deserialize(d)? else { return Ok(None) };
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown dead-letter reason `{name}`")))
    }
}
