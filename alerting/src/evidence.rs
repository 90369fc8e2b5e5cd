//! Evidence records and human-readable summaries: the reading that raised or fed an incident, its
//! values as JSON (the wire names of DESIGN §2), and one line a dispatcher can read. Pure.

use firegrid_ingest::{EnrichedReading, Values};
use serde_json::{json, Map, Value};

use crate::incident::{Evidence, Incident};

/// The reading's values as the JSON object of the wire contract.
pub fn values_json(v: &Values) -> Value {
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
pub fn evidence_of(inc: &Incident, er: &EnrichedReading, reason: &str) -> Evidence {
    let r = &er.reading;
    Evidence {
        incident_id: inc.id.clone(),
        device_id: r.device_id.clone(),
        kind: r.kind.as_str().to_owned(),
        ts_ms: r.ts_ms,
        received_at_ms: r.received_at_ms,
        seq: r.seq,
        status: r.status.as_str().to_owned(),
        reason: reason.to_owned(),
        values: values_json(&r.values),
    }
}

/// One line: class and severity, what alarmed, where.
pub fn summary(inc: &Incident) -> String {
    let place = if !inc.address.is_empty() {
        inc.address.as_str()
    } else if !inc.community.is_empty() {
        inc.community.as_str()
    } else {
        inc.township.as_str()
    };
    let devices = if inc.alarm_devices.is_empty() { &inc.devices } else { &inc.alarm_devices };
    let mut s = format!(
        "{} {}: {} from {} at {}",
        inc.class,
        inc.severity,
        if inc.signals.is_empty() { "alarm".to_owned() } else { inc.signals.join("+") },
        devices.join(", "),
        place
    );
    if inc.vulnerable {
        s.push_str(" (vulnerable household)");
    }
    if let Some(c) = &inc.confirmed {
        s.push_str("; confirmed: ");
        s.push_str(c);
    }
    if let Some(v) = inc.verification {
        s.push_str("; unverified (");
        s.push_str(v.as_str());
        s.push_str("): a person must check it before it is handled as a fire");
    }
    s
}
