//! Evidence: the reading that raised or fed an incident — its device, kind, times, status and
//! values as JSON (the wire names of DESIGN §2) — stored beside the incident and served with it.
//! Pure.

use firegrid_ingest::{EnrichedReading, Kind, Status, Values};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::model::Incident;

/// One reading that raised or fed an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The incident.
    pub incident_id: String,
    /// The device.
    pub device_id: String,
    /// The device's kind.
    #[serde(with = "crate::by_name")]
    pub kind: Kind,
    /// Measurement time, epoch ms.
    pub ts_ms: i64,
    /// Receive time, epoch ms.
    pub received_at_ms: i64,
    /// The device's message counter.
    pub seq: Option<u64>,
    /// The device's status, or `offline` for the silence of an offline hazard.
    pub status: EvidenceStatus,
    /// Why this reading counts (rule and values).
    pub reason: String,
    /// The reading's values (`null` for an offline hazard: no reading raised it).
    pub values: Value,
}

/// The status of a piece of evidence: the reading's own, or the silence of an offline device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvidenceStatus {
    /// The status the device reported (`normal`, `alarm`, `fault`, `test`).
    Reported(Status),
    /// No reading: the device fell silent (`offline`).
    Offline,
}

impl EvidenceStatus {
    /// The stored and served name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EvidenceStatus::Reported(s) => s.as_str(),
            EvidenceStatus::Offline => "offline",
        }
    }

    /// The status of a name.
    pub fn parse(s: &str) -> Option<EvidenceStatus> {
        match s {
            "offline" => Some(EvidenceStatus::Offline),
            _ => Status::parse(s).map(EvidenceStatus::Reported),
        }
    }
}

serde_by_name!(EvidenceStatus);

/// The reading's values as the JSON object of the wire contract.
pub(crate) fn values_json(v: &Values) -> Value {
    let mut m = Map::new();
    let opt = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    match v {
        Values::Smoke(s) => {
            m.insert("obscuration_db_m".into(), json!(s.obscuration_db_m));
            opt(&mut m, "temperature_c", s.temperature_c.map(|x| json!(x)));
            opt(&mut m, "alarm", s.alarm.map(Value::Bool));
            opt(&mut m, "battery_pct", s.battery_pct.map(|x| json!(x)));
            opt(&mut m, "tamper", s.tamper.map(Value::Bool));
            opt(&mut m, "silenced", s.silenced.map(Value::Bool));
        }
        Values::Electrical(e) => {
            m.insert("residual_current_ma".into(), json!(e.residual_current_ma));
            m.insert("cable_temp_c".into(), json!(e.cable_temp_c));
            opt(&mut m, "current_a", e.current_a.map(|x| json!(x)));
            opt(&mut m, "voltage_v", e.voltage_v.map(|x| json!(x)));
            opt(&mut m, "arc_fault", e.arc_fault.map(Value::Bool));
        }
        Values::ForestIr(f) => {
            m.insert("max_temp_c".into(), json!(f.max_temp_c));
            m.insert("hotspot_px".into(), json!(f.hotspot_px));
            opt(&mut m, "smoke_score", f.smoke_score.map(|x| json!(x)));
            opt(&mut m, "lat", f.lat.map(|x| json!(x)));
            opt(&mut m, "lon", f.lon.map(|x| json!(x)));
            opt(&mut m, "ambient_c", f.ambient_c.map(|x| json!(x)));
        }
    }
    Value::Object(m)
}

/// The evidence record of a reading for an incident.
pub(crate) fn evidence_of(inc: &Incident, er: &EnrichedReading, reason: &str) -> Evidence {
    let r = &er.reading;
    Evidence {
        incident_id: inc.id.clone(),
        device_id: r.device_id.clone(),
        kind: r.kind,
        ts_ms: r.ts_ms,
        received_at_ms: r.received_at_ms,
        seq: r.seq,
        status: EvidenceStatus::Reported(r.status),
        reason: reason.to_owned(),
        values: values_json(&r.values),
    }
}
