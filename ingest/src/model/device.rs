//! A sensor as a row of `devices.csv` (DESIGN §3) and the kind of site it guards.

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

/// A sensor as a row of `devices.csv`: the plain values code builds a device from (the
/// simulator, the tests, the CSV writer). The registry keeps each device as a compact
/// [`DeviceRecord`](crate::model::record::DeviceRecord) that reads its text from one shared table.
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
}
