//! Serde by name for ingest's enums whose names are contract but which carry no serde (`Kind`,
//! the reading `Status`, `SiteType`, `Tier`): `#[serde(with = "crate::by_name")]` writes a value as
//! its `as_str` and reads it back with `parse`; an unknown name is a decode error that quotes it.

use firegrid_ingest::{Kind, SiteType, Status, Tier};
use serde::{Deserialize, Deserializer, Serializer};

/// An enum with a name table.
pub(crate) trait ByName: Sized + Copy {
    /// What a value is, for the decode error.
    const WHAT: &'static str;
    /// Its name.
    fn name(self) -> &'static str;
    /// The value of a name.
    fn from_name(s: &str) -> Option<Self>;
}

macro_rules! by_name {
    ($t:ty, $what:literal) => {
        impl ByName for $t {
            const WHAT: &'static str = $what;
            fn name(self) -> &'static str {
                self.as_str()
            }
            fn from_name(s: &str) -> Option<Self> {
                <$t>::parse(s)
            }
        }
    };
}

by_name!(Kind, "kind");
by_name!(Status, "status");
by_name!(SiteType, "site type");
by_name!(Tier, "tier");

pub(crate) fn serialize<T: ByName, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub(crate) fn deserialize<'de, T: ByName, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    T::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {} `{s}`", T::WHAT)))
}

/// The same for an `Option` (`null` is `None`).
pub(crate) mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::ByName;

    pub(crate) fn serialize<T: ByName, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.name()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T: ByName, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else { return Ok(None) };
        T::from_name(&s).map(Some).ok_or_else(|| serde::de::Error::custom(format!("unknown {} `{s}`", T::WHAT)))
    }
}
