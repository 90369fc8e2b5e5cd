//! Duration keys (`…_ms`, `…_seconds`, `…_days`) take what operators type: a whole number in the
//! key's unit, as before (`session_expiry_seconds = 604800`), or a `humantime` duration
//! (`session_expiry_seconds = "7d"`, `batch_max_age_ms = "1s"`, `"1h 30m"`). The key keeps its
//! unit in its name, so a bare number means what it always meant and every existing file stays
//! valid; a duration that is not a whole number of the key's unit (`"1500ms"` for a `_seconds`
//! key) is refused rather than rounded. Used with `#[serde(deserialize_with = …)]`; the value is
//! stored in the key's unit, so nothing downstream changes.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// The unit a key's bare number is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millis,
    Seconds,
    Days,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Millis => "milliseconds",
            Unit::Seconds => "seconds",
            Unit::Days => "days",
        }
    }

    /// The length of one unit in milliseconds.
    fn millis(self) -> u128 {
        match self {
            Unit::Millis => 1,
            Unit::Seconds => 1_000,
            Unit::Days => 86_400_000,
        }
    }
}

/// A `humantime` duration (or a whole number) as a whole number of `unit`.
fn parse(text: &str, unit: Unit) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    let d: Duration = humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration like \"30s\", \"5m\", \"7d\" or a number of {}: {e}", unit.name())
    })?;
    let ms = d.as_millis();
    if d.subsec_nanos() % 1_000_000 != 0 || ms % unit.millis() != 0 {
        return Err(format!("`{text}` is not a whole number of {}", unit.name()));
    }
    u64::try_from(ms / unit.millis()).map_err(|_| format!("`{text}` is too long"))
}

struct DurationVisitor(Unit);

impl Visitor<'_> for DurationVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number of {} or a duration such as \"30s\", \"5m\", \"7d\"", self.0.name())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse(v, self.0).map_err(E::custom)
    }
}

fn in_unit<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D, unit: Unit) -> Result<T, D::Error> {
    let v = d.deserialize_any(DurationVisitor(unit))?;
    T::try_from(v).map_err(|_| de::Error::custom(format!("{v} {} is too long for this key", unit.name())))
}

/// A `…_ms` key: milliseconds, or a duration.
pub fn millis<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    in_unit(d, Unit::Millis)
}

/// A `…_seconds` key: seconds, or a duration.
pub fn seconds<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    in_unit(d, Unit::Seconds)
}

/// A `…_days` key: days, or a duration.
pub fn days<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    in_unit(d, Unit::Days)
}

/// A command-line duration in seconds: a whole number of seconds, or a duration such as `10m`
/// or `1h 30m` (for `firegrid demo --duration-seconds`).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    parse(text, Unit::Seconds).map(Duration::from_secs)
}

/// Whether the key `name` takes a duration (so an environment override may be text).
pub fn is_duration_key(name: &str) -> bool {
    name.ends_with("_ms") || name.ends_with("_seconds") || name.ends_with("_days")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_the_keys_unit_and_durations_convert_to_it() {
        let cases: &[(&str, Unit, Result<u64, ()>)] = &[
            ("604800", Unit::Seconds, Ok(604_800)),
            ("7d", Unit::Seconds, Ok(604_800)),
            ("1h 30m", Unit::Seconds, Ok(5_400)),
            ("250ms", Unit::Millis, Ok(250)),
            ("2s", Unit::Millis, Ok(2_000)),
            ("30days", Unit::Days, Ok(30)),
            ("1500ms", Unit::Seconds, Err(())),
            ("36h", Unit::Days, Err(())),
            ("soon", Unit::Seconds, Err(())),
            ("-5s", Unit::Seconds, Err(())),
        ];
        for (text, unit, want) in cases {
            assert_eq!(parse(text, *unit).map_err(|_| ()), *want, "{text} in {unit:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Keys {
        #[serde(deserialize_with = "seconds")]
        expiry_seconds: u32,
        #[serde(deserialize_with = "millis")]
        age_ms: u64,
    }

    #[test]
    fn toml_takes_either_form_and_names_what_to_write_on_an_error() {
        let k: Keys = toml::from_str("expiry_seconds = \"7d\"\nage_ms = 500").expect("valid");
        assert_eq!((k.expiry_seconds, k.age_ms), (604_800, 500));
        let e = toml::from_str::<Keys>("expiry_seconds = \"1500ms\"\nage_ms = 1").expect_err("not whole").to_string();
        assert!(e.contains("expiry_seconds") && e.contains("whole number of seconds"), "{e}");
        let e = toml::from_str::<Keys>("expiry_seconds = \"200y\"\nage_ms = 1").expect_err("u32").to_string();
        assert!(e.contains("too long"), "{e}");
    }
}
