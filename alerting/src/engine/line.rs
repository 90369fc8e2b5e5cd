//! The `fire_incident` measurement (DESIGN §4): one line-protocol line per incident transition,
//! so Grafana can draw incidents as annotations. Tags `class, severity, county, township,
//! station_id` (the first notified station, when known) and, as an extension, `transition` (the
//! event again, so that transitions in the same millisecond are distinct points); fields
//! `incident_id, event, summary` and, as extensions, `status` and `lat`, `lon` (the incident's
//! position — the hotspot's estimate, else its first device's — when known: the Geomap panel of
//! active incidents places them); timestamp in milliseconds.

use firegrid_ingest::lineproto::escape::{push_float, push_int, push_tag, quote_field};

use crate::incident::{AuditEntry, Incident};

/// The measurement name.
pub(crate) const MEASUREMENT: &str = "fire_incident";

/// Encodes the line of one audit entry of `inc` (its snapshot after the change).
pub(crate) fn encode(entry: &AuditEntry, inc: &Incident) -> String {
    let mut out = String::with_capacity(160 + inc.summary.len());
    out.push_str(MEASUREMENT);
    push_tag(&mut out, "class", inc.class.as_str());
    push_tag(&mut out, "severity", entry.severity.as_str());
    push_tag(&mut out, "county", &inc.county);
    push_tag(&mut out, "township", &inc.township);
    if let Some(station) = inc.notified_stations.first() {
        push_tag(&mut out, "station_id", station);
    }
    // Transitions of one incident often share a millisecond (opened and dispatched); a store
    // keeps one point per series and time, so the transition is part of the series.
    push_tag(&mut out, "transition", entry.event.as_str());
    out.push_str(" incident_id=");
    quote_field(&mut out, &inc.id);
    out.push_str(",event=");
    quote_field(&mut out, entry.event.as_str());
    out.push_str(",status=");
    quote_field(&mut out, entry.to_status.as_str());
    out.push_str(",summary=");
    quote_field(&mut out, &inc.summary);
    // A position the line protocol cannot carry (NaN, infinite) is left out, as an unknown one.
    if let (Some(lat), Some(lon)) = (inc.lat, inc.lon) {
        if lat.is_finite() && lon.is_finite() {
            out.push_str(",lat=");
            push_float(&mut out, lat);
            out.push_str(",lon=");
            push_float(&mut out, lon);
        }
    }
    out.push(' ');
    push_int(&mut out, entry.at_ms);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::incident::Event;

    const ENGINE_ACTOR: &str = "engine";

    fn incident(lat: Option<f64>, lon: Option<f64>) -> Incident {
        let v = serde_json::json!({
            "id": "INC-500112-20260101-1", "class": "fire", "severity": "high", "status": "open",
            "correlation_key": "hh:1", "county": "500112", "township": "500112002", "community": "",
            "grid_id": "", "household_id": "1", "address": "", "site_type": null, "vulnerable": false,
            "lat": lat, "lon": lon, "devices": [], "alarm_devices": [], "sounding_devices": [], "signals": [],
            "confirmed": null, "confirmed_by": null, "silenced": false, "opened_at_ms": 1, "updated_at_ms": 1,
            "first_alarm_ms": 1, "last_alarm_ms": 1, "evidence_count": 1, "notified_stations": [],
            "notified_grids": [], "summary": "渝北区 火警", "verification": null,
        });
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_line_carries_the_incident_position_when_it_is_known() {
        let inc = incident(Some(29.71), Some(106.62));
        let entry = inc.audit(Event::Opened, None, ENGINE_ACTOR, "opened", 1_700_000_000_000);
        let line = encode(&entry, &inc);
        assert!(line.starts_with("fire_incident,class=fire,severity=high,county=500112,township=500112002"), "{line}");
        assert!(line.ends_with(",lat=29.71,lon=106.62 1700000000000"), "{line}");
    }

    #[test]
    fn an_unknown_or_unwritable_position_is_left_out() {
        for (lat, lon) in [(None, None), (Some(29.7), None), (Some(f64::NAN), Some(106.6))] {
            let inc = incident(lat, lon);
            let line = encode(&inc.audit(Event::Opened, None, ENGINE_ACTOR, "opened", 5), &inc);
            assert!(!line.contains("lat=") && !line.contains("lon="), "{line}");
            assert!(line.ends_with("summary=\"渝北区 火警\" 5"), "{line}");
        }
    }
}
