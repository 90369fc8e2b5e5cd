//! Dead letters (DESIGN §2): why a message was refused, the fixed set of reasons used as the
//! `reason` metric label, and the JSON document published to `{prefix}/deadletter`.

use base64::Engine as _;
use serde::Serialize;

/// The fixed set of rejection reasons. Metric labels come only from this set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The topic is not a reading topic.
    BadTopic,
    /// The payload is not UTF-8.
    NotUtf8,
    /// The payload is not JSON.
    NotJson,
    /// The payload exceeds the configured size.
    TooLarge,
    /// A required field is missing.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A value lies outside its range or set.
    OutOfRange,
    /// `ts` is unparseable, too far in the future or too far in the past.
    BadTimestamp,
    /// The time-series store refused the encoded line (HTTP 400/422) with a message.
    StoreRejected,
    /// The topic names another kind than the device's registered kind.
    KindMismatch,
}

impl Reason {
    /// Every reason, in a fixed order (metric pre-registration).
    pub const ALL: [Reason; 10] = [
        Reason::BadTopic,
        Reason::NotUtf8,
        Reason::NotJson,
        Reason::TooLarge,
        Reason::MissingField,
        Reason::WrongType,
        Reason::OutOfRange,
        Reason::BadTimestamp,
        Reason::StoreRejected,
        Reason::KindMismatch,
    ];

    /// The label and wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::BadTopic => "bad_topic",
            Reason::NotUtf8 => "not_utf8",
            Reason::NotJson => "not_json",
            Reason::TooLarge => "too_large",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::OutOfRange => "out_of_range",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::StoreRejected => "store_rejected",
            Reason::KindMismatch => "kind_mismatch",
        }
    }
}

/// Why one message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Rejection {
    /// The reason class.
    pub reason: Reason,
    /// What exactly, naming the field.
    pub detail: String,
}

impl Rejection {
    /// A rejection with a detail.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection { reason, detail: detail.into() }
    }
}

/// How much of a refused payload the dead letter carries.
pub(crate) const PAYLOAD_EXCERPT_BYTES: usize = 1024;

/// The dead-letter document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter<'a> {
    /// The topic the message came on.
    pub topic: &'a str,
    /// The reason class.
    pub reason: Reason,
    /// What exactly.
    pub detail: &'a str,
    /// The first KiB of the payload, base64.
    pub payload_b64: String,
    /// When firegrid received it, epoch milliseconds UTC.
    pub received_at: i64,
}

impl<'a> DeadLetter<'a> {
    /// The dead letter for a refused message.
    pub fn new(topic: &'a str, rejection: &'a Rejection, payload: &[u8], received_at_ms: i64) -> DeadLetter<'a> {
        let excerpt = &payload[..payload.len().min(PAYLOAD_EXCERPT_BYTES)];
        DeadLetter {
            topic,
            reason: rejection.reason,
            detail: &rejection.detail,
            payload_b64: base64::engine::general_purpose::STANDARD.encode(excerpt),
            received_at: received_at_ms,
        }
    }

    /// The JSON bytes to publish.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and integers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_carries_topic_reason_detail_and_at_most_one_kib_of_payload() {
        let r = Rejection::new(Reason::OutOfRange, "values.battery_pct 140 is outside 0..=100");
        let payload = vec![b'x'; 3000];
        let dl = DeadLetter::new("firegrid/v1/500112/500112002/smoke/a", &r, &payload, 42);
        let v: serde_json::Value = serde_json::from_slice(&dl.to_json()).expect("json");
        assert_eq!(v["reason"], "out_of_range");
        assert_eq!(v["detail"], "values.battery_pct 140 is outside 0..=100");
        assert_eq!(v["received_at"], 42);
        let b64 = v["payload_b64"].as_str().expect("string");
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        assert_eq!(raw.len(), PAYLOAD_EXCERPT_BYTES);
    }

    #[test]
    fn every_reason_serializes_as_its_label() {
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
        }
    }
}
