//! The fleet as data: the registry's own rows (ingest's [`Device`], [`Station`] and [`Grid`]),
//! generated or read back from registry files, in a fixed order.

use firegrid_ingest::{Device, Grid, Kind, Registry, Station};

use super::spec::DEFAULT_SEED;

/// A fleet: devices, stations, grids, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The seed it was generated from (and that seeds its readings).
    pub seed: u64,
    /// Devices, grouped by county, township and community when generated.
    pub devices: Vec<Device>,
    /// Stations.
    pub stations: Vec<Station>,
    /// Grids.
    pub grids: Vec<Grid>,
}

impl Fleet {
    /// Number of devices of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.devices.iter().filter(|d| d.kind == kind).count()
    }

    /// The fleet of a loaded registry (any registry, generated or not), devices, stations and
    /// grids in id order, so the same files give the same readings for a seed.
    pub fn from_registry(reg: &Registry, seed: u64) -> Fleet {
        let mut devices: Vec<Device> = reg.devices().map(|d| d.to_device()).collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        let mut stations: Vec<Station> = reg.stations().iter().map(|s| Station::clone(s)).collect();
        stations.sort_by(|a, b| a.station_id.cmp(&b.station_id));
        let mut grids: Vec<Grid> = reg.grids().map(|g| Grid::clone(g)).collect();
        grids.sort_by(|a, b| a.grid_id.cmp(&b.grid_id));
        Fleet { seed, devices, stations, grids }
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet { seed: DEFAULT_SEED, devices: Vec::new(), stations: Vec::new(), grids: Vec::new() }
    }
}
