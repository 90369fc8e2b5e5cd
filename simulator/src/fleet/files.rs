//! Writing a fleet as the three registry files of DESIGN §3 (`devices.csv`, `stations.csv`,
//! `grids.csv`) with ingest's one registry writer: byte-for-byte deterministic, and exactly what
//! the loader reads back.

use std::path::Path;

use firegrid_ingest::model::registry::csv;
use firegrid_ingest::RegistryPaths;

use crate::error::SimError;
use crate::fleet::model::Fleet;

/// The three files under `dir`.
pub fn paths_in(dir: &Path) -> RegistryPaths {
    RegistryPaths::in_dir(dir)
}

/// Writes the three files into `dir` (created if missing) and returns their paths.
pub fn write_registry(fleet: &Fleet, dir: &Path) -> Result<RegistryPaths, SimError> {
    Ok(csv::write(dir, &fleet.devices, &fleet.stations, &fleet.grids)?)
}
