//! The compact parts of a stored point, as pure functions: which table (day or hour) a timestamp goes to,
//! and a point's field values as a JSON array indexed by each field's position in its
//! measurement (`fields` table), so `json_extract(v, '$[0]')` reads a field with plain SQLite.
//!
//! Why a positional array: a field's name is stored once per measurement instead of once per
//! point, and the array stays readable by the `sqlite3` shell and Grafana's SQLite data source
//! (a binary encoding would need a decoding function they do not have). Absent fields are
//! `null`; trailing absent fields are left out.

use std::fmt::Write as _;

use crate::lineproto::parse::FieldValue;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// How points are split into tables: retention and the size cap drop whole tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// One table per UTC day, `points_YYYYMMDD` (the default: 30 days are 30 tables).
    Day,
    /// One table per UTC hour, `points_YYYYMMDDHH` (the demo: its 24 h and its size cap are
    /// pruned an hour at a time).
    Hour,
}

impl Partition {
    fn width_ms(self) -> i64 {
        match self {
            Partition::Day => DAY_MS,
            Partition::Hour => HOUR_MS,
        }
    }

    /// The table of the partition a timestamp falls in.
    pub(crate) fn table_of(self, ts_ms: i64) -> String {
        let start = ts_ms.div_euclid(self.width_ms()) * self.width_ms();
        let t = time::OffsetDateTime::from_unix_timestamp(start.div_euclid(1000)).ok();
        match (self, t) {
            (Partition::Day, Some(t)) => format!("points_{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()),
            (Partition::Hour, Some(t)) => {
                format!("points_{:04}{:02}{:02}{:02}", t.year(), u8::from(t.month()), t.day(), t.hour())
            }
            // Outside the calendar `time` knows (never for a validated reading): still a unique name.
            (_, None) => format!("points_x{}", start.unsigned_abs()),
        }
    }
}

/// The time a table named by [`Partition::table_of`] covers, `[start, end)` in epoch ms, if it
/// is one (day and hour tables alike, so a file keeps working whichever partition opens it).
pub(crate) fn table_span(name: &str) -> Option<(i64, i64)> {
    let digits = name.strip_prefix("points_")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (date, hour, width) = match digits.len() {
        8 => (digits, 0, DAY_MS),
        10 => (&digits[..8], digits[8..].parse::<u8>().ok().filter(|h| *h < 24)?, HOUR_MS),
        _ => return None,
    };
    let n: i32 = date.parse().ok()?;
    let month = time::Month::try_from(u8::try_from(n / 100 % 100).ok()?).ok()?;
    let date = time::Date::from_calendar_date(n / 10_000, month, u8::try_from(n % 100).ok()?).ok()?;
    let days = (date - time::OffsetDateTime::UNIX_EPOCH.date()).whole_days();
    let start = days * DAY_MS + i64::from(hour) * HOUR_MS;
    Some((start, start + width))
}

/// Writes `values` (each with its field's position) as a JSON array: `[0.03,22.5,null,true]`.
pub(crate) fn encode(values: &[(usize, &FieldValue)], out: &mut String) {
    out.clear();
    out.push('[');
    let len = values.iter().map(|(p, _)| p + 1).max().unwrap_or(0);
    for pos in 0..len {
        if pos > 0 {
            out.push(',');
        }
        match values.iter().find(|(p, _)| *p == pos) {
            Some((_, v)) => push_value(out, v),
            None => out.push_str("null"),
        }
    }
    out.push(']');
}

fn push_value(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Float(f) if f.is_finite() => {
            let mut buf = ryu::Buffer::new();
            let s = buf.format_finite(*f);
            out.push_str(s.strip_suffix(".0").unwrap_or(s));
        }
        FieldValue::Float(_) => out.push_str("null"),
        FieldValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        FieldValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        FieldValue::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_a_json_array_by_position_with_nulls_for_gaps() {
        let (a, b, c) = (FieldValue::Float(0.03), FieldValue::Bool(true), FieldValue::Str("x\"y".into()));
        let cases: Vec<(Vec<(usize, &FieldValue)>, &str)> = vec![
            (vec![], "[]"),
            (vec![(0, &a)], "[0.03]"),
            (vec![(2, &b), (0, &a)], "[0.03,null,true]"),
            (vec![(1, &c)], r#"[null,"x\"y"]"#),
        ];
        let mut out = String::new();
        for (values, want) in cases {
            encode(&values, &mut out);
            assert_eq!(out, want);
            assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "{out} is JSON");
        }
        for (v, want) in [
            (FieldValue::Float(22.0), "[22]"),
            (FieldValue::Float(f64::NAN), "[null]"),
            (FieldValue::Int(-7), "[-7]"),
            (FieldValue::UInt(u64::MAX), "[18446744073709551615]"),
        ] {
            encode(&[(0, &v)], &mut out);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn a_table_is_named_by_its_utc_day_or_hour_and_its_span_read_back() {
        let ts = 1_764_547_200_000 + 5 * HOUR_MS + 17; // 2025-12-01 05:00:00.017 UTC
        for (p, name, start, width) in [
            (Partition::Day, "points_20251201", 1_764_547_200_000, DAY_MS),
            (Partition::Hour, "points_2025120105", 1_764_547_200_000 + 5 * HOUR_MS, HOUR_MS),
        ] {
            assert_eq!(p.table_of(ts), name);
            assert_eq!(table_span(name), Some((start, start + width)));
        }
        assert_eq!(Partition::Day.table_of(-1), "points_19691231");
        assert_eq!(table_span("points_19691231"), Some((-DAY_MS, 0)));
        for other in ["points", "series", "points_2025120", "points_2025x201", "points_20251301", "points_2025120124"] {
            assert_eq!(table_span(other), None, "{other}");
        }
    }
}
