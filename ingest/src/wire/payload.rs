//! Payload decoding and validation (DESIGN §2): UTF-8 JSON object, `ts`, `seq`, `status` and
//! kind-specific `values`. Unknown fields are ignored; a field of the wrong type, a missing
//! required field or a value outside its range rejects the whole message with a reason from
//! the fixed set and a detail naming the field.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::model::kind::Kind;
use crate::model::reading::{
    field, ElectricalValues, ForestIrValues, Reading, SmokeValues, Status, Values, MAX_CABLE_CHANNELS,
};
use crate::wire::deadletter::{Reason, Rejection};
use crate::wire::json::{self, Json};
use crate::wire::topic::ReadingTopic;

/// Limits applied by the decoder; configurable under `[ingest]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted payload.
    pub max_payload_bytes: usize,
    /// How far in the future `ts` may lie (device clocks drift).
    pub max_future: Duration,
    /// How far in the past `ts` may lie (devices buffer while offline).
    pub max_past: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 4096,
            max_future: Duration::from_secs(5 * 60),
            max_past: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Decodes and validates one message of an already parsed topic.
pub fn decode(
    topic: &ReadingTopic<'_>,
    payload: &[u8],
    received_at_ms: i64,
    limits: &Limits,
) -> Result<Reading, Rejection> {
    if payload.len() > limits.max_payload_bytes {
        return Err(Rejection::new(
            Reason::TooLarge,
            format!("payload is {} bytes, the limit is {}", payload.len(), limits.max_payload_bytes),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| Rejection::new(Reason::NotUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let doc = json::parse(text).map_err(|e| Rejection::new(Reason::NotJson, e.to_string()))?;
    if !matches!(doc, Json::Object(_)) {
        return Err(Rejection::new(Reason::WrongType, format!("payload is {}, expected an object", doc.type_name())));
    }
    let ts_ms = match doc.get(field::TS) {
        None | Some(Json::Null) => received_at_ms,
        Some(ts) => timestamp(ts, received_at_ms, limits)?,
    };
    let seq = match doc.get(field::SEQ) {
        None | Some(Json::Null) => None,
        Some(Json::U64(v)) => Some(*v),
        Some(other) => return Err(wrong_type(field::SEQ, other, "an unsigned integer")),
    };
    let status = match doc.get(field::STATUS) {
        None | Some(Json::Null) => Status::Normal,
        Some(Json::Str(s)) => Status::parse(s).ok_or_else(|| {
            Rejection::new(Reason::OutOfRange, format!("status `{}` is not normal, alarm, fault or test", short(s)))
        })?,
        Some(other) => return Err(wrong_type(field::STATUS, other, "a string")),
    };
    let values = match doc.get(field::VALUES) {
        None | Some(Json::Null) => return Err(Rejection::new(Reason::MissingField, field::VALUES)),
        Some(v @ Json::Object(_)) => Fields(v),
        Some(other) => return Err(wrong_type(field::VALUES, other, "an object")),
    };
    let values = match topic.kind {
        Kind::Smoke => Values::Smoke(smoke(values)?),
        Kind::Electrical => Values::Electrical(electrical(values)?),
        Kind::ForestIr => Values::ForestIr(forest_ir(values)?),
    };
    Ok(Reading {
        device_id: topic.device_id.to_owned(),
        kind: topic.kind,
        county: topic.county.to_owned(),
        township: topic.township.to_owned(),
        ts_ms,
        received_at_ms,
        seq,
        status,
        values,
    })
}

fn timestamp(ts: &Json<'_>, received_at_ms: i64, limits: &Limits) -> Result<i64, Rejection> {
    let ms = match ts {
        Json::U64(v) => i64::try_from(*v).map_err(|_| Rejection::new(Reason::BadTimestamp, "ts is too large"))?,
        Json::I64(_) => return Err(Rejection::new(Reason::BadTimestamp, "ts is negative")),
        Json::Str(s) => {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| Rejection::new(Reason::BadTimestamp, format!("ts `{}` is not RFC 3339: {e}", short(s))))?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
                .map_err(|_| Rejection::new(Reason::BadTimestamp, "ts is out of range"))?
        }
        other => return Err(wrong_type(field::TS, other, "epoch milliseconds or an RFC 3339 string")),
    };
    let future_ms = i64::try_from(limits.max_future.as_millis()).unwrap_or(i64::MAX);
    let past_ms = i64::try_from(limits.max_past.as_millis()).unwrap_or(i64::MAX);
    if ms > received_at_ms.saturating_add(future_ms) {
        return Err(Rejection::new(
            Reason::BadTimestamp,
            format!("ts {ms} is {} s in the future (limit {} s)", (ms - received_at_ms) / 1000, future_ms / 1000),
        ));
    }
    if ms < received_at_ms.saturating_sub(past_ms) {
        return Err(Rejection::new(
            Reason::BadTimestamp,
            format!("ts {ms} is {} s in the past (limit {} s)", (received_at_ms - ms) / 1000, past_ms / 1000),
        ));
    }
    Ok(ms)
}

/// The `values` object, with typed accessors that produce the right rejection.
struct Fields<'d, 'a>(&'d Json<'a>);

impl Fields<'_, '_> {
    fn present(&self, key: &str) -> Option<&Json<'_>> {
        match self.0.get(key) {
            None | Some(Json::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn number(&self, key: &str, min: f64, max: f64) -> Result<f64, Rejection> {
        self.opt_number(key, min, max)?.ok_or_else(|| Rejection::new(Reason::MissingField, format!("values.{key}")))
    }

    fn opt_number(&self, key: &str, min: f64, max: f64) -> Result<Option<f64>, Rejection> {
        let Some(v) = self.present(key) else { return Ok(None) };
        let n = v.as_f64().ok_or_else(|| wrong_type_values(key, v, "a number"))?;
        check_range(key, n, min, max)?;
        Ok(Some(n))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, Rejection> {
        match self.present(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type_values(key, other, "a boolean")),
        }
    }
}

fn check_range(key: &str, n: f64, min: f64, max: f64) -> Result<(), Rejection> {
    if n.is_finite() && (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(Rejection::new(Reason::OutOfRange, format!("values.{key} {n} is outside {min}..={max}")))
    }
}

fn smoke(f: Fields<'_, '_>) -> Result<SmokeValues, Rejection> {
    Ok(SmokeValues {
        obscuration_db_m: f.number(field::OBSCURATION_DB_M, 0.0, 20.0)?,
        temperature_c: f.opt_number(field::TEMPERATURE_C, -40.0, 150.0)?,
        alarm: f.opt_bool(field::ALARM)?,
        battery_pct: f.opt_number(field::BATTERY_PCT, 0.0, 100.0)?,
        tamper: f.opt_bool(field::TAMPER)?,
        silenced: f.opt_bool(field::SILENCED)?,
    })
}

fn electrical(f: Fields<'_, '_>) -> Result<ElectricalValues, Rejection> {
    let residual_current_ma = f.number(field::RESIDUAL_CURRENT_MA, 0.0, 10_000.0)?;
    let cable_temp_c = match f.present(field::CABLE_TEMP_C) {
        None => return Err(Rejection::new(Reason::MissingField, "values.cable_temp_c")),
        Some(Json::Array(items)) => {
            if items.is_empty() || items.len() > MAX_CABLE_CHANNELS {
                return Err(Rejection::new(
                    Reason::OutOfRange,
                    format!("values.cable_temp_c has {} channels, expected 1..={MAX_CABLE_CHANNELS}", items.len()),
                ));
            }
            let mut temps = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let key = format!("cable_temp_c[{i}]");
                let t = item.as_f64().ok_or_else(|| wrong_type_values(&key, item, "a number"))?;
                check_range(&key, t, -40.0, 300.0)?;
                temps.push(t);
            }
            temps
        }
        Some(other) => return Err(wrong_type_values(field::CABLE_TEMP_C, other, "an array of numbers")),
    };
    Ok(ElectricalValues {
        residual_current_ma,
        cable_temp_c,
        current_a: f.opt_number(field::CURRENT_A, 0.0, 2000.0)?,
        voltage_v: f.opt_number(field::VOLTAGE_V, 0.0, 1000.0)?,
        arc_fault: f.opt_bool(field::ARC_FAULT)?,
    })
}

fn forest_ir(f: Fields<'_, '_>) -> Result<ForestIrValues, Rejection> {
    let max_temp_c = f.number(field::MAX_TEMP_C, -40.0, 1500.0)?;
    let hotspot_px = match f.present(field::HOTSPOT_PX) {
        None => return Err(Rejection::new(Reason::MissingField, "values.hotspot_px")),
        Some(Json::U64(v)) if *v <= 10_000_000 => *v as u32,
        Some(Json::U64(v)) => {
            return Err(Rejection::new(Reason::OutOfRange, format!("values.hotspot_px {v} is outside 0..=10000000")))
        }
        Some(Json::I64(v)) => {
            return Err(Rejection::new(Reason::OutOfRange, format!("values.hotspot_px {v} is outside 0..=10000000")))
        }
        Some(other) => return Err(wrong_type_values(field::HOTSPOT_PX, other, "a whole number")),
    };
    Ok(ForestIrValues {
        max_temp_c,
        hotspot_px,
        smoke_score: f.opt_number(field::SMOKE_SCORE, 0.0, 1.0)?,
        lat: f.opt_number(field::LAT, -90.0, 90.0)?,
        lon: f.opt_number(field::LON, -180.0, 180.0)?,
        ambient_c: f.opt_number(field::AMBIENT_C, -40.0, 80.0)?,
    })
}

fn wrong_type(key: &str, got: &Json<'_>, want: &str) -> Rejection {
    Rejection::new(Reason::WrongType, format!("{key} is {}, expected {want}", got.type_name()))
}

fn wrong_type_values(key: &str, got: &Json<'_>, want: &str) -> Rejection {
    Rejection::new(Reason::WrongType, format!("values.{key} is {}, expected {want}", got.type_name()))
}

/// Keeps echoed input short in details.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_930_617_074;

    fn topic(kind: Kind) -> ReadingTopic<'static> {
        ReadingTopic { county: "500112", township: "500112002", kind, device_id: "dev-1" }
    }

    fn dec(kind: Kind, payload: &str) -> Result<Reading, Rejection> {
        decode(&topic(kind), payload.as_bytes(), NOW, &Limits::default())
    }

    #[test]
    fn the_design_example_decodes_into_typed_values() {
        let r = dec(
            Kind::Smoke,
            r#"{"ts":1795930617074,"seq":17,"status":"normal","values":{"obscuration_db_m":0.031,"temperature_c":22.5,"battery_pct":88}}"#,
        )
        .expect("valid");
        assert_eq!(r.ts_ms, 1_795_930_617_074);
        assert_eq!(r.seq, Some(17));
        assert_eq!(r.status, Status::Normal);
        assert_eq!(
            r.values,
            Values::Smoke(SmokeValues {
                obscuration_db_m: 0.031,
                temperature_c: Some(22.5),
                battery_pct: Some(88.0),
                ..Default::default()
            })
        );
    }

    #[test]
    fn optional_envelope_fields_take_their_defaults_and_unknown_fields_are_ignored() {
        let r = dec(
            Kind::Electrical,
            r#"{"fw":"1.2","values":{"residual_current_ma":12,"cable_temp_c":[30,31.5],"x":{}}}"#,
        )
        .expect("valid");
        assert_eq!(r.ts_ms, NOW);
        assert_eq!(r.seq, None);
        assert_eq!(r.status, Status::Normal);
        let r = dec(
            Kind::ForestIr,
            r#"{"ts":"2026-11-29T06:00:00+08:00","status":"test","values":{"max_temp_c":20,"hotspot_px":0}}"#,
        );
        let r = r.expect("valid");
        assert_eq!(r.status, Status::Test);
        assert_eq!(r.ts_ms, 1_795_903_200_000);
    }

    #[test]
    fn a_payload_of_exactly_the_size_limit_is_accepted_and_one_byte_more_is_too_large() {
        let at = |n: usize| {
            let head = r#"{"values":{"obscuration_db_m":0.1},"pad":""#;
            format!("{head}{}\"}}", "x".repeat(n - head.len() - 2))
        };
        let limit = Limits::default().max_payload_bytes;
        assert_eq!(at(limit).len(), limit);
        assert!(dec(Kind::Smoke, &at(limit)).is_ok());
        assert!(matches!(dec(Kind::Smoke, &at(limit + 1)), Err(r) if r.reason == Reason::TooLarge));
    }

    #[test]
    fn eight_cable_channels_are_accepted_and_nine_are_out_of_range() {
        let cables = |n: usize| {
            let temps = vec!["30.5"; n].join(",");
            format!(r#"{{"values":{{"residual_current_ma":12,"cable_temp_c":[{temps}]}}}}"#)
        };
        let r = dec(Kind::Electrical, &cables(8)).expect("eight channels");
        assert!(matches!(r.values, Values::Electrical(ref v) if v.cable_temp_c.len() == 8));
        assert!(matches!(dec(Kind::Electrical, &cables(9)), Err(r) if r.reason == Reason::OutOfRange));
    }

    #[test]
    fn a_forest_camera_position_and_ambient_temperature_are_taken_within_their_ranges() {
        let cam = |lat: f64, lon: f64, ambient: f64| {
            format!(r#"{{"values":{{"max_temp_c":30,"hotspot_px":0,"lat":{lat},"lon":{lon},"ambient_c":{ambient}}}}}"#)
        };
        let r = dec(Kind::ForestIr, &cam(-33.5, -70.6, -12.0)).expect("southern and western hemisphere, below zero");
        let Values::ForestIr(v) = r.values else { panic!("forest values") };
        assert_eq!((v.lat, v.lon, v.ambient_c), (Some(-33.5), Some(-70.6), Some(-12.0)));
        for (bad, field) in
            [(cam(-90.5, 0.0, 0.0), "lat"), (cam(0.0, -180.5, 0.0), "lon"), (cam(0.0, 0.0, -40.5), "ambient_c")]
        {
            assert!(
                matches!(dec(Kind::ForestIr, &bad), Err(ref r) if r.reason == Reason::OutOfRange && r.detail.contains(field)),
                "{field}"
            );
        }
    }

    #[test]
    fn every_rejection_reason_is_produced_with_the_field_named() {
        let big = format!(r#"{{"values":{{"obscuration_db_m":0.1}},"pad":"{}"}}"#, "x".repeat(5000));
        let cases: &[(Kind, &[u8], Reason, &str)] = &[
            (Kind::Smoke, big.as_bytes(), Reason::TooLarge, "limit is 4096"),
            (Kind::Smoke, b"{\"values\":\xff}", Reason::NotUtf8, "byte 10"),
            (Kind::Smoke, b"{\"values\":", Reason::NotJson, "EOF"),
            (Kind::Smoke, b"[1,2]", Reason::WrongType, "an array, expected an object"),
            (Kind::Smoke, b"{}", Reason::MissingField, "values"),
            (Kind::Smoke, br#"{"values":{}}"#, Reason::MissingField, "values.obscuration_db_m"),
            (Kind::Electrical, br#"{"values":{"residual_current_ma":1}}"#, Reason::MissingField, "values.cable_temp_c"),
            (Kind::ForestIr, br#"{"values":{"max_temp_c":1}}"#, Reason::MissingField, "values.hotspot_px"),
            (Kind::Smoke, br#"{"values":[]}"#, Reason::WrongType, "values is an array"),
            (
                Kind::Smoke,
                br#"{"values":{"obscuration_db_m":"0.1"}}"#,
                Reason::WrongType,
                "values.obscuration_db_m is a string",
            ),
            (
                Kind::Smoke,
                br#"{"values":{"obscuration_db_m":0.1,"alarm":1}}"#,
                Reason::WrongType,
                "values.alarm is a number",
            ),
            (Kind::Smoke, br#"{"seq":-1,"values":{"obscuration_db_m":0.1}}"#, Reason::WrongType, "seq is a number"),
            (Kind::Smoke, br#"{"seq":1.5,"values":{"obscuration_db_m":0.1}}"#, Reason::WrongType, "seq"),
            (
                Kind::Smoke,
                br#"{"status":1,"values":{"obscuration_db_m":0.1}}"#,
                Reason::WrongType,
                "status is a number",
            ),
            (
                Kind::Smoke,
                br#"{"status":"burning","values":{"obscuration_db_m":0.1}}"#,
                Reason::OutOfRange,
                "status `burning`",
            ),
            (Kind::Smoke, br#"{"values":{"obscuration_db_m":21}}"#, Reason::OutOfRange, "values.obscuration_db_m 21"),
            (
                Kind::Smoke,
                br#"{"values":{"obscuration_db_m":0.1,"battery_pct":101}}"#,
                Reason::OutOfRange,
                "battery_pct",
            ),
            (
                Kind::Electrical,
                br#"{"values":{"residual_current_ma":1,"cable_temp_c":[]}}"#,
                Reason::OutOfRange,
                "0 channels",
            ),
            (
                Kind::Electrical,
                br#"{"values":{"residual_current_ma":1,"cable_temp_c":[1,2,3,4,5,6,7,8,9]}}"#,
                Reason::OutOfRange,
                "9 channels",
            ),
            (
                Kind::Electrical,
                br#"{"values":{"residual_current_ma":1,"cable_temp_c":[1,"x"]}}"#,
                Reason::WrongType,
                "cable_temp_c[1]",
            ),
            (
                Kind::Electrical,
                br#"{"values":{"residual_current_ma":1,"cable_temp_c":[301]}}"#,
                Reason::OutOfRange,
                "cable_temp_c[0] 301",
            ),
            (
                Kind::Electrical,
                br#"{"values":{"residual_current_ma":1,"cable_temp_c":30}}"#,
                Reason::WrongType,
                "cable_temp_c is a number",
            ),
            (Kind::ForestIr, br#"{"values":{"max_temp_c":1,"hotspot_px":2.5}}"#, Reason::WrongType, "hotspot_px"),
            (Kind::ForestIr, br#"{"values":{"max_temp_c":1,"hotspot_px":20000000}}"#, Reason::OutOfRange, "hotspot_px"),
            (
                Kind::ForestIr,
                br#"{"values":{"max_temp_c":1,"hotspot_px":1,"smoke_score":1.2}}"#,
                Reason::OutOfRange,
                "smoke_score",
            ),
            (
                Kind::Smoke,
                br#"{"ts":"yesterday","values":{"obscuration_db_m":0.1}}"#,
                Reason::BadTimestamp,
                "not RFC 3339",
            ),
            (
                Kind::Smoke,
                br#"{"ts":1795931617074,"values":{"obscuration_db_m":0.1}}"#,
                Reason::BadTimestamp,
                "in the future",
            ),
            (Kind::Smoke, br#"{"ts":1000,"values":{"obscuration_db_m":0.1}}"#, Reason::BadTimestamp, "in the past"),
            (Kind::Smoke, br#"{"ts":-5,"values":{"obscuration_db_m":0.1}}"#, Reason::BadTimestamp, "negative"),
            (Kind::Smoke, br#"{"ts":true,"values":{"obscuration_db_m":0.1}}"#, Reason::WrongType, "ts is a boolean"),
        ];
        for (kind, payload, reason, needle) in cases {
            let err = decode(&topic(*kind), payload, NOW, &Limits::default()).expect_err("must reject");
            assert_eq!(err.reason, *reason, "{}", String::from_utf8_lossy(payload));
            assert!(err.detail.contains(needle), "{:?} lacks {needle:?}", err.detail);
        }
    }

    #[test]
    fn limits_are_inclusive_at_their_edges() {
        assert!(dec(Kind::Smoke, r#"{"values":{"obscuration_db_m":20,"battery_pct":0}}"#).is_ok());
        let exactly_future = format!(r#"{{"ts":{},"values":{{"obscuration_db_m":0}}}}"#, NOW + 300_000);
        assert!(dec(Kind::Smoke, &exactly_future).is_ok());
        let exactly_past = format!(r#"{{"ts":{},"values":{{"obscuration_db_m":0}}}}"#, NOW - 7 * 24 * 3_600_000);
        assert!(dec(Kind::Smoke, &exactly_past).is_ok());
    }

    proptest! {
        #[test]
        fn no_byte_string_panics_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600), k in 0usize..3) {
            let _ = decode(&topic(Kind::ALL[k]), &bytes, NOW, &Limits::default());
        }

        #[test]
        fn no_json_document_panics_the_decoder(
            doc in r#"\{("(ts|seq|status|values|obscuration_db_m|cable_temp_c|hotspot_px|max_temp_c|residual_current_ma)":(-?[0-9]{1,22}(\.[0-9]+)?(e-?[0-9]{1,3})?|"[a-z0-9:-]*"|true|null|\[[0-9,]{0,20}\]|\{\}),?){0,8}\}"#,
            k in 0usize..3,
        ) {
            let _ = decode(&topic(Kind::ALL[k]), doc.as_bytes(), NOW, &Limits::default());
        }

        #[test]
        fn every_valid_smoke_reading_decodes_to_what_was_sent(
            obs in 0.0f64..=20.0, temp in -40.0f64..=150.0, batt in 0.0f64..=100.0, seq in any::<u64>(),
            alarm in any::<bool>(),
        ) {
            let payload = serde_json::json!({
                "seq": seq, "values": {"obscuration_db_m": obs, "temperature_c": temp, "battery_pct": batt, "alarm": alarm}
            }).to_string();
            let r = dec(Kind::Smoke, &payload).expect("valid");
            prop_assert_eq!(r.seq, Some(seq));
            prop_assert_eq!(r.values, Values::Smoke(SmokeValues {
                obscuration_db_m: obs, temperature_c: Some(temp), battery_pct: Some(batt), alarm: Some(alarm),
                ..Default::default()
            }));
        }
    }
}
