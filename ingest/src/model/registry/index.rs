//! The registry's devices, found by id: the records in file order in one `Vec`, and a table of
//! their positions hashed by id, so the id is stored once (in the record) and a lookup by `&str`
//! costs one probe. The order lets a reader walk the devices in steps (the alert engine
//! re-watches a reloaded city a slice at a time, issue 14), and a load sized from the file's line
//! count never rehashes. The hasher is foldhash, seeded per process: the table is filled from the
//! operator's file only, and looked up with ids from the network (lookups cannot degrade it).

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::model::record::DeviceRecord;

/// Devices by id (see the module doc).
#[derive(Debug, Default)]
pub(super) struct DeviceIndex {
    devices: Vec<Arc<DeviceRecord>>,
    by_id: HashTable<u32>,
    hasher: RandomState,
}

impl DeviceIndex {
    /// An empty index with room for `n` devices.
    pub(super) fn with_capacity(n: usize) -> DeviceIndex {
        DeviceIndex {
            devices: Vec::with_capacity(n),
            by_id: HashTable::with_capacity(n),
            hasher: RandomState::default(),
        }
    }

    /// The device with this id.
    pub(super) fn get(&self, device_id: &str) -> Option<&Arc<DeviceRecord>> {
        let hash = self.hasher.hash_one(device_id);
        let i = *self.by_id.find(hash, |&i| self.id_at(i) == device_id)?;
        self.devices.get(i as usize)
    }

    fn id_at(&self, i: u32) -> &str {
        self.devices.get(i as usize).map_or("", |d| d.device_id())
    }

    /// Adds a device, replacing one with the same id (which keeps its place in the order).
    pub(super) fn insert(&mut self, device: Arc<DeviceRecord>) {
        if let Err(device) = self.insert_new(device) {
            let hash = self.hasher.hash_one(device.device_id());
            if let Some(&i) = self.by_id.find(hash, |&i| self.id_at(i) == device.device_id()) {
                if let Some(slot) = self.devices.get_mut(i as usize) {
                    *slot = device;
                }
            }
        }
    }

    /// The hasher ids are found by: a loader hashes ids with it on the threads that parse them.
    pub(super) fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// Adds a device whose id is not in the index yet (one probe); gives it back when it is.
    pub(super) fn insert_new(&mut self, device: Arc<DeviceRecord>) -> Result<(), Arc<DeviceRecord>> {
        let hash = self.hasher.hash_one(device.device_id());
        self.insert_new_hashed(device, hash)
    }

    /// [`DeviceIndex::insert_new`] for a device whose id hashes to `hash` by
    /// [`DeviceIndex::hasher`].
    pub(super) fn insert_new_hashed(&mut self, device: Arc<DeviceRecord>, hash: u64) -> Result<(), Arc<DeviceRecord>> {
        let (devices, hasher) = (&self.devices, &self.hasher);
        let id_at = |i: u32| devices.get(i as usize).map_or("", |d| d.device_id());
        let entry = self.by_id.entry(hash, |&i| id_at(i) == device.device_id(), |&i| hasher.hash_one(id_at(i)));
        match entry {
            Entry::Occupied(_) => Err(device),
            Entry::Vacant(v) => {
                let Ok(i) = u32::try_from(devices.len()) else { return Err(device) };
                v.insert(i);
                self.devices.push(device);
                Ok(())
            }
        }
    }

    /// Every device, in the order they were added.
    pub(super) fn as_slice(&self) -> &[Arc<DeviceRecord>] {
        &self.devices
    }

    /// Number of devices.
    pub(super) fn len(&self) -> usize {
        self.devices.len()
    }

    /// Gives back the room a load reserved beyond what it needed (only when that is worth a
    /// rehash: a quarter or more of the table).
    pub(super) fn shrink_to_fit(&mut self) {
        self.devices.shrink_to_fit();
        if self.by_id.capacity() / 4 > self.by_id.len() / 3 {
            let (devices, hasher) = (&self.devices, &self.hasher);
            self.by_id.shrink_to_fit(|&i| hasher.hash_one(devices.get(i as usize).map_or("", |d| d.device_id())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::device::{Device, SiteType};
    use crate::model::kind::Kind;

    fn record(id: &str, address: &str) -> Arc<DeviceRecord> {
        Arc::new(DeviceRecord::from(Device {
            device_id: id.into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: String::new(),
            grid_id: String::new(),
            household_id: String::new(),
            address: address.into(),
            lat: None,
            lon: None,
            site_type: SiteType::Residential,
            vulnerable: false,
        }))
    }

    #[test]
    fn devices_are_found_by_id_kept_in_order_and_a_duplicate_id_is_refused_or_replaced() {
        let mut index = DeviceIndex::with_capacity(2);
        for n in 0..5000 {
            assert!(index.insert_new(record(&format!("sd-{n}"), "")).is_ok());
        }
        assert!(index.insert_new(record("sd-7", "again")).is_err(), "one probe finds the duplicate");
        assert_eq!(index.len(), 5000);
        assert!((0..5000).all(|n| index.get(&format!("sd-{n}")).is_some_and(|d| d.device_id() == format!("sd-{n}"))));
        assert!(index.get("sd-5000").is_none());
        assert_eq!(index.as_slice()[42].device_id(), "sd-42", "file order");
        index.insert(record("sd-7", "replaced"));
        assert_eq!((index.len(), index.as_slice()[7].address()), (5000, "replaced"));
        index.shrink_to_fit();
        assert_eq!(index.get("sd-4999").map(|d| d.device_id()), Some("sd-4999"));
    }
}
