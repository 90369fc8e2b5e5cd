//! Topic grammar of the wire contract (DESIGN §2):
//! `{prefix}/{county}/{township}/{kind}/{device_id}`, and the topics firegrid itself publishes.

use crate::model::codes::{is_county_code, is_township_code, is_valid_device_id};
use crate::model::kind::Kind;

/// A reading topic, borrowed from the MQTT publish it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingTopic<'a> {
    /// 6-digit GB/T 2260 county code.
    pub county: &'a str,
    /// 9-digit township code, starting with `county`.
    pub township: &'a str,
    /// Sensor kind.
    pub kind: Kind,
    /// 1–64 characters of `A-Z a-z 0-9 _ . : -`.
    pub device_id: &'a str,
}

/// Why a topic is not a reading topic; the text goes into the dead letter's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with the configured prefix.
    #[error("topic does not start with the prefix `{0}/`")]
    Prefix(String),
    /// Not exactly four segments after the prefix.
    #[error("expected {{county}}/{{township}}/{{kind}}/{{device_id}} after the prefix")]
    Shape,
    /// County segment is not 6 digits.
    #[error("county `{0}` is not a 6-digit code")]
    County(String),
    /// Township segment is not 9 digits under the county.
    #[error("township `{0}` is not a 9-digit code under the county")]
    Township(String),
    /// Unknown kind segment.
    #[error("kind `{0}` is not smoke, electrical or forest_ir")]
    Kind(String),
    /// Device id is empty, too long or has a character outside the allowed set.
    #[error("device id must be 1-64 characters of A-Z a-z 0-9 _ . : -")]
    DeviceId,
}

/// Parses a reading topic under `prefix` (given without a trailing slash).
pub fn parse<'a>(prefix: &str, topic: &'a str) -> Result<ReadingTopic<'a>, TopicError> {
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| TopicError::Prefix(prefix.to_owned()))?;
    let mut parts = rest.split('/');
    let (Some(county), Some(township), Some(kind), Some(device_id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TopicError::Shape);
    };
    if !is_county_code(county) {
        return Err(TopicError::County(truncate(county)));
    }
    if !is_township_code(township) || !township.starts_with(county) {
        return Err(TopicError::Township(truncate(township)));
    }
    let kind = Kind::parse(kind).ok_or_else(|| TopicError::Kind(truncate(kind)))?;
    if !is_valid_device_id(device_id) {
        return Err(TopicError::DeviceId);
    }
    Ok(ReadingTopic { county, township, kind, device_id })
}

/// Keeps error details short: a hostile topic segment must not bloat logs or dead letters.
fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// The subscription filters for a prefix: one per county, or the whole prefix.
pub(crate) fn subscriptions(prefix: &str, counties: &[String], shared_group: &str) -> Vec<String> {
    let share = |f: String| {
        if shared_group.is_empty() {
            f
        } else {
            format!("$share/{shared_group}/{f}")
        }
    };
    if counties.is_empty() {
        // `+/+/+/+` keeps firegrid's own dispatch/ack/deadletter topics (fewer levels) out.
        vec![share(format!("{prefix}/+/+/+/+"))]
    } else {
        counties.iter().map(|c| share(format!("{prefix}/{c}/+/+/+"))).collect()
    }
}

/// The dead-letter topic under `prefix`.
pub fn deadletter(prefix: &str) -> String {
    format!("{prefix}/deadletter")
}

/// The topic a reading of `kind` from `device_id` is published on.
pub fn reading_topic(prefix: &str, county: &str, township: &str, kind: Kind, device_id: &str) -> String {
    format!("{prefix}/{county}/{township}/{}/{device_id}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: &str = "firegrid/v1";

    #[test]
    fn a_well_formed_topic_parses_into_its_segments() {
        let t = parse(P, "firegrid/v1/500112/500112002/smoke/sd-000017").expect("valid");
        assert_eq!(t.county, "500112");
        assert_eq!(t.township, "500112002");
        assert_eq!(t.kind, Kind::Smoke);
        assert_eq!(t.device_id, "sd-000017");
    }

    #[test]
    fn malformed_topics_are_rejected_with_the_segment_at_fault() {
        let cases: &[(&str, TopicError)] = &[
            ("other/v1/500112/500112002/smoke/a", TopicError::Prefix(P.into())),
            ("firegrid/v1x/500112/500112002/smoke/a", TopicError::Prefix(P.into())),
            ("firegrid/v1/500112/500112002/smoke", TopicError::Shape),
            ("firegrid/v1/500112/500112002/smoke/a/b", TopicError::Shape),
            ("firegrid/v1/50011/500112002/smoke/a", TopicError::County("50011".into())),
            ("firegrid/v1/500112/500113002/smoke/a", TopicError::Township("500113002".into())),
            ("firegrid/v1/500112/50011200/smoke/a", TopicError::Township("50011200".into())),
            ("firegrid/v1/500112/500112002/gas/a", TopicError::Kind("gas".into())),
            ("firegrid/v1/500112/500112002/smoke/", TopicError::DeviceId),
            ("firegrid/v1/500112/500112002/smoke/a b", TopicError::DeviceId),
            ("firegrid/v1/500112/500112002/smoke/烟感", TopicError::DeviceId),
        ];
        for (topic, want) in cases {
            assert_eq!(parse(P, topic).as_ref().err(), Some(want), "{topic}");
        }
        let long = format!("firegrid/v1/500112/500112002/smoke/{}", "a".repeat(65));
        assert_eq!(parse(P, &long), Err(TopicError::DeviceId));
        let max = format!("firegrid/v1/500112/500112002/smoke/{}", "a".repeat(64));
        assert!(parse(P, &max).is_ok());
    }

    #[test]
    fn the_dead_letter_and_reading_topics_are_built_under_the_prefix() {
        assert_eq!(deadletter(P), "firegrid/v1/deadletter");
        assert_eq!(deadletter("x/y"), "x/y/deadletter");
        assert_eq!(
            reading_topic(P, "500112", "500112002", Kind::Electrical, "em-1"),
            "firegrid/v1/500112/500112002/electrical/em-1"
        );
    }

    #[test]
    fn subscriptions_cover_counties_and_shared_groups() {
        assert_eq!(subscriptions(P, &[], ""), vec!["firegrid/v1/+/+/+/+"]);
        assert_eq!(
            subscriptions(P, &["500112".into(), "500238".into()], "g"),
            vec!["$share/g/firegrid/v1/500112/+/+/+", "$share/g/firegrid/v1/500238/+/+/+"]
        );
    }

    proptest! {
        #[test]
        fn no_topic_string_panics_the_parser(s in ".{0,200}") {
            let _ = parse(P, &s);
        }

        #[test]
        fn every_accepted_topic_round_trips(
            c in "[0-9]{6}", t in "[0-9]{3}", k in 0usize..3, d in "[A-Za-z0-9_.:-]{1,64}"
        ) {
            let kind = Kind::ALL[k];
            let township = format!("{c}{t}");
            let topic = reading_topic(P, &c, &township, kind, &d);
            let parsed = parse(P, &topic).expect("generated topic is valid");
            prop_assert_eq!(parsed, ReadingTopic { county: &c, township: &township, kind, device_id: &d });
        }
    }
}
