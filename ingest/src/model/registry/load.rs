//! Reading the registry files: a CSV row at a time, columns found by header name, every value
//! checked, and every error naming the file, the line and what to fix.

use std::path::Path;

use super::parallel::{self, Record};
use super::RegistryError;
use crate::model::codes::{is_county_code, is_township_code, is_valid_device_id};
use crate::model::device::SiteType;
use crate::model::grid::Grid;
use crate::model::kind::Kind;
use crate::model::record::DeviceText;
use crate::model::station::{Station, Tier};

/// One CSV row, with its columns resolved by header name.
pub(super) struct Row<'a> {
    record: &'a Record<'a>,
    index: &'a [usize],
}

impl<'a> Row<'a> {
    fn get(&self, col: usize) -> &'a str {
        trim(self.index.get(col).map_or("", |&i| self.record.field(i)))
    }
}

/// `value` without leading and trailing whitespace, as [`str::trim`], which it calls only when
/// an end is not plainly printable ASCII: a city's twelve million fields almost never need it,
/// and the full trim was a tenth of the load's critical path (issue 14).
fn trim(value: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    let bytes = value.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        value
    } else {
        value.trim()
    }
}

/// Every non-blank row of `file` with its line number, parsed by `parse`; the header must name
/// every one of `columns` (in any order, others ignored).
pub(super) fn rows<T: Send>(
    file: &Path,
    columns: &'static [&'static str],
    parse: fn(&Row<'_>) -> Result<T, String>,
) -> Result<Vec<(u64, T)>, RegistryError> {
    let mut rows = Vec::new();
    for_each_row(
        file,
        columns,
        |row, _| parse(row),
        |_, line, value| {
            rows.push((line, value));
            Ok(())
        },
    )?;
    Ok(rows)
}

/// An estimate of the rows of `file` from its size and the length of its first lines (a little
/// above: the loader sizes its tables from it, and gives back what it did not use).
pub(super) fn estimate_rows(file: &Path) -> usize {
    use std::io::Read;
    let mut sample = Vec::with_capacity(1 << 16);
    let read = std::fs::File::open(file).and_then(|f| f.take(1 << 16).read_to_end(&mut sample));
    let lines = memchr::memchr_iter(b'\n', &sample).count();
    if read.is_err() || lines == 0 {
        return 0;
    }
    let per_line = sample.len() / lines;
    let rows = file_len(file) / per_line.max(1);
    rows.saturating_add(rows / 16).saturating_add(64)
}

/// The size of `file` in bytes (0 when unknown: it is only a sizing hint).
pub(super) fn file_len(file: &Path) -> usize {
    std::fs::metadata(file).map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
}

/// Reads every non-blank row of `file` (see [`parallel`]): each is checked and turned into a
/// value by `parse` on a worker thread, with a text buffer the value may keep its strings in,
/// then given to `take` on this thread in file order, with that buffer and the row's line. The
/// header must name every one of `columns` (in any order, others ignored). An error `parse` or
/// `take` returns names the row's line; the first error by line is the one returned.
pub(super) fn for_each_row<T: Send>(
    file: &Path,
    columns: &'static [&'static str],
    parse: impl Fn(&Row<'_>, &mut String) -> Result<T, String> + Sync,
    take: impl FnMut(&str, u64, T) -> Result<(), String>,
) -> Result<(), RegistryError> {
    let (headers, start) = parallel::header(file)?;
    let mut index = Vec::with_capacity(columns.len());
    for column in columns {
        let i = headers.iter().position(|h| h.trim().trim_start_matches('\u{feff}') == *column).ok_or_else(|| {
            RegistryError::MissingColumn { file: file.to_owned(), column, expected: columns.join(",") }
        })?;
        index.push(i);
    }
    let index = &index;
    let parse = |record: &Record<'_>, text: &mut String| parse(&Row { record, index }, text);
    parallel::Rows { file, start, parse, take }.run()
}

fn code(value: &str, column: &str, digits: usize, parent: Option<&str>) -> Result<String, String> {
    code_str(value, column, digits, parent).map(str::to_owned)
}

/// `value` when it is a `digits`-digit division code lying in `parent`.
fn code_str<'a>(value: &'a str, column: &str, digits: usize, parent: Option<&str>) -> Result<&'a str, String> {
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{column} `{value}` must be a {digits}-digit division code"));
    }
    if let Some(p) = parent {
        if !p.is_empty() && !value.starts_with(p) {
            return Err(format!("{column} `{value}` does not lie in `{p}`"));
        }
    }
    Ok(value)
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

pub(super) fn device<'a>(r: &Row<'a>) -> Result<DeviceText<'a>, String> {
    let device_id = r.get(0);
    if !is_valid_device_id(device_id) {
        return Err(format!("device_id `{device_id}` must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    }
    let kind =
        Kind::parse(r.get(1)).ok_or_else(|| format!("kind `{}` must be smoke, electrical or forest_ir", r.get(1)))?;
    let county = code_str(r.get(2), "county", 6, None)?;
    debug_assert!(is_county_code(county));
    let township = code_str(r.get(3), "township", 9, Some(county))?;
    debug_assert!(is_township_code(township));
    let community = if r.get(4).is_empty() { "" } else { code_str(r.get(4), "community", 12, Some(township))? };
    let lat = coord(r.get(8), "lat", 90.0)?;
    let lon = coord(r.get(9), "lon", 180.0)?;
    if lat.is_some() != lon.is_some() {
        return Err("lat and lon must be given together or both left empty".into());
    }
    let site_type = SiteType::parse(r.get(10)).ok_or_else(|| {
        let all: Vec<_> = SiteType::ALL.iter().map(|t| t.as_str()).collect();
        format!("site_type `{}` must be one of {}", r.get(10), all.join(", "))
    })?;
    Ok(DeviceText {
        device_id,
        kind,
        county,
        township,
        community,
        grid_id: r.get(5),
        household_id: r.get(6),
        address: r.get(7),
        lat,
        lon,
        site_type,
        vulnerable: boolean(r.get(11), "vulnerable", false)?,
    })
}

pub(super) fn station(r: &Row<'_>) -> Result<Station, String> {
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

pub(super) fn grid(r: &Row<'_>) -> Result<Grid, String> {
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
    use super::super::{Registry, RegistryPaths};
    use super::trim;
    use std::io::Write;
    use std::path::PathBuf;

    struct Files {
        _dir: tempfile::TempDir,
        paths: RegistryPaths,
    }

    fn files(devices: &str, stations: &str, grids: &str) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = RegistryPaths::in_dir(dir.path());
        for (p, body) in [(&paths.devices, devices), (&paths.stations, stations), (&paths.grids, grids)] {
            let mut f = std::fs::File::create(p).expect("create");
            f.write_all(body.as_bytes()).expect("write");
        }
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
        assert!(d.vulnerable());
        assert_eq!(d.address(), "五星路 3栋,502");
        assert!(crate::lineproto::series::device_prefix(d).starts_with("smoke,device_id=sd-1,county=500112,"));
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
    fn past_the_first_block_the_first_bad_row_by_line_is_named_whichever_thread_found_it() {
        const ROWS: usize = 3000; // blocks of 4 KiB in tests: about 45 blocks
        let row = |n: usize| format!("sd-{n},smoke,500112,500112002,,,,,,,residential,\n");
        let body = |bad_id: Option<usize>, short: Option<usize>| {
            let mut text = DH.to_owned();
            for n in 0..ROWS {
                text.push_str(&match (bad_id == Some(n), short == Some(n)) {
                    (true, _) => format!("bad id {n},smoke,500112,500112002,,,,,,,residential,\n"),
                    (_, true) => "sd-x,smoke\n".to_owned(),
                    _ => row(n),
                });
            }
            text
        };
        let err = |devices: String| Registry::load(&files(&devices, SH, GH).paths).expect_err("fails").to_string();
        let late = ROWS / 2 + 500;
        assert!(err(body(None, Some(late))).contains(&format!("devices.csv:{}: 2 fields", late + 2)));
        let e = err(body(Some(late - 10), Some(late)));
        assert!(e.contains(&format!("devices.csv:{}: device_id `bad id", late - 8)), "{e}");
        let all = Registry::load(&files(&body(None, None), SH, GH).paths).expect("loads");
        assert_eq!(all.device_count(), ROWS);
        assert_eq!(all.device_list().last().map(|d| d.device_id().to_owned()), Some(format!("sd-{}", ROWS - 1)));
    }

    #[test]
    fn a_field_is_trimmed_of_any_whitespace_at_either_end_and_only_there() {
        for (field, trimmed) in [
            ("sd-1", "sd-1"),
            ("", ""),
            (" ", ""),
            (" sd-1\t", "sd-1"),
            ("a b", "a b"),
            ("\u{3000}渝北区 1 栋\u{3000}", "渝北区 1 栋"),
            ("渝北区", "渝北区"),
            ("x\u{a0}", "x"),
            ("\r\nx", "x"),
        ] {
            assert_eq!(trim(field), trimmed, "{field:?}");
            assert_eq!(trim(field), field.trim(), "{field:?} as str::trim");
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
}
