//! The three sensor kinds of the wire contract (DESIGN §2): a topic segment, a registry column,
//! a measurement name in the store and a metric label. A leaf: it names things, nothing more.

use std::fmt;

/// The three sensor kinds of the wire contract; each is one measurement in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Independent or networked smoke alarm (GB 20517).
    Smoke,
    /// Electrical fire monitoring detector (GB 14287).
    Electrical,
    /// Under-canopy infrared smoke/fire camera (林下红外烟火监控).
    ForestIr,
}

impl Kind {
    /// Every kind, in a fixed order (metric label pre-registration, table tests).
    pub const ALL: [Kind; 3] = [Kind::Smoke, Kind::Electrical, Kind::ForestIr];

    /// The name used in topics, measurements and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Smoke => "smoke",
            Kind::Electrical => "electrical",
            Kind::ForestIr => "forest_ir",
        }
    }

    /// Parses a topic segment or registry column.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "smoke" => Some(Kind::Smoke),
            "electrical" => Some(Kind::Electrical),
            "forest_ir" => Some(Kind::ForestIr),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name_and_nothing_else_parses() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        for bad in ["", "Smoke", "gas", "forest-ir"] {
            assert_eq!(Kind::parse(bad), None, "{bad}");
        }
    }
}
