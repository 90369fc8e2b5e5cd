//! The device, station and grid registry (DESIGN §3): three CSV files loaded into hash maps
//! for O(1) lookup per reading. Devices are held as compact [`DeviceRecord`]s whose text is
//! interned into one table per load (issue 14: a million devices in a few hundred megabytes). A malformed row fails the whole load with `file:line: what is
//! wrong`, so a bad edit never half-applies; the running registry stays in place until a load
//! succeeds (see [`SharedRegistry`]).
//!
//! - this file: the loaded [`Registry`], the file paths, the column lists of the file format;
//! - `shared`: the registry as the running service holds it, swapped whole on reload;
//! - `load`: checking the CSV rows' values;
//! - `records` and `parallel`: the file's records, found block by block and parsed on several
//!   threads, handed over in file order;
//! - `devices`: `devices.csv` into compact records;
//! - `index`: the devices in file order, found by id without a second copy of it;
//! - [`csv`]: the one writer of the three files, for the simulator and the tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::device::Device;
use crate::model::grid::Grid;
use crate::model::record::DeviceRecord;
use crate::model::station::Station;

pub mod csv;
mod devices;
mod index;
mod load;
mod parallel;
mod records;
mod shared;

use index::DeviceIndex;

pub use shared::SharedRegistry;

/// A registry file that could not be loaded; the message names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The registry file, as configured.
        file: PathBuf,
        /// Why it could not be read (missing, permissions).
        source: std::io::Error,
    },
    /// The header lacks a required column.
    #[error("{}:1: missing column `{column}` (the header must name: {expected})", file.display())]
    MissingColumn {
        /// The registry file, as configured.
        file: PathBuf,
        /// The first required column the header lacks.
        column: &'static str,
        /// Every required column, comma-separated, for the message.
        expected: String,
    },
    /// A row is malformed.
    #[error("{}:{line}: {message}", file.display())]
    Row {
        /// The registry file, as configured.
        file: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The columns of `devices.csv`, in the order generated files write them.
pub const DEVICE_COLUMNS: &[&str] = &[
    "device_id",
    "kind",
    "county",
    "township",
    "community",
    "grid_id",
    "household_id",
    "address",
    "lat",
    "lon",
    "site_type",
    "vulnerable",
];
/// The columns of `stations.csv`, in the order generated files write them.
pub const STATION_COLUMNS: &[&str] = &[
    "station_id",
    "name",
    "tier",
    "county",
    "township",
    "community",
    "lat",
    "lon",
    "covers",
    "available",
    "webhook_url",
];
/// The columns of `grids.csv`, in the order generated files write them.
pub const GRID_COLUMNS: &[&str] = &["grid_id", "community", "manager", "phone", "webhook_url"];

/// Paths of the three registry files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPaths {
    /// The devices file (`devices.csv` by convention).
    pub devices: PathBuf,
    /// The stations file (`stations.csv` by convention).
    pub stations: PathBuf,
    /// The grids file (`grids.csv` by convention).
    pub grids: PathBuf,
}

impl RegistryPaths {
    /// The three files under their usual names (`devices.csv`, `stations.csv`, `grids.csv`) in `dir`.
    pub fn in_dir(dir: &Path) -> RegistryPaths {
        RegistryPaths {
            devices: dir.join("devices.csv"),
            stations: dir.join("stations.csv"),
            grids: dir.join("grids.csv"),
        }
    }
}

/// The loaded registry: devices by id, stations in file order and by id, grids by id.
#[derive(Debug, Default)]
pub struct Registry {
    devices: DeviceIndex,
    stations: Vec<Arc<Station>>,
    station_index: HashMap<String, usize>,
    grids: HashMap<String, Arc<Grid>>,
}

impl Registry {
    /// Loads and validates the three files.
    pub fn load(paths: &RegistryPaths) -> Result<Registry, RegistryError> {
        let mut reg = Registry { devices: devices::load(&paths.devices)?, ..Registry::default() };
        let stations = load::rows(&paths.stations, STATION_COLUMNS, load::station)?;
        let grids = load::rows(&paths.grids, GRID_COLUMNS, load::grid)?;
        reg.add_parts(paths, stations, grids)?;
        Ok(reg)
    }

    /// Adds stations and grids (with their line numbers), checking uniqueness.
    fn add_parts(
        &mut self,
        paths: &RegistryPaths,
        stations: Vec<(u64, Station)>,
        grids: Vec<(u64, Grid)>,
    ) -> Result<(), RegistryError> {
        let dup = |file: &Path, line: u64, what: &str, id: &str| RegistryError::Row {
            file: file.to_owned(),
            line,
            message: format!("duplicate {what} `{id}`: each id may appear once"),
        };
        for (line, s) in stations {
            if self.station_index.contains_key(&s.station_id) {
                return Err(dup(&paths.stations, line, "station_id", &s.station_id));
            }
            self.station_index.insert(s.station_id.clone(), self.stations.len());
            self.stations.push(Arc::new(s));
        }
        for (line, g) in grids {
            if self.grids.contains_key(&g.grid_id) {
                return Err(dup(&paths.grids, line, "grid_id", &g.grid_id));
            }
            self.grids.insert(g.grid_id.clone(), Arc::new(g));
        }
        Ok(())
    }

    /// The registered device with this id.
    pub fn device(&self, device_id: &str) -> Option<&Arc<DeviceRecord>> {
        self.devices.get(device_id)
    }

    /// The station with this id.
    pub fn station(&self, station_id: &str) -> Option<&Arc<Station>> {
        self.station_index.get(station_id).map(|&i| &self.stations[i])
    }

    /// Every station, in file order.
    pub fn stations(&self) -> &[Arc<Station>] {
        &self.stations
    }

    /// The grid with this id.
    pub fn grid(&self, grid_id: &str) -> Option<&Arc<Grid>> {
        self.grids.get(grid_id)
    }

    /// Every grid.
    pub fn grids(&self) -> impl Iterator<Item = &Arc<Grid>> {
        self.grids.values()
    }

    /// Every device, in file order.
    pub fn devices(&self) -> impl Iterator<Item = &Arc<DeviceRecord>> {
        self.devices.as_slice().iter()
    }

    /// Every device, in file order, as a slice: a reader can walk a city's devices a range at a
    /// time (the alert engine re-watches a reloaded registry in steps).
    pub fn device_list(&self) -> &[Arc<DeviceRecord>] {
        self.devices.as_slice()
    }

    /// Adds or replaces a device (registries built in code: tests, benchmarks, generators). The
    /// record gets a text table of its own: a loaded registry shares one across its devices.
    pub fn insert_device(&mut self, device: Device) {
        self.devices.insert(Arc::new(DeviceRecord::from(device)));
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }
}
