//! Loading `devices.csv` into the index of compact records (issue 14: a million devices ready
//! within a second or so). The rows are parsed, checked and hashed on the parsing threads (see
//! [`super::parallel`]); this thread only interns their text and adds them to the index, in file
//! order, with the hashes already made, so a duplicate id is reported at its later line as in one
//! pass.

use std::hash::BuildHasher;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::index::DeviceIndex;
use super::load;
use super::{RegistryError, DEVICE_COLUMNS};
use crate::model::device::SiteType;
use crate::model::kind::Kind;
use crate::model::names::Interner;
use crate::model::record::DeviceText;

/// A checked row, its strings kept in its block's text buffer: device id, then the interned
/// columns (county, township, community, grid, household, address).
struct Parsed {
    spans: [(u32, u32); 7],
    /// The id's hash by the index's hasher, then the household's and the address's by the
    /// interner's (the other columns mostly repeat the previous row's: compared, not hashed).
    hashes: [u64; 3],
    /// NaN when unknown (kept small: a block's rows cross from core to core).
    lat: f64,
    lon: f64,
    kind: Kind,
    site_type: SiteType,
    vulnerable: bool,
}

impl Parsed {
    fn strings<'t>(d: &DeviceText<'t>) -> [&'t str; 7] {
        [d.device_id, d.county, d.township, d.community, d.grid_id, d.household_id, d.address]
    }

    /// Keeps `d`'s strings in `text` and hashes them.
    fn keep(d: &DeviceText<'_>, text: &mut String, ids: &impl BuildHasher, names: &impl BuildHasher) -> Parsed {
        let mut spans = [(0, 0); 7];
        for (span, s) in spans.iter_mut().zip(Parsed::strings(d)) {
            let start = text.len();
            text.push_str(s);
            *span = (start as u32, text.len() as u32);
        }
        let hashes = [ids.hash_one(d.device_id), names.hash_one(d.household_id), names.hash_one(d.address)];
        let (lat, lon) = (d.lat.unwrap_or(f64::NAN), d.lon.unwrap_or(f64::NAN));
        Parsed { spans, hashes, lat, lon, kind: d.kind, site_type: d.site_type, vulnerable: d.vulnerable }
    }

    /// The row again, its strings read from its block's `text`.
    fn text<'t>(&self, text: &'t str) -> DeviceText<'t> {
        let s = |i: usize| self.spans.get(i).and_then(|&(a, b)| text.get(a as usize..b as usize)).unwrap_or("");
        DeviceText {
            device_id: s(0),
            kind: self.kind,
            county: s(1),
            township: s(2),
            community: s(3),
            grid_id: s(4),
            household_id: s(5),
            address: s(6),
            lat: Some(self.lat).filter(|v| !v.is_nan()),
            lon: Some(self.lon).filter(|v| !v.is_nan()),
            site_type: self.site_type,
            vulnerable: self.vulnerable,
        }
    }
}

/// Reads `file` straight into compact records, their text interned into one table: a load never
/// holds a million owned rows. The tables are sized from an estimate of the rows, so none of
/// them rehashes while it fills, and trimmed after.
pub(super) fn load(file: &Path) -> Result<DeviceIndex, RegistryError> {
    let rows = load::estimate_rows(file);
    let mut interner = Interner::with_capacity(rows, load::file_len(file));
    let mut devices = DeviceIndex::with_capacity(rows);
    let names = Arc::new(OnceLock::new());
    let (id_hasher, name_hasher) = (*devices.hasher(), *interner.hasher());
    load::for_each_row(
        file,
        DEVICE_COLUMNS,
        |row, text| Ok(Parsed::keep(&load::device(row)?, text, &id_hasher, &name_hasher)),
        |text, _, parsed| {
            let [id, household, address] = parsed.hashes;
            let d = parsed.text(text);
            let hash = |col, s: &str| match col {
                4 => household,
                5 => address,
                _ => name_hasher.hash_one(s),
            };
            let record = d.intern_hashed(&mut interner, &names, hash);
            devices
                .insert_new_hashed(Arc::new(record), id)
                .map_err(|d| format!("duplicate device_id `{}`: each id may appear once", d.device_id()))
        },
    )?;
    let _ = names.set(interner.freeze());
    devices.shrink_to_fit();
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::super::{csv, Registry, RegistryPaths};
    use crate::model::device::{Device, SiteType};
    use crate::model::kind::Kind;
    use proptest::prelude::*;

    fn device(n: usize, address: String) -> Device {
        Device {
            device_id: format!("sd-{n}"),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: if n % 3 == 0 { String::new() } else { format!("500112002{:03}", n % 7) },
            grid_id: format!("g-{}", n / 5),
            household_id: format!("hh-{}", n / 2),
            address,
            lat: (n % 4 != 0).then_some(29.5 + n as f64 / 1e4),
            lon: (n % 4 != 0).then_some(106.5),
            site_type: if n % 5 == 0 { SiteType::School } else { SiteType::Residential },
            vulnerable: n % 2 == 0,
        }
    }

    /// The devices file of `devices` and the line each row starts on.
    fn text(devices: &[Device]) -> (String, Vec<u64>) {
        let mut text = String::from_utf8(csv::devices([]).expect("encodes")).expect("utf8");
        let mut lines = Vec::new();
        for d in devices {
            lines.push(1 + text.matches('\n').count() as u64);
            let row = String::from_utf8(csv::devices([d]).expect("encodes")).expect("utf8");
            text.push_str(row.split_once('\n').map_or("", |(_, row)| row));
        }
        (text, lines)
    }

    fn load(text: &str) -> Result<Registry, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = RegistryPaths::in_dir(dir.path());
        std::fs::write(&paths.devices, text).expect("write");
        std::fs::write(&paths.stations, csv::stations([]).expect("encodes")).expect("write");
        std::fs::write(&paths.grids, csv::grids([]).expect("encodes")).expect("write");
        Registry::load(&paths).map_err(|e| e.to_string())
    }

    #[test]
    fn a_duplicate_id_blocks_after_the_first_is_named_at_its_own_line() {
        let mut devices: Vec<Device> = (0..3000).map(|n| device(n, format!("五星路 {n} 栋"))).collect();
        devices[2900].device_id = "sd-10".into();
        let (text, lines) = text(&devices);
        assert!(text.len() > 20 * 4096, "the rows span many blocks");
        let err = load(&text).expect_err("a duplicate fails the load");
        assert!(
            err.ends_with(&format!(
                "devices.csv:{}: duplicate device_id `sd-10`: each id may appear once",
                lines[2900]
            )),
            "{err}"
        );
    }

    fn address() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("渝北"), Just(","), Just("\""), Just("\n"), Just(" ")],
            0..12,
        )
        .prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// A registry is read in blocks of 4 KiB in tests: loaded, it holds exactly the rows written,
        /// in file order, and a bad row anywhere is named by the line it starts on.
        #[test]
        fn a_registry_read_in_blocks_is_exactly_the_file_read_in_one_pass(
            addresses in proptest::collection::vec(address(), 1..400),
            bad in any::<prop::sample::Index>(),
            dup in any::<prop::sample::Index>(),
        ) {
            let devices: Vec<Device> = addresses.into_iter().enumerate().map(|(n, a)| device(n, a)).collect();
            let (good, lines) = text(&devices);
            let reg = load(&good).expect("loads");
            let want: Vec<Device> =
                devices.iter().map(|d| Device { address: d.address.trim().to_owned(), ..d.clone() }).collect();
            let got: Vec<Device> = reg.devices().map(|d| d.to_device()).collect();
            prop_assert_eq!(got, want);

            let (k, j) = (bad.index(devices.len()), dup.index(devices.len()));
            let mut wrong = devices.clone();
            wrong[k].device_id = "bad id".into();
            let err = load(&text(&wrong).0).expect_err("fails");
            prop_assert!(err.contains(&format!("devices.csv:{}: device_id `bad id`", lines[k])), "{}", err);
            if j < k {
                let mut twice = devices.clone();
                twice[k].device_id = devices[j].device_id.clone();
                let err = load(&text(&twice).0).expect_err("fails");
                prop_assert!(err.contains(&format!("devices.csv:{}: duplicate device_id", lines[k])), "{}", err);
            }
        }
    }
}
