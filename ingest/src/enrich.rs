//! From raw MQTT message to enriched reading: topic → payload → registry, as one pure function.
//! The consumer calls it per message; benchmarks call it directly.

use std::sync::Arc;

use crate::deadletter::{Reason, Rejection};
use crate::payload::{self, Limits};
use crate::reading::{EnrichedReading, Kind};
use crate::registry::Registry;
use crate::topic;

/// Processes one message: parses the topic, decodes the payload and joins the registry entry.
///
/// A registered device whose topic names another county or township keeps the registry's
/// location and is flagged (`location_mismatch`), never rejected: a fire reading is not thrown
/// away over metadata. A device registered as another kind than its topic says is rejected
/// (`kind_mismatch`): its values follow the topic's kind, so evaluating them would reset the
/// device's rule state — anyone who can publish could silence a detector that way — and storing
/// them would mix two kinds under one device.
pub fn process(
    prefix: &str,
    topic_bytes: &[u8],
    payload: &[u8],
    received_at_ms: i64,
    limits: &Limits,
    registry: &Registry,
) -> Result<EnrichedReading, Rejection> {
    let topic_str =
        std::str::from_utf8(topic_bytes).map_err(|_| Rejection::new(Reason::BadTopic, "topic is not UTF-8"))?;
    let t = topic::parse(prefix, topic_str).map_err(|e| Rejection::new(Reason::BadTopic, e.to_string()))?;
    let reading = payload::decode(&t, payload, received_at_ms, limits)?;
    let (device, location_mismatch) = match registry.device(t.device_id) {
        Some(d) if d.kind == t.kind => {
            let mismatch = d.county != t.county || d.township != t.township;
            (Some(Arc::clone(d)), mismatch)
        }
        Some(d) => {
            return Err(Rejection::new(
                Reason::KindMismatch,
                format!("device {} is registered as {}, the topic says {}", t.device_id, d.kind, t.kind),
            ))
        }
        None => (None, false),
    };
    Ok(EnrichedReading { reading, device, location_mismatch })
}

/// The kind named by a topic, if it parses that far (for the received-messages metric).
pub fn topic_kind(prefix: &str, topic_bytes: &[u8]) -> Option<Kind> {
    let s = std::str::from_utf8(topic_bytes).ok()?;
    topic::parse(prefix, s).ok().map(|t| t.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol;
    use crate::registry::{Device, SiteType};

    fn registry() -> Registry {
        let mut reg = Registry::default();
        reg.insert_device(Device {
            device_id: "sd-1".into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002003".into(),
            grid_id: "g1".into(),
            household_id: "h1".into(),
            address: "五星路 3 栋".into(),
            lat: None,
            lon: None,
            site_type: SiteType::Residential,
            vulnerable: false,
            line_prefix: line_protocol::device_prefix(
                Kind::Smoke,
                "sd-1",
                "500112",
                "500112002",
                "500112002003",
                "g1",
                "residential",
            ),
        });
        reg
    }

    const P: &[u8] = br#"{"values":{"obscuration_db_m":0.02}}"#;

    #[test]
    fn a_registered_device_is_enriched_and_an_unknown_one_keeps_its_topic_location() {
        let reg = registry();
        let r = process("firegrid/v1", b"firegrid/v1/500112/500112002/smoke/sd-1", P, 0, &Limits::default(), &reg)
            .expect("ok");
        assert_eq!(r.device.as_ref().map(|d| d.grid_id.as_str()), Some("g1"));
        assert!(!r.location_mismatch);
        let r = process("firegrid/v1", b"firegrid/v1/500238/500238100/smoke/sd-9", P, 0, &Limits::default(), &reg)
            .expect("ok");
        assert!(r.device.is_none());
        assert_eq!(r.township(), "500238100");
    }

    #[test]
    fn a_location_mismatch_is_flagged_and_the_registry_location_wins() {
        let reg = registry();
        let r = process("firegrid/v1", b"firegrid/v1/500103/500103001/smoke/sd-1", P, 0, &Limits::default(), &reg)
            .expect("accepted, not rejected");
        assert!(r.location_mismatch);
        assert_eq!(r.county(), "500112");
        assert_eq!(r.township(), "500112002");
    }

    #[test]
    fn a_registered_device_published_under_another_kind_is_refused_as_kind_mismatch() {
        let reg = registry();
        let electrical = br#"{"values":{"residual_current_ma":20,"cable_temp_c":[30]}}"#;
        let err = process(
            "firegrid/v1",
            b"firegrid/v1/500112/500112002/electrical/sd-1",
            electrical,
            0,
            &Limits::default(),
            &reg,
        )
        .expect_err("refused");
        assert_eq!(err.reason, Reason::KindMismatch);
        assert_eq!(err.detail, "device sd-1 is registered as smoke, the topic says electrical");
        // The same payload from an unknown id is an unregistered reading, not a mismatch.
        let r = process(
            "firegrid/v1",
            b"firegrid/v1/500112/500112002/electrical/em-9",
            electrical,
            0,
            &Limits::default(),
            &reg,
        )
        .expect("accepted");
        assert!(r.device.is_none() && !r.location_mismatch);
    }

    #[test]
    fn a_bad_topic_is_rejected_before_the_payload_is_read() {
        let err =
            process("firegrid/v1", b"firegrid/v1/x/500112002/smoke/sd-1", b"\xff", 0, &Limits::default(), &registry())
                .expect_err("rejected");
        assert_eq!(err.reason, Reason::BadTopic);
        let err = process("firegrid/v1", b"\xff", P, 0, &Limits::default(), &registry()).expect_err("rejected");
        assert_eq!(err.reason, Reason::BadTopic);
    }
}
