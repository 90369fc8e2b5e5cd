//! A minimal JSON value borrowed from the payload bytes, just rich enough for the decoder to
//! tell a missing field from a field of the wrong type and to keep unknown fields cheap.
//! Keys and strings borrow from the input unless they contain escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value; objects keep their entries in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or exponent.
    F64(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Entries in document order; a repeated key keeps every entry (the last one wins in `get`).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The number as `f64`, for any JSON number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            Json::U64(v) => Some(v as f64),
            Json::I64(v) => Some(v as f64),
            Json::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The entry `key` of an object (the last one, if a key repeats).
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the value's type, for error details.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::U64(_) | Json::I64(_) | Json::F64(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

// `#[inline]` on the hot visitor methods (here, `visit_seq` and `visit_map`): they are generic
// over the deserializer, and without the hint whether serde_json's inner calls get inlined
// depended on how the crate's modules fell into codegen units (3 % more instructions per
// message after a pure file move, measured with callgrind on `benches/pipeline.rs`).
impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 { Json::U64(v.unsigned_abs()) } else { Json::I64(v) })
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::U64(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::F64(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let value = map.next_value()?;
            entries.push((key.0, value));
        }
        Ok(Json::Object(entries))
    }
}

/// A key that borrows when it can.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Parses a whole document.
pub(crate) fn parse(text: &str) -> Result<Json<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_json_types_and_keys_borrow_from_the_input() {
        let doc = parse(r#"{"a":1,"b":-2,"c":1.5,"d":"x","e":[true,null],"f":{"g":"\u00e9"}}"#).expect("parses");
        assert_eq!(doc.get("a"), Some(&Json::U64(1)));
        assert_eq!(doc.get("b"), Some(&Json::I64(-2)));
        assert_eq!(doc.get("c"), Some(&Json::F64(1.5)));
        assert!(matches!(doc.get("d"), Some(Json::Str(Cow::Borrowed("x")))));
        assert_eq!(doc.get("e"), Some(&Json::Array(vec![Json::Bool(true), Json::Null])));
        assert_eq!(doc.get("f").and_then(|f| f.get("g")), Some(&Json::Str(Cow::Owned("é".into()))));
        assert_eq!(doc.get("zz"), None);
    }

    #[test]
    fn a_repeated_key_resolves_to_its_last_value() {
        let doc = parse(r#"{"a":1,"a":2}"#).expect("parses");
        assert_eq!(doc.get("a"), Some(&Json::U64(2)));
    }
}
