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
//! One wave is the exception: every device watched at start-up (or at a reload) is queued at the
//! same moment, so one offline delay later the whole fleet's stale deadlines come due together
//! — at a million devices, a single 212 ms tick on the engine's task, which acknowledges
//! readings (issue 14). A poll therefore re-queues at most [`REQUEUE_BUDGET`] stale deadlines
//! and raises at most [`DUE_BUDGET`] devices (each costs the engine 25–75 µs of incident work), and
//! leaves the rest to the next tick: a wave, or a district going silent at once, is spread over
//! a few seconds of ticks, and a device is raised at most that late.
//!
//! A slot's record is swapped for the newest one whenever the device is seen or watched again,
//! and [`WatchList::detach_removed`] gives devices gone from a reloaded registry a copy of their
//! own, so an old registry is freed rather than kept alive by the slots. Slots are never
//! removed (a device taken out of the registry keeps its state, as before).
//!
//! A slot is 64 bytes (record pointer, last seen, offline delay in `u32` ms — 49 days at most —,
//! two flags and the 40-byte rule state). The first registry load skips the per-device lookup
//! (the list is empty, the registry's ids are unique) and hashes each id once; the ids are hashed
//! with foldhash (seeded per process: the slots are made from the operator's registry only, and
//! lookups of ids from the network cannot degrade the table). Offline devices
//! are also counted per township (county and township codes, a bounded set) for the
//! `firegrid_township_devices_offline` gauge.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::BuildHasher;
use std::sync::Arc;

use firegrid_ingest::DeviceRecord;
use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::state::DeviceState;

/// Stale deadlines one poll re-queues at most: a re-queue in a million-entry heap measured
/// ~0.9 µs (65,536 of them took 57 ms on a loaded machine), so this is ~30 ms of heap work and
/// the start-up wave of a city takes ~31 ticks instead of one tick of 212 ms.
pub(crate) const REQUEUE_BUDGET: usize = 32_768;
/// Devices one poll raises at most: each costs the engine 25–75 µs (its offline incident; 2,048
/// in one tick took 154 ms on a machine at load 7), so a tick stays well under 100 ms however
/// many went silent together.
pub(crate) const DUE_BUDGET: usize = 1024;

/// One watched device.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The newest registry record of the device.
    pub(crate) device: Arc<DeviceRecord>,
    last_seen_ms: i64,
    /// The rule state, once the device has reported (or was restored).
    pub(crate) state: Option<DeviceState>,
    after_ms: u32,
    /// A deadline for this device is in the heap.
    queued: bool,
    offline: bool,
}

/// Offline devices per `(county, township)` code, with a flag set when a count changed.
#[derive(Debug, Default)]
pub(crate) struct OfflineByTownship {
    counts: BTreeMap<(Box<str>, Box<str>), u32>,
    changed: bool,
}

impl OfflineByTownship {
    fn add(&mut self, d: &DeviceRecord) {
        let key = (Box::from(d.county()), Box::from(d.township()));
        *self.counts.entry(key).or_default() += 1;
        self.changed = true;
    }

    fn remove(&mut self, d: &DeviceRecord) {
        let key = (Box::from(d.county()), Box::from(d.township()));
        if let Some(n) = self.counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            self.changed = true;
        }
    }

    /// The counts, `((county, township), offline)`, if any changed since the last call. A
    /// township that had an offline device stays listed (at 0) once its devices are back.
    pub(crate) fn take_changed(&mut self) -> Option<impl Iterator<Item = (&str, &str, u32)>> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(self.counts.iter().map(|((c, t), &n)| (&**c, &**t, n)))
    }
}

/// The watched devices (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct WatchList {
    slots: Vec<Slot>,
    index: HashTable<u32>,
    hasher: RandomState,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    offline: usize,
    by_township: OfflineByTownship,
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

    /// Makes room for `n` more devices at once (a registry load), so the slots, their index and
    /// the deadlines are not doubled as they fill.
    pub(crate) fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.slots.capacity() - self.slots.len());
        self.slots.reserve_exact(more);
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index.reserve(n, |&j: &u32| slots.get(j as usize).map_or(0, |s| hasher.hash_one(s.device.device_id())));
        self.heap.reserve(n);
    }

    /// The slot of `device`, added (queued at `now_ms + after_ms`) when new; an existing slot's
    /// record is brought up to date. Returns the slot number and whether it is new.
    fn slot(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> (u32, bool) {
        let hash = self.hasher.hash_one(device.device_id());
        let slots = &self.slots;
        let found = self.index.find(hash, |&i| slots.get(i as usize).is_some_and(|s| s.device.id() == device.id()));
        if let Some(&i) = found {
            if let Some(s) = self.slots.get_mut(i as usize) {
                if !Arc::ptr_eq(&s.device, device) {
                    if s.offline {
                        self.by_township.remove(&s.device);
                        self.by_township.add(device);
                    }
                    s.device = device.clone();
                }
            }
            return (i, false);
        }
        (self.add(hash, device, now_ms, after_ms), true)
    }

    /// Adds a slot for a device not watched yet, whose id hashes to `hash`.
    fn add(&mut self, hash: u64, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> u32 {
        let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let after_ms = u32::try_from(after_ms.max(0)).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            device: device.clone(),
            last_seen_ms: now_ms,
            state: None,
            after_ms,
            queued: true,
            offline: false,
        });
        let (hasher, slots) = (&self.hasher, &self.slots);
        let rehash = |&j: &u32| slots.get(j as usize).map_or(0, |s| hasher.hash_one(s.device.device_id()));
        self.index.insert_unique(hash, i, rehash);
        self.heap.push(Reverse((now_ms.saturating_add(i64::from(after_ms)), i)));
        i
    }

    /// Starts watching a device that has not reported, unless it is watched already (then only
    /// its record is brought up to date). Returns its slot number.
    pub(crate) fn watch(&mut self, device: &Arc<DeviceRecord>, now_ms: i64, after_ms: i64) -> u32 {
        self.slot(device, now_ms, after_ms).0
    }

    /// Starts watching devices none of which is watched yet and whose ids are unique (the first
    /// registry load): no lookup, one hash per device, the index sized once.
    #[cfg(test)]
    pub(crate) fn watch_new<'a>(
        &mut self,
        (devices, n): (impl Iterator<Item = &'a Arc<DeviceRecord>>, usize),
        now_ms: i64,
        after_ms: impl Fn(&DeviceRecord) -> i64,
    ) {
        self.reserve(n);
        for d in devices {
            let hash = self.hasher.hash_one(d.device_id());
            self.add(hash, d, now_ms, after_ms(d));
        }
    }

    /// Whether no device is watched.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
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
        s.after_ms = u32::try_from(after_ms.max(0)).unwrap_or(u32::MAX);
        let back = s.offline;
        if back {
            s.offline = false;
            self.offline -= 1;
            self.by_township.remove(&s.device);
        }
        if !s.queued {
            s.queued = true;
            self.heap.push(Reverse((s.last_seen_ms.saturating_add(i64::from(s.after_ms)), i)));
        }
        (i, back)
    }

    /// The slots of the devices that went offline by `now_ms`, each once per silence: at most
    /// [`DUE_BUDGET`] of them, and at most [`REQUEUE_BUDGET`] stale deadlines re-queued on the
    /// way (see the module doc); the rest come with the next polls.
    pub(crate) fn poll(&mut self, now_ms: i64) -> Vec<u32> {
        self.poll_within(now_ms, REQUEUE_BUDGET, DUE_BUDGET)
    }

    /// [`Self::poll`] with its budgets: once either is spent, what is left due waits for the
    /// next poll.
    fn poll_within(&mut self, now_ms: i64, requeue_budget: usize, due_budget: usize) -> Vec<u32> {
        let (mut due, mut requeued) = (Vec::new(), 0);
        while let Some(Reverse((deadline, _))) = self.heap.peek() {
            if *deadline > now_ms || requeued >= requeue_budget || due.len() >= due_budget {
                break;
            }
            let Some(Reverse((_, i))) = self.heap.pop() else { break };
            let Some(s) = self.slots.get_mut(i as usize) else { continue };
            let real = s.last_seen_ms.saturating_add(i64::from(s.after_ms));
            if real > now_ms {
                self.heap.push(Reverse((real, i)));
                requeued += 1;
                continue;
            }
            s.queued = false;
            if !s.offline {
                s.offline = true;
                self.offline += 1;
                self.by_township.add(&s.device);
                due.push(i);
            }
        }
        due
    }

    /// Gives the slots from `from` on (at most `budget` of them) whose record is not from the
    /// registry `current` came from (devices a reload removed) a copy of their own, so the old
    /// registry's text table can be freed. Returns the slot to go on from; done at [`Self::len`].
    /// O(n) over all the steps, after a reload only.
    pub(crate) fn detach_removed(&mut self, current: &DeviceRecord, from: usize, budget: usize) -> usize {
        let end = from.saturating_add(budget).min(self.slots.len());
        for s in self.slots.get_mut(from..end).unwrap_or_default() {
            if !s.device.same_registry(current) && !s.device.stands_alone() {
                s.device = Arc::new(DeviceRecord::from(s.device.to_device()));
            }
        }
        end
    }

    /// Number of watched devices.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Devices currently offline.
    pub(crate) fn offline_count(&self) -> usize {
        self.offline
    }

    /// Devices currently offline per township (see [`OfflineByTownship`]).
    pub(crate) fn offline_by_township(&mut self) -> &mut OfflineByTownship {
        &mut self.by_township
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
        device_in(id, "500112002")
    }

    fn device_in(id: &str, township: &str) -> Arc<DeviceRecord> {
        Arc::new(DeviceRecord::from(Device {
            device_id: id.into(),
            kind: Kind::Smoke,
            county: township[..6].into(),
            township: township.into(),
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
    fn a_wave_of_stale_deadlines_is_re_queued_a_budget_per_poll_and_a_silent_device_still_comes_due() {
        // Ten devices watched at 0 with a delay of 100: nine heard at 50 (their deadlines at 100
        // are stale), the last one silent — behind the nine in the heap's order.
        let mut t = WatchList::default();
        let devices: Vec<_> = (0..10).map(|i| device(&format!("d{i}"))).collect();
        for d in &devices {
            t.watch(d, 0, 100);
        }
        for d in &devices[..9] {
            t.seen(d, 50, 100);
        }
        assert!(t.poll_within(100, 4, 100).is_empty(), "four stale deadlines re-queued, the budget is spent");
        assert!(t.poll_within(101, 4, 100).is_empty(), "four more");
        let due = t.poll_within(102, 4, 100);
        assert_eq!(ids(&mut t, due), ["d9"], "the last stale one, then the silent device");
        assert_eq!(t.queued(), 9, "the nine heard devices are queued at their real deadlines");
        assert!(t.poll_within(149, 4, 100).is_empty());
        // All nine go silent together: raised four, four, then one per poll.
        let sizes: Vec<usize> = (150..153).map(|now| t.poll_within(now, 100, 4).len()).collect();
        assert_eq!(sizes, [4, 4, 1]);
        assert_eq!(t.offline_count(), 10, "every device raised once");
        assert!(t.poll(10_000).is_empty());
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

    fn townships(t: &mut WatchList) -> Option<Vec<(String, String, u32)>> {
        let changed = t.offline_by_township().take_changed()?;
        Some(changed.map(|(c, t, n)| (c.to_owned(), t.to_owned(), n)).collect())
    }

    #[test]
    fn offline_devices_are_counted_per_township_and_a_return_takes_them_off() {
        let (a, b, c) = (device_in("a", "500112002"), device_in("b", "500112002"), device_in("c", "500238101"));
        let mut t = WatchList::default();
        t.watch_new(([&a, &b, &c].into_iter(), 3), 0, |_| 100);
        assert_eq!(townships(&mut t), None, "nothing offline yet");
        t.seen(&c, 50, 100);
        assert_eq!(t.poll(100).len(), 2);
        let row = |c: &str, t: &str, n| (c.to_owned(), t.to_owned(), n);
        assert_eq!(townships(&mut t), Some(vec![row("500112", "500112002", 2)]));
        assert_eq!(townships(&mut t), None, "reported once per change");
        assert_eq!(t.poll(150).len(), 1);
        t.seen(&a, 160, 100);
        assert_eq!(
            townships(&mut t),
            Some(vec![row("500112", "500112002", 1), row("500238", "500238101", 1)]),
            "a is back, c went silent"
        );
        let moved = device_in("b", "500238101");
        t.watch(&moved, 170, 100);
        assert_eq!(
            townships(&mut t),
            Some(vec![row("500112", "500112002", 0), row("500238", "500238101", 2)]),
            "a reload moved offline b to c's township"
        );
    }

    #[test]
    fn a_first_load_watches_every_device_once_by_its_own_delay() {
        let devices: Vec<_> = (0..1000).map(|n| device(&format!("sd-{n}"))).collect();
        let mut t = WatchList::default();
        t.watch_new((devices.iter(), devices.len()), 0, |d| if d.device_id().ends_with('7') { 50 } else { 100 });
        assert_eq!(t.queued(), 1000);
        assert!(devices.iter().enumerate().all(|(n, d)| t.find(d.device_id()) == Some(n as u32)));
        assert_eq!(t.poll(50).len(), 100, "the ids ending in 7");
        assert_eq!(t.poll(100).len(), 900);
        assert_eq!(t.watch(&devices[3], 200, 100), 3, "watching again finds the slot");
    }

    #[test]
    fn a_slot_is_small_enough_for_a_city() {
        assert!(std::mem::size_of::<Slot>() <= 64, "{} bytes", std::mem::size_of::<Slot>());
    }
}
