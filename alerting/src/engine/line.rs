//! The `fire_incident` measurement (DESIGN §4): one line-protocol line per incident transition,
//! so Grafana can draw incidents as annotations. Tags `class, severity, county, township,
//! station_id` (the first notified station, when known) and, as an extension, `transition` (the
//! event again, so that transitions in the same millisecond are distinct points); fields
//! `incident_id, event, summary` and, as an extension, `status`; timestamp in milliseconds.

use firegrid_ingest::lineproto::escape::{push_int, push_tag, quote_field};

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
    out.push(' ');
    push_int(&mut out, entry.at_ms);
    out
}
