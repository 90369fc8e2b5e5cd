//! A registered device as the registry holds it: 80 bytes of ids and symbols instead of eight
//! owned strings and a cached ~200-byte line-protocol prefix (issue 14: a city registry of a
//! million devices in a few hundred megabytes). The text lives once in the registry's shared
//! [`Names`] table; [`Device`] stays the plain row that code builds and the CSV writer writes.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use crate::model::device::{Device, SiteType};
use crate::model::device_id::DeviceId;
use crate::model::kind::Kind;
use crate::model::names::{Interner, Names, SeriesKey, Sym};

/// A registered device (a row of `devices.csv`, DESIGN §3), read through accessors.
#[derive(Clone)]
pub struct DeviceRecord {
    id: DeviceId,
    /// Set once the registry the record belongs to has loaded (see [`DeviceText::intern`]).
    names: Arc<OnceLock<Names>>,
    county: Sym,
    township: Sym,
    community: Sym,
    grid: Sym,
    household: Sym,
    address: Sym,
    series: Sym,
    /// NaN when unknown (a registry coordinate is finite).
    lat: f64,
    /// NaN when unknown.
    lon: f64,
    kind: Kind,
    site_type: SiteType,
    vulnerable: bool,
}

/// A device's values borrowed from wherever they are (a CSV row, a [`Device`]), to be interned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceText<'a> {
    pub(crate) device_id: &'a str,
    pub(crate) kind: Kind,
    pub(crate) county: &'a str,
    pub(crate) township: &'a str,
    pub(crate) community: &'a str,
    pub(crate) grid_id: &'a str,
    pub(crate) household_id: &'a str,
    pub(crate) address: &'a str,
    pub(crate) lat: Option<f64>,
    pub(crate) lon: Option<f64>,
    pub(crate) site_type: SiteType,
    pub(crate) vulnerable: bool,
}

impl<'a> DeviceText<'a> {
    /// The text of a plain device.
    pub(crate) fn of(d: &'a Device) -> DeviceText<'a> {
        DeviceText {
            device_id: &d.device_id,
            kind: d.kind,
            county: &d.county,
            township: &d.township,
            community: &d.community,
            grid_id: &d.grid_id,
            household_id: &d.household_id,
            address: &d.address,
            lat: d.lat,
            lon: d.lon,
            site_type: d.site_type,
            vulnerable: d.vulnerable,
        }
    }

    /// The record of these values, its text interned into `interner`; it reads its text from
    /// `names` once the table is frozen into it.
    pub(crate) fn intern(&self, interner: &mut Interner, names: &Arc<OnceLock<Names>>) -> DeviceRecord {
        let hasher = *interner.hasher();
        self.intern_hashed(interner, names, |_, s| hasher.hash_one(s))
    }

    /// [`DeviceText::intern`], with `hash(col, s)` the hash by the interner's hasher of `s`, the
    /// value of interned column `col` (county, township, community, grid, household, address): a
    /// loader gives the hashes its parsing threads computed.
    pub(crate) fn intern_hashed(
        &self,
        interner: &mut Interner,
        names: &Arc<OnceLock<Names>>,
        hash: impl Fn(usize, &str) -> u64,
    ) -> DeviceRecord {
        let mut at = |col, s| interner.intern_at_hashed(col, s, || hash(col, s));
        let (county, township, community, grid) =
            (at(0, self.county), at(1, self.township), at(2, self.community), at(3, self.grid_id));
        let (household, address) = (at(4, self.household_id), at(5, self.address));
        let series = interner.series(SeriesKey { county, township, community, grid, site_type: self.site_type });
        DeviceRecord {
            id: DeviceId::from(self.device_id),
            names: names.clone(),
            county,
            township,
            community,
            grid,
            household,
            address,
            series,
            lat: self.lat.unwrap_or(f64::NAN),
            lon: self.lon.unwrap_or(f64::NAN),
            kind: self.kind,
            site_type: self.site_type,
            vulnerable: self.vulnerable,
        }
    }
}

impl DeviceRecord {
    fn text(&self, sym: Sym) -> &str {
        self.names.get().map_or("", |n| n.get(sym))
    }

    /// Unique device id (the last topic segment).
    pub fn device_id(&self) -> &str {
        self.id.as_str()
    }

    /// The device id as a compact map key.
    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    /// Sensor kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// 6-digit county code.
    pub fn county(&self) -> &str {
        self.text(self.county)
    }

    /// 9-digit township code.
    pub fn township(&self) -> &str {
        self.text(self.township)
    }

    /// 12-digit community code; empty when the device belongs to none (a forest).
    pub fn community(&self) -> &str {
        self.text(self.community)
    }

    /// The grid (网格) the device belongs to; may be empty.
    pub fn grid_id(&self) -> &str {
        self.text(self.grid)
    }

    /// Groups the detectors of one home, shop or building unit; empty = the device alone.
    pub fn household_id(&self) -> &str {
        self.text(self.household)
    }

    /// Street address, for dispatch messages.
    pub fn address(&self) -> &str {
        self.text(self.address)
    }

    /// WGS-84 latitude, when known.
    pub fn lat(&self) -> Option<f64> {
        Some(self.lat).filter(|v| !v.is_nan())
    }

    /// WGS-84 longitude, when known.
    pub fn lon(&self) -> Option<f64> {
        Some(self.lon).filter(|v| !v.is_nan())
    }

    /// Kind of site.
    pub fn site_type(&self) -> SiteType {
        self.site_type
    }

    /// Elderly living alone, left-behind children or disabled (特殊群体).
    pub fn vulnerable(&self) -> bool {
        self.vulnerable
    }

    /// The plain row of this device (for the CSV writer and code that edits a device).
    pub fn to_device(&self) -> Device {
        Device {
            device_id: self.device_id().to_owned(),
            kind: self.kind,
            county: self.county().to_owned(),
            township: self.township().to_owned(),
            community: self.community().to_owned(),
            grid_id: self.grid_id().to_owned(),
            household_id: self.household_id().to_owned(),
            address: self.address().to_owned(),
            lat: self.lat(),
            lon: self.lon(),
            site_type: self.site_type,
            vulnerable: self.vulnerable,
        }
    }

    /// Both records read their text from the same table: they come from one registry load.
    pub fn same_registry(&self, other: &DeviceRecord) -> bool {
        Arc::ptr_eq(&self.names, &other.names)
    }

    /// No other record shares this record's text table (a record made on its own, or the last
    /// one left of its registry): detaching it frees nothing.
    pub fn stands_alone(&self) -> bool {
        Arc::strong_count(&self.names) == 1
    }

    /// The encoded tags of the device's series (county … site type), encoded by `encode` from
    /// the first device of the series that needs them and kept once per series.
    pub(crate) fn encoded_series(&self, encode: impl FnOnce(&DeviceRecord) -> String) -> &str {
        match self.names.get() {
            Some(n) => n.encoded(self.series, || encode(self)),
            None => "",
        }
    }
}

impl From<Device> for DeviceRecord {
    /// A record with its own small table (code-built registries: tests, benchmarks).
    fn from(d: Device) -> DeviceRecord {
        DeviceRecord::from(&d)
    }
}

impl From<&Device> for DeviceRecord {
    fn from(d: &Device) -> DeviceRecord {
        let mut interner = Interner::default();
        let names = Arc::new(OnceLock::new());
        let record = DeviceText::of(d).intern(&mut interner, &names);
        let _ = names.set(interner.freeze());
        record
    }
}

impl PartialEq for DeviceRecord {
    fn eq(&self, other: &DeviceRecord) -> bool {
        self.to_device() == other.to_device()
    }
}

impl PartialEq<Device> for DeviceRecord {
    fn eq(&self, other: &Device) -> bool {
        self.to_device() == *other
    }
}

impl fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_device(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_the_device_it_was_made_from() {
        let d = Device {
            device_id: "sd-1".into(),
            kind: Kind::Electrical,
            county: "500112".into(),
            township: "500112002".into(),
            community: String::new(),
            grid_id: "g 1".into(),
            household_id: "hh-1".into(),
            address: "五星路 3 栋".into(),
            lat: Some(29.7),
            lon: Some(106.6),
            site_type: SiteType::Factory,
            vulnerable: true,
        };
        let r = DeviceRecord::from(&d);
        assert_eq!(r.to_device(), d);
        assert_eq!(r, d);
        let none = DeviceRecord::from(Device { lat: None, lon: None, ..d.clone() });
        assert_eq!((none.lat(), none.lon()), (None, None));
        assert!(std::mem::size_of::<DeviceRecord>() <= 80, "{}", std::mem::size_of::<DeviceRecord>());
    }
}
