//! The tests' registries, written by ingest's one registry writer (`model::registry::csv`) from
//! typed rows, so a fixture can never drift from the format the loader reads. The builders give
//! the rows of 双龙湖街道 (渝北区) most tests use; a test changes what it needs with struct update
//! syntax (`Device { vulnerable: true, ..detector("sd-1", "hh-1") }`).

use std::path::Path;

use anyhow::Result;
use firegrid_ingest::model::registry::csv;
use firegrid_ingest::{Device, Grid, Kind, RegistryPaths, SiteType, Station, Tier};

/// 五星路社区 of 双龙湖街道, 渝北区.
pub const COMMUNITY: &str = "500112002001";
/// Its grid.
pub const GRID: &str = "500112002001-g1";

/// Writes `devices.csv`, `stations.csv` and `grids.csv` into `dir`.
pub fn write(dir: &Path, devices: &[Device], stations: &[Station], grids: &[Grid]) -> Result<RegistryPaths> {
    Ok(csv::write(dir, devices, stations, grids)?)
}

/// Rewrites only `stations.csv` (for a registry reload).
pub fn write_stations(paths: &RegistryPaths, stations: &[Station]) -> Result<()> {
    std::fs::write(&paths.stations, csv::stations(stations)?)?;
    Ok(())
}

/// A smoke detector of household `household` in [`COMMUNITY`] and [`GRID`], at 3 栋 2 单元 502 室,
/// residential, not vulnerable.
pub fn detector(id: &str, household: &str) -> Device {
    Device {
        device_id: id.to_owned(),
        kind: Kind::Smoke,
        county: "500112".to_owned(),
        township: "500112002".to_owned(),
        community: COMMUNITY.to_owned(),
        grid_id: GRID.to_owned(),
        household_id: household.to_owned(),
        address: "3 栋 2 单元 502 室".to_owned(),
        lat: Some(29.7210),
        lon: Some(106.6310),
        site_type: SiteType::Residential,
        vulnerable: false,
    }
}

/// The neighbouring flat: [`detector`] at 5 栋 1 单元 101 室.
pub fn neighbour(id: &str, household: &str) -> Device {
    Device {
        address: "5 栋 1 单元 101 室".to_owned(),
        lat: Some(29.7212),
        lon: Some(106.6308),
        ..detector(id, household)
    }
}

/// A station of 渝北区, available, covering what DESIGN §3 gives its tier, without a webhook.
pub fn station(
    id: &str,
    name: &str,
    tier: Tier,
    (township, community): (&str, &str),
    (lat, lon): (f64, f64),
) -> Station {
    Station {
        station_id: id.to_owned(),
        name: name.to_owned(),
        tier,
        county: "500112".to_owned(),
        township: township.to_owned(),
        community: community.to_owned(),
        lat,
        lon,
        covers: Vec::new(),
        available: true,
        webhook_url: None,
    }
}

/// A grid and its manager, without a webhook.
pub fn grid(id: &str, community: &str, manager: &str, phone: &str) -> Grid {
    Grid {
        grid_id: id.to_owned(),
        community: community.to_owned(),
        manager: manager.to_owned(),
        phone: phone.to_owned(),
        webhook_url: None,
    }
}

/// `Some(url)` unless it is empty.
pub fn hook(url: &str) -> Option<String> {
    (!url.is_empty()).then(|| url.to_owned())
}
