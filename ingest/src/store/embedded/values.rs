//! The compact parts of a stored point, as pure functions: which day table a timestamp goes to,
//! and a point's field values as a JSON array indexed by each field's position in its
//! measurement (`fields` table), so `json_extract(v, '$[0]')` reads a field with plain SQLite.
//!
//! Why a positional array: a field's name is stored once per measurement instead of once per
//! point, and the array stays readable by the `sqlite3` shell and Grafana's SQLite data source
//! (a binary encoding would need a decoding function they do not have). Absent fields are
//! `null`; trailing absent fields are left out.

use std::fmt::Write as _;

use crate::lineproto::parse::FieldValue;

/// Milliseconds in a day: points are kept in one table per UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since 1970-01-01) of a timestamp.
pub(crate) fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// The table of a day: `points_YYYYMMDD` (UTC), e.g. `points_20261201`.
pub(crate) fn day_table(day: i64) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH.date();
    let d = i32::try_from(day).ok().and_then(|n| date.checked_add(time::Duration::days(i64::from(n))));
    match d {
        Some(d) => format!("points_{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day()),
        // Outside the calendar `time` knows (never for a validated reading): still a unique name.
        None => format!("points_d{}", day.unsigned_abs()),
    }
}

/// The day of a table named by [`day_table`], if it is one.
pub(crate) fn table_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("points_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i32 = digits.parse().ok()?;
    let month = time::Month::try_from(u8::try_from(n / 100 % 100).ok()?).ok()?;
    let date = time::Date::from_calendar_date(n / 10_000, month, u8::try_from(n % 100).ok()?).ok()?;
    Some((date - time::OffsetDateTime::UNIX_EPOCH.date()).whole_days())
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
    fn a_day_table_is_named_by_its_utc_date_and_named_back() {
        for (ts, name) in [(0, "points_19700101"), (1_764_547_200_000, "points_20251201"), (-1, "points_19691231")] {
            let day = day_of(ts);
            assert_eq!(day_table(day), name);
            assert_eq!(table_day(name), Some(day));
        }
        for other in ["points", "series", "points_2025120", "points_2025x201", "points_20251301"] {
            assert_eq!(table_day(other), None, "{other}");
        }
    }
}
