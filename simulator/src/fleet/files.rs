//! Writing a fleet as the three registry files of DESIGN §3 (`devices.csv`, `stations.csv`,
//! `grids.csv`), byte-for-byte deterministic: fixed column order, fixed number formatting.

use std::path::{Path, PathBuf};

use firegrid_ingest::registry::{RegistryPaths, DEVICE_COLUMNS, GRID_COLUMNS, STATION_COLUMNS};

use crate::error::SimError;
use crate::fleet::model::Fleet;

/// The three files under `dir`.
pub fn paths_in(dir: &Path) -> RegistryPaths {
    RegistryPaths { devices: dir.join("devices.csv"), stations: dir.join("stations.csv"), grids: dir.join("grids.csv") }
}

/// The `devices.csv` text.
pub(crate) fn devices_csv(fleet: &Fleet) -> Result<Vec<u8>, SimError> {
    let mut w = writer();
    w.write_record(DEVICE_COLUMNS).map_err(csv_err("devices.csv"))?;
    for d in &fleet.devices {
        w.write_record([
            d.device_id.as_str(),
            d.kind.as_str(),
            &d.county,
            &d.township,
            &d.community,
            &d.grid_id,
            &d.household_id,
            &d.address,
            &format!("{:.6}", d.lat),
            &format!("{:.6}", d.lon),
            d.site_type.as_str(),
            if d.vulnerable { "true" } else { "false" },
        ])
        .map_err(csv_err("devices.csv"))?;
    }
    finish(w, "devices.csv")
}

/// The `stations.csv` text.
pub(crate) fn stations_csv(fleet: &Fleet) -> Result<Vec<u8>, SimError> {
    let mut w = writer();
    w.write_record(STATION_COLUMNS).map_err(csv_err("stations.csv"))?;
    for s in &fleet.stations {
        w.write_record([
            s.station_id.as_str(),
            &s.name,
            s.tier.as_str(),
            &s.county,
            &s.township,
            &s.community,
            &format!("{:.6}", s.lat),
            &format!("{:.6}", s.lon),
            &s.covers.join(";"),
            if s.available { "true" } else { "false" },
            "",
        ])
        .map_err(csv_err("stations.csv"))?;
    }
    finish(w, "stations.csv")
}

/// The `grids.csv` text.
pub(crate) fn grids_csv(fleet: &Fleet) -> Result<Vec<u8>, SimError> {
    let mut w = writer();
    w.write_record(GRID_COLUMNS).map_err(csv_err("grids.csv"))?;
    for g in &fleet.grids {
        w.write_record([g.grid_id.as_str(), &g.community, &g.manager, &g.phone, ""]).map_err(csv_err("grids.csv"))?;
    }
    finish(w, "grids.csv")
}

/// Writes the three files into `dir` (created if missing) and returns their paths.
pub fn write_registry(fleet: &Fleet, dir: &Path) -> Result<RegistryPaths, SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Io { path: dir.to_owned(), source })?;
    let paths = paths_in(dir);
    for (path, body) in [
        (&paths.devices, devices_csv(fleet)?),
        (&paths.stations, stations_csv(fleet)?),
        (&paths.grids, grids_csv(fleet)?),
    ] {
        std::fs::write(path, body).map_err(|source| SimError::Io { path: path.clone(), source })?;
    }
    Ok(paths)
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new())
}

fn csv_err(file: &'static str) -> impl Fn(csv::Error) -> SimError {
    move |source| SimError::Csv { path: PathBuf::from(file), source }
}

fn finish(w: csv::Writer<Vec<u8>>, file: &'static str) -> Result<Vec<u8>, SimError> {
    w.into_inner().map_err(|e| SimError::Csv { path: PathBuf::from(file), source: e.into_error().into() })
}
