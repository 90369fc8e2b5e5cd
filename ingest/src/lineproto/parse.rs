//! A parser for the line protocol firegrid writes, so that the embedded store can take the
//! same batches (and the same spool records) as an InfluxDB server. It accepts the full
//! escaping rules of the protocol; it is tested by round-trip against the encoder.

use std::fmt;

/// A field value, typed by its suffix (`i`, `u`), quotes or boolean spelling.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Float(f64),
    /// A signed integer (`i` suffix).
    Int(i64),
    /// An unsigned integer (`u` suffix).
    UInt(u64),
    Bool(bool),
    Str(String),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) measurement: String,
    /// Tags in line order.
    pub(crate) tags: Vec<(String, String)>,
    /// The tag set exactly as written (the series key after the measurement).
    pub(crate) series: String,
    /// Fields in line order.
    pub(crate) fields: Vec<(String, FieldValue)>,
    /// Timestamp as written (its unit is the write's precision).
    pub(crate) timestamp: Option<i64>,
}

/// A line that is not valid line protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {at}")]
pub(crate) struct ParseError {
    /// What is wrong.
    pub(crate) message: &'static str,
    /// Byte offset in the line.
    pub(crate) at: usize,
}

fn fail<T>(message: &'static str, at: usize) -> Result<T, ParseError> {
    Err(ParseError { message, at })
}

/// Reads an escaped token up to one of `stops` (unescaped); returns it and the stop position.
fn token(line: &str, start: usize, stops: &[u8]) -> (String, usize) {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = start;
    let mut run = start;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && i + 1 < bytes.len() && matches!(bytes[i + 1], b',' | b'=' | b' ' | b'\\' | b'"') {
            out.push_str(&line[run..i]);
            out.push(bytes[i + 1] as char);
            i += 2;
            run = i;
            continue;
        }
        if stops.contains(&b) {
            break;
        }
        i += 1;
    }
    out.push_str(&line[run..i]);
    (out, i)
}

/// Parses one line (without its newline).
pub(crate) fn parse_line(line: &str) -> Result<Point, ParseError> {
    let bytes = line.as_bytes();
    let (measurement, mut i) = token(line, 0, b", ");
    if measurement.is_empty() {
        return fail("empty measurement", 0);
    }
    let series_start = i;
    let mut tags = Vec::new();
    while i < bytes.len() && bytes[i] == b',' {
        let (k, j) = token(line, i + 1, b"=, ");
        if j >= bytes.len() || bytes[j] != b'=' || k.is_empty() {
            return fail("tag without a key=value", i + 1);
        }
        let (v, j2) = token(line, j + 1, b", ");
        if v.is_empty() {
            return fail("empty tag value", j + 1);
        }
        tags.push((k, v));
        i = j2;
    }
    let series = line[series_start..i].to_owned();
    if i >= bytes.len() || bytes[i] != b' ' {
        return fail("no fields", i);
    }
    i += 1;
    let mut fields = Vec::new();
    loop {
        let (k, j) = token(line, i, b"= ,");
        if j >= bytes.len() || bytes[j] != b'=' || k.is_empty() {
            return fail("field without a key=value", i);
        }
        let (value, j2) = field_value(line, j + 1)?;
        fields.push((k, value));
        i = j2;
        if i < bytes.len() && bytes[i] == b',' {
            i += 1;
            continue;
        }
        break;
    }
    let timestamp = if i < bytes.len() {
        if bytes[i] != b' ' {
            return fail("expected a space before the timestamp", i);
        }
        let ts = line[i + 1..].trim_end_matches('\r');
        Some(ts.parse::<i64>().or_else(|_| fail("timestamp is not an integer", i + 1))?)
    } else {
        None
    };
    Ok(Point { measurement, tags, series, fields, timestamp })
}

fn field_value(line: &str, start: usize) -> Result<(FieldValue, usize), ParseError> {
    let bytes = line.as_bytes();
    if start < bytes.len() && bytes[start] == b'"' {
        let mut out = String::new();
        let mut i = start + 1;
        let mut run = i;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if i + 1 < bytes.len() && matches!(bytes[i + 1], b'"' | b'\\') => {
                    out.push_str(&line[run..i]);
                    out.push(bytes[i + 1] as char);
                    i += 2;
                    run = i;
                }
                b'"' => {
                    out.push_str(&line[run..i]);
                    return Ok((FieldValue::Str(out), i + 1));
                }
                _ => i += 1,
            }
        }
        return fail("unterminated string field", start);
    }
    let end = bytes[start..].iter().position(|b| matches!(b, b',' | b' ')).map_or(bytes.len(), |p| start + p);
    let raw = &line[start..end];
    let value = match raw {
        "t" | "T" | "true" | "True" | "TRUE" => FieldValue::Bool(true),
        "f" | "F" | "false" | "False" | "FALSE" => FieldValue::Bool(false),
        _ if raw.ends_with('i') => {
            FieldValue::Int(raw[..raw.len() - 1].parse().or_else(|_| fail("bad integer", start))?)
        }
        _ if raw.ends_with('u') => {
            FieldValue::UInt(raw[..raw.len() - 1].parse().or_else(|_| fail("bad unsigned", start))?)
        }
        _ => {
            let v: f64 = raw.parse().or_else(|_| fail("bad field value", start))?;
            if !v.is_finite() {
                return fail("non-finite float", start);
            }
            FieldValue::Float(v)
        }
    };
    Ok((value, end))
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::UInt(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::Str(v) => f.write_str(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::encode::encode;
    use crate::lineproto::escape::{escape_measurement, escape_tag, quote_field};
    use crate::model::enriched::EnrichedReading;
    use crate::model::kind::Kind;
    use crate::model::reading::{Reading, SmokeValues, Status, Values};
    use proptest::prelude::*;

    #[test]
    fn a_reading_line_parses_back_into_its_tags_fields_and_time() {
        let mut out = String::new();
        let r = EnrichedReading {
            reading: Reading {
                device_id: "sd-1".into(),
                kind: Kind::Smoke,
                county: "500112".into(),
                township: "500112002".into(),
                ts_ms: 1_795_930_617_074,
                received_at_ms: 0,
                seq: Some(17),
                status: Status::Alarm,
                values: Values::Smoke(SmokeValues { obscuration_db_m: 0.25, alarm: Some(true), ..Default::default() }),
            },
            device: None,
            location_mismatch: false,
        };
        encode(&mut out, &r);
        let p = parse_line(out.trim_end()).expect("parses");
        assert_eq!(p.measurement, "smoke");
        assert!(p.tags.contains(&("registered".into(), "false".into())));
        assert!(p.tags.contains(&("status".into(), "alarm".into())));
        assert_eq!(
            p.fields,
            vec![
                ("obscuration_db_m".into(), FieldValue::Float(0.25)),
                ("alarm".into(), FieldValue::Bool(true)),
                ("seq".into(), FieldValue::Int(17))
            ]
        );
        assert_eq!(p.timestamp, Some(1_795_930_617_074));
    }

    #[test]
    fn malformed_lines_are_refused_with_a_position() {
        for bad in ["", "m", "m,t f=1", "m f", "m f=abc", "m f=\"open", "m f=1 x", ",t=1 f=1", "m,t= f=1"] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }

    fn point(
        measurement: &str,
        tags: &[(&str, &str)],
        series: &str,
        fields: Vec<(&str, FieldValue)>,
        ts: Option<i64>,
    ) -> Point {
        Point {
            measurement: measurement.into(),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            series: series.into(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            timestamp: ts,
        }
    }

    #[test]
    fn every_kind_of_token_parses_to_its_value() {
        use FieldValue::*;
        let cases = [
            ("m f=1", point("m", &[], "", vec![("f", Float(1.0))], None)),
            (
                "m,a=1,b=x\\ y f=1i,g=2u,h=-3.5,t=t,u=F,v=TRUE 42",
                point(
                    "m",
                    &[("a", "1"), ("b", "x y")],
                    ",a=1,b=x\\ y",
                    vec![
                        ("f", Int(1)),
                        ("g", UInt(2)),
                        ("h", Float(-3.5)),
                        ("t", Bool(true)),
                        ("u", Bool(false)),
                        ("v", Bool(true)),
                    ],
                    Some(42),
                ),
            ),
            // In a string only \" and \\ are escapes: the encoder's \n for a newline stays as written.
            ("m s=\"q\\\"\\\\\\n\" 7", point("m", &[], "", vec![("s", Str("q\"\\\\n".into()))], Some(7))),
            ("m\\,x f=false,g=f -7\r", point("m,x", &[], "", vec![("f", Bool(false)), ("g", Bool(false))], Some(-7))),
            (
                "m,k\\=1=v\\,w f=\"\"",
                point("m", &[("k=1", "v,w")], ",k\\=1=v\\,w", vec![("f", Str(String::new()))], None),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn a_malformed_line_is_refused_with_what_is_wrong_and_where() {
        let cases = [
            ("", "empty measurement", 0),
            ("m", "no fields", 1),
            ("m\\", "no fields", 2),
            ("m,t", "tag without a key=value", 2),
            ("m,t f=1", "tag without a key=value", 2),
            ("m,=v f=1", "tag without a key=value", 2),
            ("m,t= f=1", "empty tag value", 4),
            ("m f", "field without a key=value", 2),
            ("m =1", "field without a key=value", 2),
            ("m f=", "bad field value", 4),
            ("m f=abc", "bad field value", 4),
            ("m f=inf", "non-finite float", 4),
            ("m f=1.5i", "bad integer", 4),
            ("m f=-1u", "bad unsigned", 4),
            ("m f=\"open", "unterminated string field", 4),
            ("m f=\"ab\\", "unterminated string field", 4),
            ("m f=\"a\"x", "expected a space before the timestamp", 7),
            ("m f=1 x", "timestamp is not an integer", 6),
        ];
        for (line, message, at) in cases {
            assert_eq!(parse_line(line), Err(ParseError { message, at }), "{line:?}");
        }
    }

    #[test]
    fn field_values_display_as_the_embedded_store_shows_them() {
        let shown: Vec<String> = [
            FieldValue::Float(1.5),
            FieldValue::Int(-3),
            FieldValue::UInt(7),
            FieldValue::Bool(true),
            FieldValue::Str("a \"b\"".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(shown, ["1.5", "-3", "7", "true", "a \"b\""]);
    }

    proptest! {
        #[test]
        fn escaped_names_tags_and_strings_round_trip(
            m in "[a-z ,=\\\\]{1,12}", k in "[a-z ,=\\\\]{1,8}", v in "[a-z0-9 ,=\\\\\"区街道]{1,12}",
            s in "[a-z0-9 ,=\\\\\"火灾]{0,16}", ts in any::<i64>(),
        ) {
            let mut line = String::new();
            escape_measurement(&mut line, &m);
            line.push(',');
            escape_tag(&mut line, &k);
            line.push('=');
            escape_tag(&mut line, &v);
            line.push_str(" summary=");
            quote_field(&mut line, &s);
            line.push_str(&format!(",n=5i {ts}"));
            let p = parse_line(&line).expect("round trip");
            prop_assert_eq!(p.measurement, m);
            prop_assert_eq!(p.tags, vec![(k, v)]);
            prop_assert_eq!(p.fields, vec![("summary".into(), FieldValue::Str(s)), ("n".into(), FieldValue::Int(5))]);
            prop_assert_eq!(p.timestamp, Some(ts));
        }

        #[test]
        fn no_line_panics_the_parser(line in ".{0,120}") {
            let _ = parse_line(&line);
        }
    }
}
