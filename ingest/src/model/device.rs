//! A registered sensor (a row of `devices.csv`, DESIGN §3) and the kind of site it guards.

use std::fmt;
use std::sync::OnceLock;

use crate::model::kind::Kind;

/// Where a device is installed (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteType {
    /// Ordinary home.
    Residential,
    /// Rental building (群租房).
    Rental,
    /// Small venue (九小场所).
    SmallVenue,
    /// Elderly-care home.
    ElderlyCare,
    /// School.
    School,
    /// Hospital.
    Hospital,
    /// Ancient town, village or stockade (古镇古寨古村).
    AncientTown,
    /// Factory.
    Factory,
    /// Forest.
    Forest,
    /// Anything else.
    Other,
}

impl SiteType {
    /// Every site type.
    pub const ALL: [SiteType; 10] = [
        SiteType::Residential,
        SiteType::Rental,
        SiteType::SmallVenue,
        SiteType::ElderlyCare,
        SiteType::School,
        SiteType::Hospital,
        SiteType::AncientTown,
        SiteType::Factory,
        SiteType::Forest,
        SiteType::Other,
    ];

    /// The registry and tag value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SiteType::Residential => "residential",
            SiteType::Rental => "rental",
            SiteType::SmallVenue => "small_venue",
            SiteType::ElderlyCare => "elderly_care",
            SiteType::School => "school",
            SiteType::Hospital => "hospital",
            SiteType::AncientTown => "ancient_town",
            SiteType::Factory => "factory",
            SiteType::Forest => "forest",
            SiteType::Other => "other",
        }
    }

    /// Parses a registry value.
    pub fn parse(s: &str) -> Option<SiteType> {
        SiteType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A registered sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Unique device id (the last topic segment).
    pub device_id: String,
    /// Sensor kind.
    pub kind: Kind,
    /// 6-digit county code.
    pub county: String,
    /// 9-digit township code.
    pub township: String,
    /// 12-digit community (committee) code; empty when the device belongs to none (a forest).
    pub community: String,
    /// The grid (网格) the device belongs to; may be empty.
    pub grid_id: String,
    /// Groups the detectors of one home, shop or building unit; empty = the device alone.
    pub household_id: String,
    /// Street address, for dispatch messages.
    pub address: String,
    /// WGS-84 latitude, when known.
    pub lat: Option<f64>,
    /// WGS-84 longitude, when known.
    pub lon: Option<f64>,
    /// Kind of site.
    pub site_type: SiteType,
    /// Elderly living alone, left-behind children or disabled (特殊群体).
    pub vulnerable: bool,
    /// The device's encoded line-protocol series, a cache filled on first use: write
    /// `LinePrefix::default()` in a literal.
    pub line_prefix: LinePrefix,
}

/// The measurement and registry tags of a device, encoded for line protocol once (DESIGN §1's
/// hot-path note: writing a line is then a copy, not a re-escape). Empty until
/// [`crate::lineproto::series::device_prefix`] encodes it for the device's first reading; a
/// registry reload brings new devices, encoded again once each. The model does not fill it
/// itself, so that it never depends on line protocol.
///
/// A cache derived from the device's fields, not part of them: every two are equal, and a clone
/// starts empty, since a clone may be edited (`Device { grid_id, ..d.clone() }`) and must not
/// keep the old tags.
#[derive(Default)]
pub struct LinePrefix(OnceLock<Box<str>>);

impl LinePrefix {
    /// The encoded prefix, computed by `encode` the first time.
    pub(crate) fn get_or_init(&self, encode: impl FnOnce() -> String) -> &str {
        self.0.get_or_init(|| encode().into_boxed_str())
    }
}

impl Clone for LinePrefix {
    fn clone(&self) -> Self {
        LinePrefix::default()
    }
}

impl PartialEq for LinePrefix {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for LinePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.get() {
            Some(p) => f.debug_tuple("LinePrefix").field(p).finish(),
            None => f.write_str("LinePrefix(<not encoded yet>)"),
        }
    }
}
