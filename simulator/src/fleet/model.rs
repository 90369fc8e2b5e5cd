//! The fleet as data: one value per row of the registry files (devices, stations, grids), and
//! the fleet of an already loaded registry.

use firegrid_ingest::reading::Kind;
use firegrid_ingest::registry::{Registry, SiteType, Tier};

use super::spec::DEFAULT_SEED;

/// A generated device: one row of `devices.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    /// Device id (last topic segment): `sd-000017`, `em-000003`, `ir-000002`.
    pub device_id: String,
    /// Sensor kind.
    pub kind: Kind,
    /// 6-digit county code.
    pub county: String,
    /// 9-digit township code.
    pub township: String,
    /// 12-digit community code.
    pub community: String,
    /// The grid the device belongs to.
    pub grid_id: String,
    /// Groups the devices of one home, venue, building or site.
    pub household_id: String,
    /// Address in Chinese.
    pub address: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Kind of site.
    pub site_type: SiteType,
    /// A vulnerable household (特殊群体).
    pub vulnerable: bool,
}

/// A generated responder station: one row of `stations.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetStation {
    /// Station id: `ms-{community}`, `tt-{township}`, `ds-{county}`, `ft-{county}-{n}`.
    pub station_id: String,
    /// Name in Chinese.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// County code.
    pub county: String,
    /// Township code (empty for a district station).
    pub township: String,
    /// Community code (micro stations only).
    pub community: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Division codes covered; empty = the DESIGN §3 default.
    pub covers: Vec<String>,
    /// Available at start.
    pub available: bool,
}

/// A generated grid and its manager: one row of `grids.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetGrid {
    /// Grid id: `{community}-g{n}`.
    pub grid_id: String,
    /// Community code.
    pub community: String,
    /// Manager's name.
    pub manager: String,
    /// Manager's phone.
    pub phone: String,
}

/// A generated fleet: devices, stations, grids, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The seed it was generated from.
    pub seed: u64,
    /// Devices, grouped by county, township and community.
    pub devices: Vec<FleetDevice>,
    /// Stations.
    pub stations: Vec<FleetStation>,
    /// Grids.
    pub grids: Vec<FleetGrid>,
}

impl Fleet {
    /// Number of devices of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.devices.iter().filter(|d| d.kind == kind).count()
    }

    /// The fleet of a loaded registry (any registry, generated or not), devices and stations in
    /// id order and grids by id, so the same files give the same readings for a seed.
    pub fn from_registry(reg: &Registry, seed: u64) -> Fleet {
        let mut devices: Vec<FleetDevice> = reg
            .devices()
            .map(|d| FleetDevice {
                device_id: d.device_id.clone(),
                kind: d.kind,
                county: d.county.clone(),
                township: d.township.clone(),
                community: d.community.clone(),
                grid_id: d.grid_id.clone(),
                household_id: d.household_id.clone(),
                address: d.address.clone(),
                lat: d.lat.unwrap_or_default(),
                lon: d.lon.unwrap_or_default(),
                site_type: d.site_type,
                vulnerable: d.vulnerable,
            })
            .collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        let mut stations: Vec<FleetStation> = reg
            .stations()
            .iter()
            .map(|s| FleetStation {
                station_id: s.station_id.clone(),
                name: s.name.clone(),
                tier: s.tier,
                county: s.county.clone(),
                township: s.township.clone(),
                community: s.community.clone(),
                lat: s.lat,
                lon: s.lon,
                covers: s.covers.clone(),
                available: s.available,
            })
            .collect();
        stations.sort_by(|a, b| a.station_id.cmp(&b.station_id));
        let mut grids: Vec<FleetGrid> = reg
            .grids()
            .map(|g| FleetGrid {
                grid_id: g.grid_id.clone(),
                community: g.community.clone(),
                manager: g.manager.clone(),
                phone: g.phone.clone(),
            })
            .collect();
        grids.sort_by(|a, b| a.grid_id.cmp(&b.grid_id));
        Fleet { seed, devices, stations, grids }
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet { seed: DEFAULT_SEED, devices: Vec::new(), stations: Vec::new(), grids: Vec::new() }
    }
}
