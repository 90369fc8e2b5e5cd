//! From raw MQTT message to enriched reading: topic → payload → registry, as one pure function.
//! The pipeline calls it per message; benchmarks and the simulator's contract tests call it
//! directly.

use std::sync::Arc;

use crate::model::enriched::EnrichedReading;
use crate::model::kind::Kind;
use crate::model::registry::Registry;
use crate::wire::deadletter::{Reason, Rejection};
use crate::wire::payload::{self, Limits};
use crate::wire::topic;

/// The checks a message goes through before it is a reading: its topic under `prefix`, its
/// payload within `limits`, its device against a registry snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Enricher<'a> {
    /// The topic prefix, without a trailing slash.
    pub prefix: &'a str,
    /// The decoder's limits.
    pub limits: &'a Limits,
}

impl Enricher<'_> {
    /// Processes one message: parses the topic, decodes the payload and joins the registry entry.
    ///
    /// A registered device whose topic names another county or township keeps the registry's
    /// location and is flagged (`location_mismatch`), never rejected: a fire reading is not thrown
    /// away over metadata. A device registered as another kind than its topic says is rejected
    /// (`kind_mismatch`): its values follow the topic's kind, so evaluating them would reset the
    /// device's rule state — anyone who can publish could silence a detector that way — and storing
    /// them would mix two kinds under one device.
    pub fn process(
        &self,
        topic_bytes: &[u8],
        payload: &[u8],
        received_at_ms: i64,
        registry: &Registry,
    ) -> Result<EnrichedReading, Rejection> {
        let topic_str =
            std::str::from_utf8(topic_bytes).map_err(|_| Rejection::new(Reason::BadTopic, "topic is not UTF-8"))?;
        let t = topic::parse(self.prefix, topic_str).map_err(|e| Rejection::new(Reason::BadTopic, e.to_string()))?;
        let reading = payload::decode(&t, payload, received_at_ms, self.limits)?;
        let (device, location_mismatch) = match registry.device(t.device_id) {
            Some(d) if d.kind() == t.kind => {
                let mismatch = d.county() != t.county || d.township() != t.township;
                (Some(Arc::clone(d)), mismatch)
            }
            Some(d) => {
                return Err(Rejection::new(
                    Reason::KindMismatch,
                    format!("device {} is registered as {}, the topic says {}", t.device_id, d.kind(), t.kind),
                ))
            }
            None => (None, false),
        };
        Ok(EnrichedReading { reading, device, location_mismatch })
    }

    /// The kind named by a topic, if it parses that far (for the received-messages metric).
    pub(crate) fn topic_kind(&self, topic_bytes: &[u8]) -> Option<Kind> {
        let s = std::str::from_utf8(topic_bytes).ok()?;
        topic::parse(self.prefix, s).ok().map(|t| t.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::device::{Device, SiteType};

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
        });
        reg
    }

    static LIMITS: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);

    fn enricher() -> Enricher<'static> {
        Enricher { prefix: "firegrid/v1", limits: &LIMITS }
    }

    const P: &[u8] = br#"{"values":{"obscuration_db_m":0.02}}"#;

    #[test]
    fn a_registered_device_is_enriched_and_an_unknown_one_keeps_its_topic_location() {
        let reg = registry();
        let r = enricher().process(b"firegrid/v1/500112/500112002/smoke/sd-1", P, 0, &reg).expect("ok");
        assert_eq!(r.device.as_ref().map(|d| d.grid_id()), Some("g1"));
        assert!(!r.location_mismatch);
        let r = enricher().process(b"firegrid/v1/500238/500238100/smoke/sd-9", P, 0, &reg).expect("ok");
        assert!(r.device.is_none());
        assert_eq!(r.township(), "500238100");
    }

    #[test]
    fn a_location_mismatch_is_flagged_and_the_registry_location_wins() {
        let reg = registry();
        let r =
            enricher().process(b"firegrid/v1/500103/500103001/smoke/sd-1", P, 0, &reg).expect("accepted, not rejected");
        assert!(r.location_mismatch);
        assert_eq!(r.county(), "500112");
        assert_eq!(r.township(), "500112002");
    }

    #[test]
    fn a_registered_device_published_under_another_kind_is_refused_as_kind_mismatch() {
        let reg = registry();
        let electrical = br#"{"values":{"residual_current_ma":20,"cable_temp_c":[30]}}"#;
        let err = enricher()
            .process(b"firegrid/v1/500112/500112002/electrical/sd-1", electrical, 0, &reg)
            .expect_err("refused");
        assert_eq!(err.reason, Reason::KindMismatch);
        assert_eq!(err.detail, "device sd-1 is registered as smoke, the topic says electrical");
        // The same payload from an unknown id is an unregistered reading, not a mismatch.
        let r =
            enricher().process(b"firegrid/v1/500112/500112002/electrical/em-9", electrical, 0, &reg).expect("accepted");
        assert!(r.device.is_none() && !r.location_mismatch);
    }

    #[test]
    fn a_bad_topic_is_rejected_before_the_payload_is_read() {
        let err =
            enricher().process(b"firegrid/v1/x/500112002/smoke/sd-1", b"\xff", 0, &registry()).expect_err("rejected");
        assert_eq!(err.reason, Reason::BadTopic);
        let err = enricher().process(b"\xff", P, 0, &registry()).expect_err("rejected");
        assert_eq!(err.reason, Reason::BadTopic);
    }
}
