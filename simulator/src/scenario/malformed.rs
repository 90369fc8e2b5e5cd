//! Malformed input, one message for each dead-letter reason of DESIGN §2 that a publisher can
//! cause, so a run exercises firegrid's rejection path: `bad_topic`, `not_utf8`, `not_json`,
//! `too_large`, `missing_field`, `wrong_type`, `out_of_range`, `bad_timestamp`, `kind_mismatch`
//! (a registered device's id under another kind's topic, with that kind's valid values).

use firegrid_ingest::wire::topic::reading_topic;
use firegrid_ingest::{Device, Kind, Reason};

use crate::scenario::inject::Scene;
use crate::scenario::schedule::Message;

/// The dead-letter reasons a publisher can cause (all but `store_rejected`, which only the store
/// gives), in the order a malformed scenario sends them.
pub const REASONS: [Reason; 9] = [
    Reason::BadTopic,
    Reason::NotUtf8,
    Reason::NotJson,
    Reason::TooLarge,
    Reason::MissingField,
    Reason::WrongType,
    Reason::OutOfRange,
    Reason::BadTimestamp,
    Reason::KindMismatch,
];

/// Default payload limit of DESIGN §2 (4 KiB); `too_large` goes past it.
pub(crate) const MAX_PAYLOAD: usize = 4096;

/// A message from `device` at `at_ms` that firegrid must reject for `reason`; `None` for a
/// reason not in [`REASONS`].
pub fn malformed(reason: Reason, prefix: &str, device: &Device, at_ms: i64) -> Option<Message> {
    let topic = reading_topic(prefix, &device.county, &device.township, device.kind, &device.device_id);
    let values = sample_values(device.kind);
    let (topic, payload) = match reason {
        // A kind the contract does not know.
        Reason::BadTopic => (
            format!("{prefix}/{}/{}/gas/{}", device.county, device.township, device.device_id),
            format!(r#"{{"ts":{at_ms},"values":{values}}}"#).into_bytes(),
        ),
        // GBK-encoded text, as a misconfigured platform sends it: 0xD1 0xCC is 「烟」.
        Reason::NotUtf8 => {
            let mut p = format!(r#"{{"ts":{at_ms},"note":""#).into_bytes();
            p.extend_from_slice(&[0xD1, 0xCC, 0xB8, 0xD0]);
            p.extend_from_slice(format!(r#"","values":{values}}}"#).as_bytes());
            (topic, p)
        }
        // Cut off mid-object.
        Reason::NotJson => (topic, format!(r#"{{"ts":{at_ms},"values":{{"obscuration_db_m":0.0"#).into_bytes()),
        Reason::TooLarge => {
            let pad = "x".repeat(MAX_PAYLOAD + 512);
            (topic, format!(r#"{{"ts":{at_ms},"values":{values},"debug":"{pad}"}}"#).into_bytes())
        }
        Reason::MissingField => (topic, format!(r#"{{"ts":{at_ms},"seq":1,"status":"normal"}}"#).into_bytes()),
        Reason::WrongType => {
            let v = match device.kind {
                Kind::Smoke => r#"{"obscuration_db_m":"0.03"}"#,
                Kind::Electrical => r#"{"residual_current_ma":"45","cable_temp_c":[30.0]}"#,
                Kind::ForestIr => r#"{"max_temp_c":"25","hotspot_px":0}"#,
            };
            (topic, format!(r#"{{"ts":{at_ms},"values":{v}}}"#).into_bytes())
        }
        Reason::OutOfRange => {
            let v = match device.kind {
                Kind::Smoke => r#"{"obscuration_db_m":25.0}"#,
                Kind::Electrical => r#"{"residual_current_ma":20000,"cable_temp_c":[30.0]}"#,
                Kind::ForestIr => r#"{"max_temp_c":2000,"hotspot_px":0}"#,
            };
            (topic, format!(r#"{{"ts":{at_ms},"values":{v}}}"#).into_bytes())
        }
        // Ten days in the past: beyond the 7-day window.
        Reason::BadTimestamp => {
            let ts = at_ms - 10 * 86_400_000;
            (topic, format!(r#"{{"ts":{ts},"values":{values}}}"#).into_bytes())
        }
        // The device's id under another kind's topic, with that kind's valid values.
        Reason::KindMismatch => {
            let other = match device.kind {
                Kind::Smoke => Kind::Electrical,
                Kind::Electrical | Kind::ForestIr => Kind::Smoke,
            };
            let topic = reading_topic(prefix, &device.county, &device.township, other, &device.device_id);
            (topic, format!(r#"{{"ts":{at_ms},"values":{}}}"#, sample_values(other)).into_bytes())
        }
        Reason::StoreRejected => return None,
    };
    Some(Message { at_ms, topic, payload, device: None })
}

/// The malformed scenario: one message per reason of [`REASONS`], 250 ms apart, from the
/// event's device, each with its own truth record (`{id}.{n}`) naming the reason.
pub(super) fn messages(s: &mut Scene<'_>, prefix: &str) {
    for (k, reason) in REASONS.into_iter().enumerate() {
        let at = s.start() + k as i64 * 250;
        if let Some(m) = malformed(reason, prefix, s.dev, at) {
            s.inj.raw.push(m);
        }
        let id = format!("{}.{}", s.event.id, k + 1);
        let mut t = s.record(&id, &format!("malformed message: {}", reason.as_str()), &s.event.devices[..1], at);
        t.deadletter_reason = Some(reason);
        s.inj.truth.push(t);
    }
}

fn sample_values(kind: Kind) -> &'static str {
    match kind {
        Kind::Smoke => r#"{"obscuration_db_m":0.02}"#,
        Kind::Electrical => r#"{"residual_current_ma":40.0,"cable_temp_c":[31.0]}"#,
        Kind::ForestIr => r#"{"max_temp_c":24.0,"hotspot_px":0}"#,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firegrid_ingest::wire::topic;
    use firegrid_ingest::SiteType;

    fn device(kind: Kind) -> Device {
        Device {
            device_id: "sd-000001".into(),
            kind,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002003".into(),
            grid_id: "500112002003-g1".into(),
            household_id: String::new(),
            address: String::new(),
            lat: Some(29.7),
            lon: Some(106.6),
            site_type: SiteType::Residential,
            vulnerable: false,
        }
    }

    const NOW: i64 = 1_795_930_617_074;

    /// What the message breaks, judged independently of the generator's intent.
    fn diagnose(m: &Message, kind: Kind) -> &'static str {
        if topic::parse("firegrid/v1", &m.topic).is_err() {
            return "bad_topic";
        }
        if m.payload.len() > MAX_PAYLOAD {
            return "too_large";
        }
        let Ok(text) = std::str::from_utf8(&m.payload) else { return "not_utf8" };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return "not_json" };
        let Some(values) = v.get("values") else { return "missing_field" };
        let main = match kind {
            Kind::Smoke => ("obscuration_db_m", 20.0),
            Kind::Electrical => ("residual_current_ma", 10_000.0),
            Kind::ForestIr => ("max_temp_c", 1500.0),
        };
        match values.get(main.0) {
            Some(x) if !x.is_number() => return "wrong_type",
            Some(x) if x.as_f64().is_some_and(|x| x > main.1) => return "out_of_range",
            _ => {}
        }
        let ts = v.get("ts").and_then(|t| t.as_i64()).unwrap_or(NOW);
        if NOW - ts > 7 * 86_400_000 {
            return "bad_timestamp";
        }
        if topic::parse("firegrid/v1", &m.topic).is_ok_and(|t| t.kind != kind) {
            return "kind_mismatch";
        }
        "ok"
    }

    #[test]
    fn each_reason_yields_a_message_broken_in_exactly_that_way() {
        for kind in Kind::ALL {
            for reason in REASONS {
                let m = malformed(reason, "firegrid/v1", &device(kind), NOW).expect("known reason");
                assert_eq!(diagnose(&m, kind), reason.as_str(), "{kind:?}");
            }
        }
        assert!(malformed(Reason::StoreRejected, "firegrid/v1", &device(Kind::Smoke), NOW).is_none());
    }
}
