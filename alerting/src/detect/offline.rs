//! Offline detection: a device silent for its offline delay (3 × its expected interval) is
//! offline, raised once per silence. A min-heap holds one deadline per watched device with lazy
//! invalidation: a reading only updates the device's `last_seen` (O(1), no heap work); when a
//! stale deadline comes due, the device is re-queued at its real deadline. So a poll pops only
//! devices whose deadline has passed — O(due · log n) — and never scans the fleet.
//!
//! Sized for a city (issue 14): entries and deadlines are keyed by the compact [`DeviceId`] (no
//! `String` per device), and an entry keeps the device's registry record, from which the
//! offline hazard's details are read when it is raised. A record from an older registry is
//! swapped for the current one when the device is seen or watched again, so a reload's old
//! registry is freed rather than kept alive by the tracker.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use firegrid_ingest::model::device_id::DeviceId;
use firegrid_ingest::DeviceRecord;

#[derive(Debug)]
struct Entry {
    last_seen_ms: i64,
    after_ms: i64,
    /// A deadline for this device is in the heap.
    queued: bool,
    offline: bool,
    device: Arc<DeviceRecord>,
}

/// Deadlines per device; the device's record is handed back when it goes offline.
#[derive(Debug, Default)]
pub(crate) struct OfflineTracker {
    entries: HashMap<DeviceId, Entry>,
    heap: BinaryHeap<Reverse<(i64, DeviceId)>>,
    offline: usize,
}

impl OfflineTracker {
    /// Whether the device is watched.
    #[cfg(test)]
    fn contains(&self, device_id: &str) -> bool {
        self.entries.contains_key(device_id)
    }

    /// Starts watching a device that has not reported, unless it is watched already (then only
    /// its record is brought up to date).
    pub(crate) fn watch(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) {
        match self.entries.get_mut(device.device_id()) {
            Some(e) => refresh(&mut e.device, device),
            None => {
                self.seen(device, now_ms, after_ms);
            }
        }
    }

    /// Records a message from the device at `now_ms`; it goes offline after `after_ms` of
    /// silence. Returns true when it was offline and is back.
    pub(crate) fn seen(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> bool {
        if let Some(e) = self.entries.get_mut(device.device_id()) {
            e.last_seen_ms = e.last_seen_ms.max(now_ms);
            e.after_ms = after_ms;
            refresh(&mut e.device, device);
            let back = e.offline;
            if back {
                e.offline = false;
                self.offline -= 1;
            }
            if !e.queued {
                e.queued = true;
                self.heap.push(Reverse((e.last_seen_ms.saturating_add(after_ms), device.id().clone())));
            }
            return back;
        }
        let entry = Entry { last_seen_ms: now_ms, after_ms, queued: true, offline: false, device: device.clone() };
        self.entries.insert(device.id().clone(), entry);
        self.heap.push(Reverse((now_ms.saturating_add(after_ms), device.id().clone())));
        false
    }

    /// The devices that went offline by `now_ms`, each once per silence.
    pub(crate) fn poll(&mut self, now_ms: i64) -> Vec<Arc<DeviceRecord>> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, _))) = self.heap.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((_, id))) = self.heap.pop() else { break };
            let Some(e) = self.entries.get_mut(id.as_str()) else { continue };
            let real = e.last_seen_ms.saturating_add(e.after_ms);
            if real > now_ms {
                self.heap.push(Reverse((real, id)));
                continue;
            }
            e.queued = false;
            if !e.offline {
                e.offline = true;
                self.offline += 1;
                due.push(e.device.clone());
            }
        }
        due
    }

    /// Devices currently offline.
    pub(crate) fn offline_count(&self) -> usize {
        self.offline
    }

    /// Deadlines queued (for tests of the cost bound).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.heap.len()
    }
}

/// Keeps `held` pointing at the newest record of the device.
fn refresh(held: &mut Arc<DeviceRecord>, now: &Arc<DeviceRecord>) {
    if !Arc::ptr_eq(held, now) {
        *held = now.clone();
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

    fn ids(due: Vec<Arc<DeviceRecord>>) -> Vec<String> {
        due.iter().map(|d| d.device_id().to_owned()).collect()
    }

    #[test]
    fn a_silent_device_goes_offline_once_and_comes_back() {
        let (a, b) = (device("a"), device("b"));
        let mut t = OfflineTracker::default();
        t.seen(&a, 0, 100);
        t.seen(&b, 0, 100);
        t.seen(&b, 90, 100);
        assert!(t.poll(99).is_empty());
        assert_eq!(ids(t.poll(100)), ["a"]);
        assert!(t.poll(150).is_empty(), "b was seen at 90; a is raised only once");
        assert_eq!(ids(t.poll(1000)), ["b"]);
        assert!(t.poll(5000).is_empty());
        assert_eq!(t.offline_count(), 2);
        assert!(t.seen(&a, 5001, 100));
        assert_eq!(t.offline_count(), 1);
        assert_eq!(ids(t.poll(5101)), ["a"]);
    }

    #[test]
    fn readings_do_not_grow_the_heap() {
        let a = device("a");
        let mut t = OfflineTracker::default();
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
        let mut t = OfflineTracker::default();
        t.watch(&old, 0, 100);
        let new = device("a");
        t.watch(&new, 50, 100);
        assert!(t.contains("a"));
        assert_eq!(Arc::strong_count(&old), 1, "the tracker no longer holds the old registry's record");
        let due = t.poll(100);
        assert!(due.len() == 1 && Arc::ptr_eq(&due[0], &new), "deadline from the first watch, newest record");
    }
}
