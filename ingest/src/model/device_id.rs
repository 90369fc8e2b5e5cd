//! A device id held without a heap allocation when it is short (the contract allows 1–64
//! characters; the simulator's and most vendors' ids are under 23): a city registry keeps a
//! million of them, and the alert engine keys its per-device state by them, so an id costs 24
//! bytes inline instead of a `String`'s 24 plus a heap block of 32 or more.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest id kept inline.
const INLINE: usize = 22;

/// A device id: inline up to 22 bytes, boxed beyond. Hashes, compares and borrows as its `str`,
/// so a map keyed by it is looked up with a `&str`.
#[derive(Clone)]
pub struct DeviceId(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl DeviceId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always valid UTF-8: the bytes were copied from a `&str` whole.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(bytes.get(..usize::from(*len)).unwrap_or_default()).unwrap_or_default()
            }
            Repr::Boxed(s) => s,
        }
    }
}

impl From<&str> for DeviceId {
    fn from(s: &str) -> DeviceId {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            DeviceId(Repr::Inline { len: s.len() as u8, bytes })
        } else {
            DeviceId(Repr::Boxed(s.into()))
        }
    }
}

impl PartialEq for DeviceId {
    fn eq(&self, other: &DeviceId) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for DeviceId {}

impl PartialOrd for DeviceId {
    fn partial_cmp(&self, other: &DeviceId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DeviceId {
    fn cmp(&self, other: &DeviceId) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for DeviceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for DeviceId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_id_of_any_length_reads_back_and_is_found_by_its_text() {
        let long = "x".repeat(64);
        let ids = ["a", "sd-000017", "abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuvw", long.as_str(), "烟感-1"];
        let map: HashMap<DeviceId, usize> = ids.iter().enumerate().map(|(i, s)| (DeviceId::from(*s), i)).collect();
        for (i, s) in ids.iter().enumerate() {
            assert_eq!(DeviceId::from(*s).as_str(), *s);
            assert_eq!(map.get(*s), Some(&i), "{s}");
        }
        assert_ne!(DeviceId::from("sd-1"), DeviceId::from("sd-10"));
        assert_eq!(std::mem::size_of::<DeviceId>(), 24);
    }
}
