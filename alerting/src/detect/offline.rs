//! Offline detection: a device silent for its offline delay (3 × its expected interval) is
//! offline, raised once per silence. A min-heap holds one deadline per watched device with lazy
//! invalidation: a reading only updates the device's `last_seen` (O(1), no heap work); when a
//! stale deadline comes due, the device is re-queued at its real deadline. So a poll pops only
//! devices whose deadline has passed — O(due · log n) — and never scans the fleet.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

#[derive(Debug)]
struct Entry<T> {
    last_seen_ms: i64,
    after_ms: i64,
    /// A deadline for this device is in the heap.
    queued: bool,
    offline: bool,
    data: T,
}

/// Deadlines per device, with a payload `T` handed back when the device goes offline.
#[derive(Debug)]
pub(crate) struct OfflineTracker<T> {
    entries: HashMap<String, Entry<T>>,
    heap: BinaryHeap<Reverse<(i64, String)>>,
    offline: usize,
}

impl<T: Clone> Default for OfflineTracker<T> {
    fn default() -> Self {
        OfflineTracker::new()
    }
}

impl<T: Clone> OfflineTracker<T> {
    /// An empty tracker.
    pub(crate) fn new() -> OfflineTracker<T> {
        OfflineTracker { entries: HashMap::new(), heap: BinaryHeap::new(), offline: 0 }
    }

    /// Whether the device is watched.
    pub(crate) fn contains(&self, device_id: &str) -> bool {
        self.entries.contains_key(device_id)
    }

    /// Records a message from the device at `now_ms`; it goes offline after `after_ms` of silence.
    /// `data` is called only when the device is new or back. Returns true when it was offline and is back.
    pub(crate) fn seen(&mut self, device_id: &str, now_ms: i64, after_ms: i64, data: impl FnOnce() -> T) -> bool {
        if let Some(e) = self.entries.get_mut(device_id) {
            e.last_seen_ms = e.last_seen_ms.max(now_ms);
            e.after_ms = after_ms;
            let back = e.offline;
            if back {
                e.offline = false;
                self.offline -= 1;
                e.data = data();
            }
            if !e.queued {
                e.queued = true;
                self.heap.push(Reverse((e.last_seen_ms.saturating_add(after_ms), device_id.to_owned())));
            }
            return back;
        }
        self.entries.insert(
            device_id.to_owned(),
            Entry { last_seen_ms: now_ms, after_ms, queued: true, offline: false, data: data() },
        );
        self.heap.push(Reverse((now_ms.saturating_add(after_ms), device_id.to_owned())));
        false
    }

    /// The devices that went offline by `now_ms`, each once per silence.
    pub(crate) fn poll(&mut self, now_ms: i64) -> Vec<T> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, _))) = self.heap.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((_, id))) = self.heap.pop() else { break };
            let Some(e) = self.entries.get_mut(&id) else { continue };
            let real = e.last_seen_ms.saturating_add(e.after_ms);
            if real > now_ms {
                self.heap.push(Reverse((real, id)));
                continue;
            }
            e.queued = false;
            if !e.offline {
                e.offline = true;
                self.offline += 1;
                due.push(e.data.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_device_goes_offline_once_and_comes_back() {
        let mut t = OfflineTracker::new();
        t.seen("a", 0, 100, || "a");
        t.seen("b", 0, 100, || "b");
        t.seen("b", 90, 100, || "b");
        assert!(t.poll(99).is_empty());
        assert_eq!(t.poll(100), vec!["a"]);
        assert!(t.poll(150).is_empty(), "b was seen at 90; a is raised only once");
        assert_eq!(t.poll(1000), vec!["b"]);
        assert!(t.poll(5000).is_empty());
        assert_eq!(t.offline_count(), 2);
        assert!(t.seen("a", 5001, 100, || "a"));
        assert_eq!(t.offline_count(), 1);
        assert_eq!(t.poll(5101), vec!["a"]);
    }

    #[test]
    fn readings_do_not_grow_the_heap() {
        let mut t = OfflineTracker::new();
        for i in 0..1000 {
            t.seen("a", i, 10_000, || ());
        }
        assert_eq!(t.queued(), 1);
        assert!(t.poll(10_500).is_empty());
        assert_eq!(t.queued(), 1);
    }
}
