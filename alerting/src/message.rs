//! The dispatch message of DESIGN §6, as sent on every channel (MQTT, webhook, console):
//! `{"incident_id","seq","class","severity","role","station_id","status","opened_at",
//! "ack_deadline","location":{…},"site_type","vulnerable","devices","evidence":[…],"summary_zh"}`
//! plus optional extensions `idempotency_key`, `tier`, `received_at` (epoch ms of the reading
//! that opened the incident) and `verification` (why an incident awaits a check, when it does). Times are UTC, RFC 3339. Pure.

use serde::{Deserialize, Serialize};

use crate::incident::{Evidence, Incident};
use crate::routing::Route;

/// `location` of the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// County code.
    pub county: String,
    /// Township code.
    pub township: String,
    /// Community code.
    pub community: String,
    /// Grid id.
    pub grid_id: String,
    /// Address.
    pub address: String,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
}

/// One piece of evidence in the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Device.
    pub device_id: String,
    /// Kind.
    pub kind: String,
    /// Measurement time, epoch ms.
    pub ts: i64,
    /// The reading's values.
    pub values: serde_json::Value,
}

impl From<&Evidence> for EvidenceItem {
    fn from(e: &Evidence) -> EvidenceItem {
        EvidenceItem { device_id: e.device_id.clone(), kind: e.kind.clone(), ts: e.ts_ms, values: e.values.clone() }
    }
}

/// The dispatch message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchMessage {
    /// Incident id.
    pub incident_id: String,
    /// Notification round of the incident (1 = first).
    pub seq: u32,
    /// `fire`, `electrical_fire`, `forest_fire`, `hazard`.
    pub class: String,
    /// `critical`, `high`, `medium`, `low`.
    pub severity: String,
    /// `respond`, `verify`, `rectify`, `forward_119`.
    pub role: String,
    /// The recipient: a station id, or `grid:{grid_id}`.
    pub station_id: String,
    /// The incident's status when the message was made.
    pub status: String,
    /// Opened, RFC 3339 UTC.
    pub opened_at: String,
    /// Acknowledge by (RFC 3339 UTC) before it escalates: `respond` only.
    pub ack_deadline: Option<String>,
    /// Where.
    pub location: Location,
    /// Site type.
    pub site_type: Option<String>,
    /// A vulnerable household is involved.
    pub vulnerable: bool,
    /// Devices of the incident.
    pub devices: Vec<String>,
    /// Latest evidence (at most a few readings).
    pub evidence: Vec<EvidenceItem>,
    /// The sentence a dispatcher reads aloud (Asia/Shanghai time).
    pub summary_zh: String,
    /// `incident_id:station_id:role:seq`.
    pub idempotency_key: String,
    /// Recipient tier (`micro`, …, or `grid`).
    pub tier: String,
    /// Receive time of the reading that opened the incident, epoch ms.
    pub received_at: Option<i64>,
    /// Why the incident awaits a check (`unregistered_device`, `late_alarm`); absent for a live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
}

/// RFC 3339 UTC of epoch milliseconds (`""` if out of range).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The idempotency key of a notification: `incident_id:station_id:role:seq`.
pub fn idempotency_key(incident_id: &str, target: &str, role: &str, seq: u32) -> String {
    format!("{incident_id}:{target}:{role}:{seq}")
}

/// What a message needs besides the incident and the route.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Round.
    pub seq: u32,
    /// Now, epoch ms.
    pub now_ms: i64,
    /// Acknowledgement timeout for `respond`, ms.
    pub ack_ms: i64,
    /// Latest evidence.
    pub evidence: &'a [EvidenceItem],
    /// The sentence.
    pub summary_zh: &'a str,
    /// Receive time of the opening reading.
    pub received_at: Option<i64>,
}

impl DispatchMessage {
    /// The message for one route of an incident.
    pub fn new(inc: &Incident, route: &Route, cx: &Context<'_>) -> DispatchMessage {
        let target = route.recipient.target();
        let role = route.role.as_str();
        DispatchMessage {
            incident_id: inc.id.clone(),
            seq: cx.seq,
            class: inc.class.as_str().to_owned(),
            severity: inc.severity.as_str().to_owned(),
            role: role.to_owned(),
            status: inc.status.as_str().to_owned(),
            opened_at: rfc3339(inc.opened_at_ms),
            ack_deadline: (route.role == crate::routing::Role::Respond).then(|| rfc3339(cx.now_ms + cx.ack_ms)),
            location: Location {
                county: inc.county.clone(),
                township: inc.township.clone(),
                community: inc.community.clone(),
                grid_id: inc.grid_id.clone(),
                address: inc.address.clone(),
                lat: inc.lat,
                lon: inc.lon,
            },
            site_type: inc.site_type.clone(),
            vulnerable: inc.vulnerable,
            devices: inc.devices.clone(),
            evidence: cx.evidence.to_vec(),
            summary_zh: cx.summary_zh.to_owned(),
            idempotency_key: idempotency_key(&inc.id, &target, role, cx.seq),
            tier: route.recipient.tier().to_owned(),
            received_at: cx.received_at,
            verification: inc.verification.map(|v| v.as_str().to_owned()),
            station_id: target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_the_wire_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_935_417_000), "2026-11-29T06:56:57Z");
        assert_eq!(idempotency_key("INC-1", "ms-1", "respond", 2), "INC-1:ms-1:respond:2");
    }
}
