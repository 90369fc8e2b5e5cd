//! The devices as a publisher needs them — id, kind, site type, county and township — and
//! nothing else, compact enough for a city: every id in one text arena, each (county,
//! township) pair once, 12 bytes of fixed state per device. Built from a [`Fleet`] or read a
//! row at a time straight from `devices.csv`, so `simulate load` over a million devices never
//! holds a million registry rows (issue 14).
//!
//! Read from the files, devices are in id order, as [`Fleet::from_registry`] orders them, so the
//! same files give the same readings for a seed whether or not the fleet was loaded whole.

use std::collections::HashMap;
use std::path::Path;

use firegrid_ingest::wire::topic::reading_topic;
use firegrid_ingest::{Kind, SiteType};

use crate::error::SimError;
use crate::fleet::model::Fleet;

/// One device's fixed part: where its id ends in the arena, its place, kind and site type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    end: u32,
    place: u32,
    kind: Kind,
    site: SiteType,
}

/// The devices of a fleet, compact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceDirectory {
    ids: String,
    entries: Vec<Entry>,
    /// (county, township) pairs, each once.
    places: Vec<(Box<str>, Box<str>)>,
}

/// A device as the directory hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    /// Device id.
    pub device_id: &'a str,
    /// Sensor kind.
    pub kind: Kind,
    /// Site type.
    pub site_type: SiteType,
    /// County code.
    pub county: &'a str,
    /// Township code.
    pub township: &'a str,
}

impl DeviceRef<'_> {
    /// Its reading topic under `prefix` (DESIGN §2).
    pub fn topic(&self, prefix: &str) -> String {
        reading_topic(prefix, self.county, self.township, self.kind, self.device_id)
    }
}

/// A device row before the directory is sorted.
struct Row<'a> {
    device_id: &'a str,
    kind: Kind,
    site_type: SiteType,
    county: &'a str,
    township: &'a str,
}

/// Builds a directory from rows in any order, then sorts it by id.
#[derive(Default)]
struct Builder {
    dir: DeviceDirectory,
    place_ids: HashMap<(Box<str>, Box<str>), u32>,
}

impl Builder {
    fn push(&mut self, r: &Row<'_>) {
        let key = (Box::<str>::from(r.county), Box::<str>::from(r.township));
        let next = self.dir.places.len() as u32;
        let place = *self.place_ids.entry(key.clone()).or_insert(next);
        if place == next {
            self.dir.places.push(key);
        }
        self.dir.ids.push_str(r.device_id);
        // A fleet whose ids pass 4 GiB of text (400 million devices) is checked by the caller.
        let end = self.dir.ids.len() as u32;
        self.dir.entries.push(Entry { end, place, kind: r.kind, site: r.site_type });
    }

    /// The directory in id order; a repeated id is an error.
    fn sorted(self) -> Result<DeviceDirectory, SimError> {
        let old = self.dir;
        let mut order: Vec<u32> = (0..old.entries.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| old.id(a as usize).cmp(old.id(b as usize)));
        let mut dir = DeviceDirectory {
            ids: String::with_capacity(old.ids.len()),
            entries: Vec::with_capacity(old.entries.len()),
            places: old.places.clone(),
        };
        for pair in order.windows(2) {
            if let [a, b] = *pair {
                if old.id(a as usize) == old.id(b as usize) {
                    let id = old.id(a as usize);
                    return Err(SimError::InvalidSpec(format!("duplicate device_id `{id}`: each id may appear once")));
                }
            }
        }
        for i in order {
            let Some(&e) = old.entries.get(i as usize) else { continue };
            dir.ids.push_str(old.id(i as usize));
            dir.entries.push(Entry { end: dir.ids.len() as u32, ..e });
        }
        Ok(dir)
    }
}

impl DeviceDirectory {
    /// The devices of `fleet`, in the fleet's order (device `i` is `fleet.devices[i]`, which is
    /// how scenarios name devices).
    pub fn of(fleet: &Fleet) -> DeviceDirectory {
        let mut b = Builder::default();
        for d in &fleet.devices {
            let row = Row {
                device_id: &d.device_id,
                kind: d.kind,
                site_type: d.site_type,
                county: &d.county,
                township: &d.township,
            };
            b.push(&row);
        }
        b.dir
    }

    /// Reads `devices.csv` (DESIGN §3) a row at a time, keeping only what a publisher needs;
    /// the columns are found by header name, and a bad kind or site type names its line.
    pub fn read(file: &Path) -> Result<DeviceDirectory, SimError> {
        let bad =
            |line: u64, message: String| SimError::InvalidSpec(format!("{} line {line}: {message}", file.display()));
        let csv_error = |e: csv::Error| match e.into_kind() {
            csv::ErrorKind::Io(source) => SimError::Io { path: file.to_owned(), source },
            other => bad(other.position().map_or(0, csv::Position::line), format!("{other:?}")),
        };
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(file).map_err(csv_error)?;
        let headers = reader.headers().map_err(csv_error)?.clone();
        let column = |name: &str| {
            headers.iter().position(|h| h.trim() == name).ok_or_else(|| bad(1, format!("no `{name}` column")))
        };
        let cols =
            [column("device_id")?, column("kind")?, column("site_type")?, column("county")?, column("township")?];
        let mut b = Builder::default();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).map_err(csv_error)? {
            let line = record.position().map_or(0, |p| p.line());
            let [id, kind, site, county, township] = cols.map(|c| record.get(c).unwrap_or("").trim());
            if id.is_empty() {
                continue;
            }
            let row = Row {
                device_id: id,
                kind: Kind::parse(kind).ok_or_else(|| bad(line, format!("unknown kind `{kind}`")))?,
                site_type: SiteType::parse(site).ok_or_else(|| bad(line, format!("unknown site_type `{site}`")))?,
                county,
                township,
            };
            b.push(&row);
        }
        if b.dir.ids.len() > u32::MAX as usize {
            return Err(bad(0, "device ids exceed 4 GiB of text".into()));
        }
        b.sorted()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no devices.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn id(&self, i: usize) -> &str {
        let end_of = |j: Option<usize>| j.and_then(|j| self.entries.get(j)).map_or(0, |e| e.end as usize);
        self.ids.get(end_of(i.checked_sub(1))..end_of(Some(i))).unwrap_or("")
    }

    /// Device `i` (in id order), if there is one.
    pub fn get(&self, i: usize) -> Option<DeviceRef<'_>> {
        let e = self.entries.get(i)?;
        let (county, township) = self.places.get(e.place as usize)?;
        Some(DeviceRef { device_id: self.id(i), kind: e.kind, site_type: e.site, county, township })
    }

    /// Every device, in id order.
    pub fn iter(&self) -> impl Iterator<Item = DeviceRef<'_>> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, paths_in, write_registry, FleetSpec};
    use firegrid_ingest::Registry;

    #[test]
    fn a_directory_read_from_the_files_lists_what_the_registry_loader_reads_in_the_same_order() {
        let fleet = generate_registry(&FleetSpec::default()).expect("fleet");
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = write_registry(&fleet, dir.path()).expect("written");
        let read = DeviceDirectory::read(&paths_in(dir.path()).devices).expect("read");
        let loaded = Fleet::from_registry(&Registry::load(&paths).expect("loads"), fleet.seed);
        assert_eq!(read.len(), loaded.devices.len());
        for (r, d) in read.iter().zip(&loaded.devices) {
            assert_eq!(
                (r.device_id, r.kind, r.site_type, r.county, r.township),
                (&*d.device_id, d.kind, d.site_type, &*d.county, &*d.township)
            );
        }
        assert_eq!(read, DeviceDirectory::of(&loaded));
        assert!(read.places.len() < read.len() / 10, "each place once: {} places", read.places.len());
    }

    #[test]
    fn a_repeated_id_or_an_unknown_kind_names_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("devices.csv");
        let head = "device_id,kind,county,township,site_type\n";
        std::fs::write(&file, format!("{head}b,smoke,500101,500101001,residential\na,smoke,500101,500101001,rental\n"))
            .expect("write");
        let d = DeviceDirectory::read(&file).expect("reads");
        assert_eq!(d.iter().map(|r| r.device_id).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.get(0).map(|r| r.topic("p")).as_deref(), Some("p/500101/500101001/smoke/a"));
        std::fs::write(&file, format!("{head}a,smoke,500101,500101001,residential\na,smoke,500101,500101001,rental\n"))
            .expect("write");
        let e = DeviceDirectory::read(&file).expect_err("duplicate");
        assert!(e.to_string().contains("duplicate device_id `a`"), "{e}");
        std::fs::write(&file, format!("{head}a,fog,500101,500101001,residential\n")).expect("write");
        let e = DeviceDirectory::read(&file).expect_err("bad kind");
        assert!(e.to_string().contains("line 2: unknown kind `fog`"), "{e}");
    }
}
