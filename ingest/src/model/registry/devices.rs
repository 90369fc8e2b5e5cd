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
    /// The id's hash by the index's hasher, then each interned column's by the interner's.
    hashes: [u64; 7],
    lat: Option<f64>,
    lon: Option<f64>,
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
        let (mut spans, mut hashes) = ([(0, 0); 7], [0; 7]);
        for (i, s) in Parsed::strings(d).into_iter().enumerate() {
            let start = text.len();
            text.push_str(s);
            spans[i] = (start as u32, text.len() as u32);
            hashes[i] = if i == 0 { ids.hash_one(s) } else { names.hash_one(s) };
        }
        Parsed { spans, hashes, lat: d.lat, lon: d.lon, kind: d.kind, site_type: d.site_type, vulnerable: d.vulnerable }
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
            lat: self.lat,
            lon: self.lon,
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
    let (id_hasher, name_hasher) = (devices.hasher().clone(), interner.hasher().clone());
    load::for_each_row(
        file,
        DEVICE_COLUMNS,
        |row, text| Ok(Parsed::keep(&load::device(row)?, text, &id_hasher, &name_hasher)),
        |text, _, parsed| {
            let hashes = &parsed.hashes;
            let d = parsed.text(text);
            let record = d.intern_hashed(&mut interner, &names, |col, _| hashes.get(col + 1).copied().unwrap_or(0));
            devices
                .insert_new_hashed(Arc::new(record), hashes[0])
                .map_err(|d| format!("duplicate device_id `{}`: each id may appear once", d.device_id()))
        },
    )?;
    let _ = names.set(interner.freeze());
    devices.shrink_to_fit();
    Ok(devices)
}
