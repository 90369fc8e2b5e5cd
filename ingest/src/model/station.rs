//! A responder station (a row of `stations.csv`, DESIGN §3) and its tier.

/// Responder tiers (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Community micro fire station (微型消防站).
    Micro,
    /// Township dedicated fire team (乡镇专职消防队).
    TownshipTeam,
    /// Volunteer fire team (志愿消防队).
    Volunteer,
    /// District fire rescue station (区县消防救援站).
    District,
    /// Forest fire team (森林消防队).
    ForestTeam,
}

impl Tier {
    /// Every tier.
    pub const ALL: [Tier; 5] = [Tier::Micro, Tier::TownshipTeam, Tier::Volunteer, Tier::District, Tier::ForestTeam];

    /// The registry and metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Micro => "micro",
            Tier::TownshipTeam => "township_team",
            Tier::Volunteer => "volunteer",
            Tier::District => "district",
            Tier::ForestTeam => "forest_team",
        }
    }

    /// Parses a registry value.
    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A responder station.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Unique station id.
    pub station_id: String,
    /// Display name.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// County code.
    pub county: String,
    /// Township code (may be empty for a district station).
    pub township: String,
    /// Community code (may be empty above micro stations).
    pub community: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Division codes the station is first responder for; never empty after load (the
    /// default of DESIGN §3 is filled in).
    pub covers: Vec<String>,
    /// Available at load time (availability changes at run time live in the alert engine).
    pub available: bool,
    /// Webhook for notifications, when the station has one.
    pub webhook_url: Option<String>,
}
