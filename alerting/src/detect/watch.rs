//! The registered devices the detector watches: one fixed-size slot per device holding its
//! registry record, its offline clock and its rule state, in one `Vec`, found by id through a
//! table of slot numbers (4 bytes a device, the id is read from the slot's record). Sized for a
//! city (issue 14): a million watched devices cost a slot each, with no `String` key, no second
//! map for the offline clock and no copy of the device's location.
//!
//! Offline detection: a device silent for its offline delay (3 × its expected interval) is
//! offline, raised once per silence. A min-heap holds one deadline per watched device with lazy
//! invalidation: a reading only updates the slot's `last_seen` (O(1), no heap work); when a
//! stale deadline comes due, the device is re-queued at its real deadline. So a poll pops only
//! devices whose deadline has passed — O(due · log n) — and never scans the fleet.
//!
//! A slot's record is swapped for the newest one whenever the device is seen or watched again,
//! and [`WatchList::detach_removed`] gives devices gone from a reloaded registry a copy of their
//! own, so an old registry is freed rather than kept alive by the slots. Slots are never
//! removed (a device taken out of the registry keeps its state, as before).

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::Arc;

use firegrid_ingest::DeviceRecord;
use hashbrown::HashTable;

use super::state::DeviceState;

/// One watched device.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The newest registry record of the device.
    pub(crate) device: Arc<DeviceRecord>,
    last_seen_ms: i64,
    after_ms: i64,
    /// A deadline for this device is in the heap.
    queued: bool,
    offline: bool,
    /// The rule state, once the device has reported (or was restored).
    pub(crate) state: Option<DeviceState>,
}

/// The watched devices (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct WatchList {
    slots: Vec<Slot>,
    index: HashTable<u32>,
    hasher: RandomState,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    offline: usize,
}

impl WatchList {
    /// The slot number of a device.
    pub(crate) fn find(&self, device_id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(device_id);
        let slots = &self.slots;
        self.index.find(hash, |&i| slots.get(i as usize).is_some_and(|s| s.device.device_id() == device_id)).copied()
    }

    /// A slot by number.
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut Slot> {
        self.slots.get_mut(i as usize)
    }

    /// Makes room for `n` more devices at once (a registry load), so the slots are not doubled.
    pub(crate) fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.slots.capacity() - self.slots.len());
        self.slots.reserve_exact(more);
    }

    /// The slot of `device`, added (queued at `now_ms + after_ms`) when new; an existing slot's
    /// record is brought up to date. Returns the slot number and whether it is new.
    fn slot(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> (u32, bool) {
        if let Some(i) = self.find(device.device_id()) {
            if let Some(s) = self.slots.get_mut(i as usize) {
                if !Arc::ptr_eq(&s.device, device) {
                    s.device = device.clone();
                }
            }
            return (i, false);
        }
        let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            device: device.clone(),
            last_seen_ms: now_ms,
            after_ms,
            queued: true,
            offline: false,
            state: None,
        });
        let (hasher, slots) = (&self.hasher, &self.slots);
        let rehash = |&j: &u32| slots.get(j as usize).map_or(0, |s| hasher.hash_one(s.device.device_id()));
        self.index.insert_unique(hasher.hash_one(device.device_id()), i, rehash);
        self.heap.push(Reverse((now_ms.saturating_add(after_ms), i)));
        (i, true)
    }

    /// Starts watching a device that has not reported, unless it is watched already (then only
    /// its record is brought up to date). Returns its slot number.
    pub(crate) fn watch(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> u32 {
        self.slot(device, now_ms, after_ms).0
    }

    /// Records a message from the device at `now_ms`; it goes offline after `after_ms` of
    /// silence. Returns the slot number and whether the device was offline and is back.
    pub(crate) fn seen(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> (u32, bool) {
        let (i, new) = self.slot(device, now_ms, after_ms);
        if new {
            return (i, false);
        }
        let Some(s) = self.slots.get_mut(i as usize) else { return (i, false) };
        s.last_seen_ms = s.last_seen_ms.max(now_ms);
        s.after_ms = after_ms;
        let back = s.offline;
        if back {
            s.offline = false;
            self.offline -= 1;
        }
        if !s.queued {
            s.queued = true;
            self.heap.push(Reverse((s.last_seen_ms.saturating_add(after_ms), i)));
        }
        (i, back)
    }

    /// The slots of the devices that went offline by `now_ms`, each once per silence.
    pub(crate) fn poll(&mut self, now_ms: i64) -> Vec<u32> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, _))) = self.heap.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((_, i))) = self.heap.pop() else { break };
            let Some(s) = self.slots.get_mut(i as usize) else { continue };
            let real = s.last_seen_ms.saturating_add(s.after_ms);
            if real > now_ms {
                self.heap.push(Reverse((real, i)));
                continue;
            }
            s.queued = false;
            if !s.offline {
                s.offline = true;
                self.offline += 1;
                due.push(i);
            }
        }
        due
    }

    /// Gives the slots whose record is not from the registry `current` came from (devices a
    /// reload removed) a copy of their own, so the old registry's text table can be freed. O(n),
    /// after a reload only.
    pub(crate) fn detach_removed(&mut self, current: &DeviceRecord) {
        for s in &mut self.slots {
            if !s.device.same_registry(current) && !s.device.stands_alone() {
                s.device = Arc::new(DeviceRecord::from(s.device.to_device()));
            }
        }
    }

    /// Devices currently offline.
    pub(crate) fn offline_count(&self) -> usize {
        self.offline
    }

    /// Deadlines queued (for tests of the cost bound).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firegrid_ingest::{Device, Kind, SiteType};

    fn device(id: &str) -> Arc<DeviceRecord> {
        Arc::new(DeviceRecord::from(Device {
            device_id: id.into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: String::new(),
            grid_id: String::new(),
            household_id: String::new(),
            address: String::new(),
            lat: None,
            lon: None,
            site_type: SiteType::Residential,
            vulnerable: false,
        }))
    }

    fn ids(w: &mut WatchList, due: Vec<u32>) -> Vec<String> {
        due.into_iter().filter_map(|i| w.get_mut(i).map(|s| s.device.device_id().to_owned())).collect()
    }

    #[test]
    fn a_silent_device_goes_offline_once_and_comes_back() {
        let (a, b) = (device("a"), device("b"));
        let mut t = WatchList::default();
        t.seen(&a, 0, 100);
        t.seen(&b, 0, 100);
        t.seen(&b, 90, 100);
        assert!(t.poll(99).is_empty());
        let due = t.poll(100);
        assert_eq!(ids(&mut t, due), ["a"]);
        assert!(t.poll(150).is_empty(), "b was seen at 90; a is raised only once");
        let due = t.poll(1000);
        assert_eq!(ids(&mut t, due), ["b"]);
        assert!(t.poll(5000).is_empty());
        assert_eq!(t.offline_count(), 2);
        assert!(t.seen(&a, 5001, 100).1);
        assert_eq!(t.offline_count(), 1);
        let due = t.poll(5101);
        assert_eq!(ids(&mut t, due), ["a"]);
    }

    #[test]
    fn readings_do_not_grow_the_heap() {
        let a = device("a");
        let mut t = WatchList::default();
        for i in 0..1000 {
            t.seen(&a, i, 10_000);
        }
        assert_eq!(t.queued(), 1);
        assert!(t.poll(10_500).is_empty());
        assert_eq!(t.queued(), 1);
    }

    #[test]
    fn watching_again_keeps_the_deadline_and_lets_the_old_record_go() {
        let old = device("a");
        let mut t = WatchList::default();
        let i = t.watch(&old, 0, 100);
        let new = device("a");
        assert_eq!(t.watch(&new, 50, 100), i);
        assert_eq!(t.find("a"), Some(i));
        assert_eq!(t.find("b"), None);
        assert_eq!(Arc::strong_count(&old), 1, "the list no longer holds the old registry's record");
        let due = t.poll(100);
        assert!(due == [i] && t.get_mut(i).is_some_and(|s| Arc::ptr_eq(&s.device, &new)));
    }

    #[test]
    fn many_devices_are_each_found_by_their_id() {
        let mut t = WatchList::default();
        let devices: Vec<_> = (0..5000).map(|n| device(&format!("sd-{n}"))).collect();
        t.reserve(devices.len());
        for d in &devices {
            t.watch(d, 0, 100);
        }
        for (n, d) in devices.iter().enumerate() {
            assert_eq!(t.find(d.device_id()), Some(n as u32));
        }
    }
}
