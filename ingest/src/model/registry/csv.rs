//! The one writer of the registry files (DESIGN §3), for everything that makes a registry
//! rather than reads one: the simulator's fleets, the tests' fixtures, the demo. The header is
//! the column list the loader requires, each row comes from a typed value, and the output is
//! byte-for-byte deterministic (fixed column order, coordinates with six decimals, `\n` line
//! ends), so what is written is exactly what [`Registry::load`](super::Registry::load) reads
//! back.

use std::path::{Path, PathBuf};

use super::{RegistryPaths, DEVICE_COLUMNS, GRID_COLUMNS, STATION_COLUMNS};
use crate::model::device::Device;
use crate::model::grid::Grid;
use crate::model::station::Station;

/// A registry file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvWriteError {
    /// The CSV encoder failed (it does not for in-memory output; kept rather than unwrapped).
    #[error("{file}: cannot encode CSV: {source}")]
    Csv {
        /// Which file was being encoded.
        file: &'static str,
        /// The encoder's error.
        source: csv::Error,
    },
    /// The file or its directory could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The text of `devices.csv` for these devices, in the given order.
pub fn devices<'a>(devices: impl IntoIterator<Item = &'a Device>) -> Result<Vec<u8>, CsvWriteError> {
    let mut w = Table::new("devices.csv", DEVICE_COLUMNS)?;
    for d in devices {
        w.row([
            d.device_id.as_str(),
            d.kind.as_str(),
            &d.county,
            &d.township,
            &d.community,
            &d.grid_id,
            &d.household_id,
            &d.address,
            &opt_coord(d.lat),
            &opt_coord(d.lon),
            d.site_type.as_str(),
            flag(d.vulnerable),
        ])?;
    }
    w.finish()
}

/// The text of `stations.csv` for these stations, in the given order.
pub fn stations<'a>(stations: impl IntoIterator<Item = &'a Station>) -> Result<Vec<u8>, CsvWriteError> {
    let mut w = Table::new("stations.csv", STATION_COLUMNS)?;
    for s in stations {
        w.row([
            s.station_id.as_str(),
            &s.name,
            s.tier.as_str(),
            &s.county,
            &s.township,
            &s.community,
            &coord(s.lat),
            &coord(s.lon),
            &s.covers.join(";"),
            flag(s.available),
            s.webhook_url.as_deref().unwrap_or(""),
        ])?;
    }
    w.finish()
}

/// The text of `grids.csv` for these grids, in the given order.
pub fn grids<'a>(grids: impl IntoIterator<Item = &'a Grid>) -> Result<Vec<u8>, CsvWriteError> {
    let mut w = Table::new("grids.csv", GRID_COLUMNS)?;
    for g in grids {
        w.row([g.grid_id.as_str(), &g.community, &g.manager, &g.phone, g.webhook_url.as_deref().unwrap_or("")])?;
    }
    w.finish()
}

/// Writes the three files under their usual names into `dir` (created if missing) and returns
/// their paths.
pub fn write(
    dir: &Path,
    devices: &[Device],
    stations: &[Station],
    grids: &[Grid],
) -> Result<RegistryPaths, CsvWriteError> {
    std::fs::create_dir_all(dir).map_err(|source| CsvWriteError::Io { path: dir.to_owned(), source })?;
    let paths = RegistryPaths::in_dir(dir);
    for (path, body) in [
        (&paths.devices, self::devices(devices)?),
        (&paths.stations, self::stations(stations)?),
        (&paths.grids, self::grids(grids)?),
    ] {
        std::fs::write(path, body).map_err(|source| CsvWriteError::Io { path: path.clone(), source })?;
    }
    Ok(paths)
}

/// One file being encoded.
struct Table {
    file: &'static str,
    w: csv::Writer<Vec<u8>>,
}

impl Table {
    fn new(file: &'static str, columns: &[&str]) -> Result<Table, CsvWriteError> {
        let w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
        let mut t = Table { file, w };
        t.row(columns)?;
        Ok(t)
    }

    fn row<I: IntoIterator<Item = T>, T: AsRef<[u8]>>(&mut self, fields: I) -> Result<(), CsvWriteError> {
        self.w.write_record(fields).map_err(|source| CsvWriteError::Csv { file: self.file, source })
    }

    fn finish(self) -> Result<Vec<u8>, CsvWriteError> {
        let file = self.file;
        self.w.into_inner().map_err(|e| CsvWriteError::Csv { file, source: e.into_error().into() })
    }
}

fn coord(v: f64) -> String {
    format!("{v:.6}")
}

fn opt_coord(v: Option<f64>) -> String {
    v.map(coord).unwrap_or_default()
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::device::SiteType;
    use crate::model::kind::Kind;
    use crate::model::registry::Registry;
    use crate::model::station::Tier;

    fn device(id: &str, address: &str, lat: Option<f64>) -> Device {
        Device {
            device_id: id.into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002001".into(),
            grid_id: "500112002001-g1".into(),
            household_id: "hh-502".into(),
            address: address.into(),
            lat,
            lon: lat.map(|_| 106.631),
            site_type: SiteType::ElderlyCare,
            vulnerable: true,
        }
    }

    fn station(id: &str, tier: Tier, covers: Vec<String>, webhook_url: Option<String>) -> Station {
        Station {
            station_id: id.into(),
            name: "五星路社区微型消防站".into(),
            tier,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002001".into(),
            lat: 29.7205,
            lon: 106.6302,
            covers,
            available: false,
            webhook_url,
        }
    }

    #[test]
    fn written_files_load_back_into_the_same_typed_values() {
        let devices = vec![device("sd-1", "3 栋 2 单元 502 室, \"东\"门", Some(29.721)), device("sd-2", "", None)];
        let stations = vec![
            station("ms-1", Tier::Micro, vec!["500112002001".into()], Some("https://x.invalid/ms".into())),
            station("tt-1", Tier::TownshipTeam, vec!["500112002".into(), "500112003".into()], None),
        ];
        let grids = vec![Grid {
            grid_id: "500112002001-g1".into(),
            community: "500112002001".into(),
            manager: "王芳".into(),
            phone: "13800000001".into(),
            webhook_url: None,
        }];
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = write(&dir.path().join("registry"), &devices, &stations, &grids).expect("writes");
        let reg = Registry::load(&paths).expect("what is written loads");
        for d in &devices {
            assert_eq!(reg.device(&d.device_id).map(|r| r.to_device()).as_ref(), Some(d));
        }
        assert_eq!(reg.stations().iter().map(|s| (**s).clone()).collect::<Vec<_>>(), stations);
        assert_eq!(reg.grid("500112002001-g1").map(|g| &**g), grids.first());
    }

    #[test]
    fn the_header_is_the_column_list_and_the_text_is_deterministic() {
        let d = [device("sd-1", "五星路", Some(29.7))];
        let text = String::from_utf8(devices(&d).expect("encodes")).expect("utf8");
        assert_eq!(
            text,
            format!(
                "{}\nsd-1,smoke,500112,500112002,500112002001,500112002001-g1,hh-502,五星路,29.700000,106.631000,elderly_care,true\n",
                DEVICE_COLUMNS.join(",")
            )
        );
        assert_eq!(devices(&d).expect("encodes"), devices(&d).expect("encodes"));
        let empty = String::from_utf8(grids(&[]).expect("encodes")).expect("utf8");
        assert_eq!(empty, format!("{}\n", GRID_COLUMNS.join(",")));
    }
}
