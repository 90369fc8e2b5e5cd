//! The dispatch message of DESIGN §6, as sent on every channel (MQTT, webhook, console):
//! `{"incident_id","seq","class","severity","role","station_id","status","opened_at",
//! "ack_deadline","location":{…},"site_type","vulnerable","devices","evidence":[…],"summary_zh"}`
//! plus optional extensions `idempotency_key`, `tier`, `received_at` (epoch ms of the reading
//! that opened the incident) and `verification` (why an incident awaits a check, when it does).
//! Times are UTC, RFC 3339. One message goes out on every channel of its recipient: one outbox
//! row each ([`outbox_rows`]). Pure.

use firegrid_ingest::{Kind, SiteType};
use serde::{Deserialize, Serialize};

use super::routing::Route;
use crate::incident::{
    idempotency_key, Channel, Class, Evidence, Incident, NotifyRole, OutboxEntry, RecipientTier, Severity, Status,
    Verification,
};

/// `location` of the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Location {
    pub(crate) county: String,
    pub(crate) township: String,
    pub(crate) community: String,
    pub(crate) grid_id: String,
    pub(crate) address: String,
    pub(crate) lat: Option<f64>,
    pub(crate) lon: Option<f64>,
}

/// One piece of evidence in the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EvidenceItem {
    pub(crate) device_id: String,
    #[serde(with = "crate::by_name")]
    pub(crate) kind: Kind,
    /// Measurement time, epoch ms.
    pub(crate) ts: i64,
    /// The reading's values.
    pub(crate) values: serde_json::Value,
}

impl From<&Evidence> for EvidenceItem {
    fn from(e: &Evidence) -> EvidenceItem {
        EvidenceItem { device_id: e.device_id.clone(), kind: e.kind, ts: e.ts_ms, values: e.values.clone() }
    }
}

/// The dispatch message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DispatchMessage {
    pub(crate) incident_id: String,
    /// Notification round of the incident (1 = first).
    pub(crate) seq: u32,
    pub(crate) class: Class,
    pub(crate) severity: Severity,
    pub(crate) role: NotifyRole,
    /// The recipient: a station id, or `grid:{grid_id}`.
    pub(crate) station_id: String,
    /// The incident's status when the message was made.
    pub(crate) status: Status,
    /// Opened, RFC 3339 UTC.
    pub(crate) opened_at: String,
    /// Acknowledge by (RFC 3339 UTC) before it escalates: `respond` only.
    pub(crate) ack_deadline: Option<String>,
    pub(crate) location: Location,
    #[serde(default, with = "crate::by_name::option")]
    pub(crate) site_type: Option<SiteType>,
    /// A vulnerable household is involved.
    pub(crate) vulnerable: bool,
    pub(crate) devices: Vec<String>,
    /// Latest evidence (at most a few readings).
    pub(crate) evidence: Vec<EvidenceItem>,
    /// The sentence a dispatcher reads aloud (Asia/Shanghai time).
    pub(crate) summary_zh: String,
    /// `incident_id:station_id:role:seq`.
    pub(crate) idempotency_key: String,
    pub(crate) tier: RecipientTier,
    /// Receive time of the reading that opened the incident, epoch ms.
    pub(crate) received_at: Option<i64>,
    /// Why the incident awaits a check; absent for a live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verification: Option<Verification>,
}

/// RFC 3339 UTC of epoch milliseconds (`""` if out of range).
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// What a message needs besides the incident and the route.
#[derive(Debug, Clone)]
pub(crate) struct Context<'a> {
    /// Round.
    pub(crate) seq: u32,
    pub(crate) now_ms: i64,
    /// Acknowledgement timeout for `respond`, ms.
    pub(crate) ack_ms: i64,
    /// Latest evidence.
    pub(crate) evidence: &'a [EvidenceItem],
    pub(crate) summary_zh: &'a str,
    /// Receive time of the opening reading.
    pub(crate) received_at: Option<i64>,
}

impl DispatchMessage {
    /// The message for one route of an incident.
    pub(crate) fn new(inc: &Incident, route: &Route, cx: &Context<'_>) -> DispatchMessage {
        DispatchMessage {
            incident_id: inc.id.clone(),
            seq: cx.seq,
            class: inc.class,
            severity: inc.severity,
            role: route.role,
            status: inc.status,
            opened_at: rfc3339(inc.opened_at_ms),
            ack_deadline: (route.role == NotifyRole::Respond).then(|| rfc3339(cx.now_ms + cx.ack_ms)),
            location: Location {
                county: inc.county.clone(),
                township: inc.township.clone(),
                community: inc.community.clone(),
                grid_id: inc.grid_id.clone(),
                address: inc.address.clone(),
                lat: inc.lat,
                lon: inc.lon,
            },
            site_type: inc.site_type,
            vulnerable: inc.vulnerable,
            devices: inc.devices.clone(),
            evidence: cx.evidence.to_vec(),
            summary_zh: cx.summary_zh.to_owned(),
            idempotency_key: idempotency_key(&inc.id, &route.recipient, route.role, cx.seq),
            tier: route.tier,
            received_at: cx.received_at,
            verification: inc.verification,
            station_id: route.recipient.target(),
        }
    }
}

/// The outbox rows of the message for one route: MQTT, a webhook when the recipient has a URL
/// (`webhook`), the console; `None` when the message cannot be encoded.
pub(crate) fn outbox_rows(inc: &Incident, route: &Route, cx: &Context<'_>, webhook: bool) -> Option<Vec<OutboxEntry>> {
    let msg = DispatchMessage::new(inc, route, cx);
    let payload = serde_json::to_string(&msg).ok()?;
    let channels: &[Channel] =
        if webhook { &[Channel::Mqtt, Channel::Webhook, Channel::Sse] } else { &[Channel::Mqtt, Channel::Sse] };
    let rows = channels.iter().map(|&channel| OutboxEntry {
        idempotency_key: format!("{}/{channel}", msg.idempotency_key),
        incident_id: inc.id.clone(),
        recipient: route.recipient.clone(),
        role: route.role,
        channel,
        tier: Some(route.tier),
        seq: cx.seq,
        received_at_ms: cx.received_at,
        payload: payload.clone(),
        created_at_ms: cx.now_ms,
        next_attempt_ms: cx.now_ms,
        attempts: 0,
    });
    Some(rows.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_the_wire_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_935_417_000), "2026-11-29T06:56:57Z");
    }
}
