//! The device, station and grid registry (DESIGN §3): three CSV files loaded into hash maps
//! for O(1) lookup per reading. A malformed row fails the whole load with `file:line: what is
//! wrong`, so a bad edit never half-applies; the running registry stays in place until a load
//! succeeds (see [`SharedRegistry`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::line_protocol;
use crate::reading::Kind;
use crate::topic::{is_county_code, is_township_code, is_valid_device_id};

/// A registry file that could not be loaded; the message names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The header lacks a required column.
    #[error("{}:1: missing column `{column}` (the header must name: {expected})", file.display())]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The missing column.
        column: &'static str,
        /// All required columns.
        expected: String,
    },
    /// A row is malformed.
    #[error("{}:{line}: {message}", file.display())]
    Row {
        /// The file.
        file: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

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
    /// Pre-encoded line-protocol measurement and tags (see [`line_protocol::device_prefix`]).
    pub line_prefix: String,
}

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

/// A grid (网格) and its manager.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Unique grid id.
    pub grid_id: String,
    /// Community code the grid lies in.
    pub community: String,
    /// Grid manager's name.
    pub manager: String,
    /// Grid manager's phone.
    pub phone: String,
    /// Webhook for notifications, when the grid has one.
    pub webhook_url: Option<String>,
}

/// Paths of the three registry files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPaths {
    /// devices.csv
    pub devices: PathBuf,
    /// stations.csv
    pub stations: PathBuf,
    /// grids.csv
    pub grids: PathBuf,
}

/// The loaded registry.
#[derive(Debug, Default)]
pub struct Registry {
    devices: HashMap<String, Arc<Device>>,
    stations: Vec<Arc<Station>>,
    station_index: HashMap<String, usize>,
    grids: HashMap<String, Arc<Grid>>,
}

impl Registry {
    /// Loads and validates the three files.
    pub fn load(paths: &RegistryPaths) -> Result<Registry, RegistryError> {
        let devices = load_rows(&paths.devices, DEVICE_COLUMNS, parse_device)?;
        let stations = load_rows(&paths.stations, STATION_COLUMNS, parse_station)?;
        let grids = load_rows(&paths.grids, GRID_COLUMNS, parse_grid)?;
        Registry::from_parts(paths, devices, stations, grids)
    }

    /// Builds a registry from rows (with their line numbers), checking uniqueness.
    fn from_parts(
        paths: &RegistryPaths,
        devices: Vec<(u64, Device)>,
        stations: Vec<(u64, Station)>,
        grids: Vec<(u64, Grid)>,
    ) -> Result<Registry, RegistryError> {
        let dup = |file: &Path, line: u64, what: &str, id: &str| RegistryError::Row {
            file: file.to_owned(),
            line,
            message: format!("duplicate {what} `{id}`: each id may appear once"),
        };
        let mut reg = Registry::default();
        for (line, d) in devices {
            if reg.devices.contains_key(&d.device_id) {
                return Err(dup(&paths.devices, line, "device_id", &d.device_id));
            }
            reg.devices.insert(d.device_id.clone(), Arc::new(d));
        }
        for (line, s) in stations {
            if reg.station_index.contains_key(&s.station_id) {
                return Err(dup(&paths.stations, line, "station_id", &s.station_id));
            }
            reg.station_index.insert(s.station_id.clone(), reg.stations.len());
            reg.stations.push(Arc::new(s));
        }
        for (line, g) in grids {
            if reg.grids.contains_key(&g.grid_id) {
                return Err(dup(&paths.grids, line, "grid_id", &g.grid_id));
            }
            reg.grids.insert(g.grid_id.clone(), Arc::new(g));
        }
        Ok(reg)
    }

    /// The registered device with this id.
    pub fn device(&self, device_id: &str) -> Option<&Arc<Device>> {
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

    /// Every device.
    pub fn devices(&self) -> impl Iterator<Item = &Arc<Device>> {
        self.devices.values()
    }

    /// Adds or replaces a device (registries built in code: tests, benchmarks, generators).
    pub fn insert_device(&mut self, device: Device) {
        self.devices.insert(device.device_id.clone(), Arc::new(device));
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }
}

/// The registry as the running service holds it: readers take a cheap snapshot per batch;
/// a reload swaps in a new registry atomically, so in-flight readings keep the snapshot they
/// were enriched with and nothing waits on a lock.
#[derive(Debug, Clone)]
pub struct SharedRegistry {
    paths: RegistryPaths,
    current: Arc<ArcSwap<Registry>>,
}

impl SharedRegistry {
    /// Loads the registry for the first time.
    pub fn load(paths: RegistryPaths) -> Result<SharedRegistry, RegistryError> {
        let reg = Registry::load(&paths)?;
        Ok(SharedRegistry { paths, current: Arc::new(ArcSwap::from_pointee(reg)) })
    }

    /// Wraps an already-built registry (tests, embedded use).
    pub fn from_registry(paths: RegistryPaths, reg: Registry) -> SharedRegistry {
        SharedRegistry { paths, current: Arc::new(ArcSwap::from_pointee(reg)) }
    }

    /// The current registry.
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Reloads from the files; on error the current registry stays in force.
    pub fn reload(&self) -> Result<Arc<Registry>, RegistryError> {
        let reg = Arc::new(Registry::load(&self.paths)?);
        self.current.store(reg.clone());
        Ok(reg)
    }
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

/// One CSV row, with its columns resolved by header name.
struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a [usize],
}

impl Row<'_> {
    fn get(&self, col: usize) -> &str {
        self.record.get(self.index[col]).unwrap_or("").trim()
    }
}

fn load_rows<T>(
    file: &Path,
    columns: &'static [&'static str],
    parse: fn(&Row<'_>) -> Result<T, String>,
) -> Result<Vec<(u64, T)>, RegistryError> {
    let io = |source| RegistryError::Io { file: file.to_owned(), source };
    let f = std::fs::File::open(file).map_err(io)?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::new(f));
    let row_err = |line: u64, message: String| RegistryError::Row { file: file.to_owned(), line, message };
    let headers = rdr.headers().map_err(|e| row_err(1, format!("cannot read the header: {e}")))?.clone();
    let mut index = Vec::with_capacity(columns.len());
    for column in columns {
        let i = headers.iter().position(|h| h.trim().trim_start_matches('\u{feff}') == *column).ok_or_else(|| {
            RegistryError::MissingColumn { file: file.to_owned(), column, expected: columns.join(",") }
        })?;
        index.push(i);
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(row_err(line, format!("not valid CSV: {e}")));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        if record.len() < headers.len() {
            return Err(row_err(line, format!("{} fields, the header has {}", record.len(), headers.len())));
        }
        let row = Row { record: &record, index: &index };
        rows.push((line, parse(&row).map_err(|m| row_err(line, m))?));
    }
    Ok(rows)
}

fn code(value: &str, column: &str, digits: usize, parent: Option<&str>) -> Result<String, String> {
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{column} `{value}` must be a {digits}-digit division code"));
    }
    if let Some(p) = parent {
        if !p.is_empty() && !value.starts_with(p) {
            return Err(format!("{column} `{value}` does not lie in `{p}`"));
        }
    }
    Ok(value.to_owned())
}

fn opt_code(value: &str, column: &str, digits: usize, parent: &str) -> Result<String, String> {
    if value.is_empty() {
        Ok(String::new())
    } else {
        code(value, column, digits, Some(parent))
    }
}

fn coord(value: &str, column: &str, limit: f64) -> Result<Option<f64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(Some(v)),
        _ => Err(format!("{column} `{value}` must be a number between -{limit} and {limit}")),
    }
}

fn boolean(value: &str, column: &str, default: bool) -> Result<bool, String> {
    match value {
        "" => Ok(default),
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{column} `{value}` must be true or false")),
    }
}

fn url(value: &str, column: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(Some(value.to_owned()))
    } else {
        Err(format!("{column} `{value}` must be an http:// or https:// URL"))
    }
}

fn parse_device(r: &Row<'_>) -> Result<Device, String> {
    let device_id = r.get(0);
    if !is_valid_device_id(device_id) {
        return Err(format!("device_id `{device_id}` must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    }
    let kind =
        Kind::parse(r.get(1)).ok_or_else(|| format!("kind `{}` must be smoke, electrical or forest_ir", r.get(1)))?;
    let county = code(r.get(2), "county", 6, None)?;
    debug_assert!(is_county_code(&county));
    let township = code(r.get(3), "township", 9, Some(&county))?;
    debug_assert!(is_township_code(&township));
    let community = opt_code(r.get(4), "community", 12, &township)?;
    let lat = coord(r.get(8), "lat", 90.0)?;
    let lon = coord(r.get(9), "lon", 180.0)?;
    if lat.is_some() != lon.is_some() {
        return Err("lat and lon must be given together or both left empty".into());
    }
    let site_type = SiteType::parse(r.get(10)).ok_or_else(|| {
        let all: Vec<_> = SiteType::ALL.iter().map(|t| t.as_str()).collect();
        format!("site_type `{}` must be one of {}", r.get(10), all.join(", "))
    })?;
    let vulnerable = boolean(r.get(11), "vulnerable", false)?;
    let grid_id = r.get(5).to_owned();
    let line_prefix =
        line_protocol::device_prefix(kind, device_id, &county, &township, &community, &grid_id, site_type.as_str());
    Ok(Device {
        device_id: device_id.to_owned(),
        kind,
        county,
        township,
        community,
        grid_id,
        household_id: r.get(6).to_owned(),
        address: r.get(7).to_owned(),
        lat,
        lon,
        site_type,
        vulnerable,
        line_prefix,
    })
}

fn parse_station(r: &Row<'_>) -> Result<Station, String> {
    let station_id = r.get(0);
    if station_id.is_empty() {
        return Err("station_id is empty".into());
    }
    let tier = Tier::parse(r.get(2)).ok_or_else(|| {
        format!("tier `{}` must be micro, township_team, volunteer, district or forest_team", r.get(2))
    })?;
    let county = code(r.get(3), "county", 6, None)?;
    let township = opt_code(r.get(4), "township", 9, &county)?;
    let community = opt_code(r.get(5), "community", 12, &township)?;
    let lat = coord(r.get(6), "lat", 90.0)?.ok_or("lat is required for a station (nearest-station routing)")?;
    let lon = coord(r.get(7), "lon", 180.0)?.ok_or("lon is required for a station (nearest-station routing)")?;
    let mut covers = Vec::new();
    for c in r.get(8).split(';').map(str::trim).filter(|c| !c.is_empty()) {
        if !matches!(c.len(), 6 | 9 | 12) || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("covers entry `{c}` must be a 6, 9 or 12-digit division code"));
        }
        covers.push(c.to_owned());
    }
    if covers.is_empty() {
        let own = match tier {
            Tier::Micro | Tier::Volunteer => &community,
            Tier::TownshipTeam | Tier::ForestTeam => &township,
            Tier::District => &county,
        };
        let own = if own.is_empty() { &county } else { own };
        covers.push(own.clone());
    }
    Ok(Station {
        station_id: station_id.to_owned(),
        name: r.get(1).to_owned(),
        tier,
        county,
        township,
        community,
        lat,
        lon,
        covers,
        available: boolean(r.get(9), "available", true)?,
        webhook_url: url(r.get(10), "webhook_url")?,
    })
}

fn parse_grid(r: &Row<'_>) -> Result<Grid, String> {
    let grid_id = r.get(0);
    if grid_id.is_empty() {
        return Err("grid_id is empty".into());
    }
    Ok(Grid {
        grid_id: grid_id.to_owned(),
        community: opt_code(r.get(1), "community", 12, "")?,
        manager: r.get(2).to_owned(),
        phone: r.get(3).to_owned(),
        webhook_url: url(r.get(4), "webhook_url")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Files {
        _dir: tempfile::TempDir,
        paths: RegistryPaths,
    }

    fn files(devices: &str, stations: &str, grids: &str) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, body: &str| {
            let p = dir.path().join(name);
            let mut f = std::fs::File::create(&p).expect("create");
            f.write_all(body.as_bytes()).expect("write");
            p
        };
        let paths = RegistryPaths {
            devices: write("devices.csv", devices),
            stations: write("stations.csv", stations),
            grids: write("grids.csv", grids),
        };
        Files { _dir: dir, paths }
    }

    const DH: &str =
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n";
    const SH: &str = "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n";
    const GH: &str = "grid_id,community,manager,phone,webhook_url\n";

    #[test]
    fn a_valid_registry_loads_with_defaults_filled_in() {
        let f = files(
            &format!("{DH}sd-1,smoke,500112,500112002,500112002003,g1,h1,\"五星路 3栋,502\",29.7,106.6,residential,true\n"),
            &format!("{SH}m1,五星路微站,micro,500112,500112002,500112002003,29.7,106.6,,,\nd1,渝北站,district,500112,,,29.7,106.6,,false,https://x.invalid/h\n"),
            &format!("{GH}g1,500112002003,张三,13800000000,\n"),
        );
        let reg = Registry::load(&f.paths).expect("loads");
        let d = reg.device("sd-1").expect("device");
        assert!(d.vulnerable);
        assert_eq!(d.address, "五星路 3栋,502");
        assert!(d.line_prefix.starts_with("smoke,device_id=sd-1,county=500112,"));
        assert_eq!(reg.station("m1").expect("m1").covers, vec!["500112002003"]);
        let d1 = reg.station("d1").expect("d1");
        assert_eq!(d1.covers, vec!["500112"]);
        assert!(!d1.available);
        assert_eq!(reg.grid("g1").expect("g1").manager, "张三");
    }

    #[test]
    fn a_bad_row_names_the_file_line_and_what_to_fix() {
        let cases = [
            (format!("{DH}sd-1,smoke,500112,500112002,,,,,,,residential,\nsd 2,smoke,500112,500112002,,,,,,,residential,\n"), 3, "device_id `sd 2`"),
            (format!("{DH}sd-1,gas,500112,500112002,,,,,,,residential,\n"), 2, "kind `gas`"),
            (format!("{DH}sd-1,smoke,500112,500113002,,,,,,,residential,\n"), 2, "does not lie in `500112`"),
            (format!("{DH}sd-1,smoke,500112,500112002,,,,,91,1,residential,\n"), 2, "lat `91`"),
            (format!("{DH}sd-1,smoke,500112,500112002,,,,,,,house,\n"), 2, "site_type `house`"),
            (format!("{DH}sd-1,smoke,500112,500112002,,,,,,,residential,maybe\n"), 2, "vulnerable `maybe`"),
            (format!("{DH}sd-1,smoke,500112,500112002,,,,,,,residential,\nsd-1,smoke,500112,500112002,,,,,,,residential,\n"), 3, "duplicate device_id `sd-1`"),
            (format!("{DH}sd-1,smoke,500112\n"), 2, "3 fields"),
        ];
        for (devices, line, needle) in cases {
            let f = files(&devices, SH, GH);
            let err = Registry::load(&f.paths).expect_err("must fail").to_string();
            let want = format!("devices.csv:{line}: ");
            assert!(err.contains(&want) && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_missing_column_or_file_is_named() {
        let f = files("device_id,kind\n", SH, GH);
        let err = Registry::load(&f.paths).expect_err("fails").to_string();
        assert!(err.contains("devices.csv:1: missing column `county`"), "{err}");
        let mut paths = f.paths.clone();
        paths.grids = PathBuf::from("/nonexistent/grids.csv");
        let f2 = files(DH, SH, GH);
        paths.devices = f2.paths.devices.clone();
        let err = Registry::load(&paths).expect_err("fails").to_string();
        assert!(err.starts_with("/nonexistent/grids.csv: cannot read"), "{err}");
    }

    #[test]
    fn a_failed_reload_keeps_the_previous_registry() {
        let f = files(&format!("{DH}sd-1,smoke,500112,500112002,,,,,,,residential,\n"), SH, GH);
        let shared = SharedRegistry::load(f.paths.clone()).expect("loads");
        std::fs::write(&f.paths.devices, format!("{DH}bad id,smoke,500112,500112002,,,,,,,residential,\n"))
            .expect("write");
        assert!(shared.reload().is_err());
        assert!(shared.snapshot().device("sd-1").is_some());
        std::fs::write(&f.paths.devices, format!("{DH}sd-2,smoke,500112,500112002,,,,,,,residential,\n"))
            .expect("write");
        shared.reload().expect("reloads");
        assert!(shared.snapshot().device("sd-2").is_some());
        assert!(shared.snapshot().device("sd-1").is_none());
    }
}
