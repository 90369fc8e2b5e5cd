//! A bounded map for per-device state keyed by ids an attacker can choose (unregistered devices):
//! two generations of at most `capacity / 2` entries each. Entries live in the young generation;
//! when it is full it becomes the old one and the previous old generation is dropped, so the map
//! never holds more than `capacity` entries and an entry seen within the last `capacity / 2`
//! insertions is never dropped. An old entry that is touched moves back to the young generation.
//! O(1) amortised per access, no per-access bookkeeping besides the hash lookups.

use std::collections::HashMap;

/// The bounded map (see the module doc).
#[derive(Debug)]
pub(crate) struct Generations<V> {
    young: HashMap<String, V>,
    old: HashMap<String, V>,
    per_generation: usize,
}

impl<V> Generations<V> {
    /// A map holding at most `capacity` entries (at least 2).
    pub(crate) fn new(capacity: usize) -> Generations<V> {
        Generations { young: HashMap::new(), old: HashMap::new(), per_generation: (capacity / 2).max(1) }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Takes `k` out.
    pub(crate) fn remove(&mut self, k: &str) -> Option<V> {
        self.young.remove(k).or_else(|| self.old.remove(k))
    }

    /// The entry of `k`, made with `make` when absent, as the most recently used; entries dropped
    /// to make room are appended to `evicted`.
    pub(crate) fn touch(
        &mut self,
        k: &str,
        make: impl FnOnce() -> V,
        evicted: &mut Vec<(String, V)>,
    ) -> Option<&mut V> {
        if !self.young.contains_key(k) {
            let v = self.old.remove(k).unwrap_or_else(make);
            self.insert(k.to_owned(), v, evicted);
        }
        self.young.get_mut(k)
    }

    /// Inserts `v` as the most recently used entry of `k`.
    pub(crate) fn insert(&mut self, k: String, v: V, evicted: &mut Vec<(String, V)>) {
        if self.young.len() >= self.per_generation {
            let young = std::mem::take(&mut self.young);
            evicted.extend(std::mem::replace(&mut self.old, young));
        }
        self.young.insert(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_new_keys_never_holds_more_than_the_capacity() {
        let mut g = Generations::new(100);
        let mut evicted = Vec::new();
        for i in 0..100_000 {
            g.touch(&format!("id-{i}"), || i, &mut evicted);
            assert!(g.len() <= 100);
        }
        assert_eq!(evicted.len() + g.len(), 100_000, "every dropped entry is reported");
    }

    #[test]
    fn a_key_touched_within_half_the_capacity_survives() {
        let mut g = Generations::new(10);
        let mut evicted = Vec::new();
        g.touch("keep", || 0, &mut evicted);
        for i in 0..1000 {
            g.touch(&format!("x-{i}"), || i, &mut evicted);
            if i % 4 == 0 {
                *g.touch("keep", || -1, &mut evicted).expect("held") += 1;
            }
        }
        assert_eq!(g.remove("keep"), Some(250), "kept its value all along");
        assert!(evicted.iter().all(|(k, _)| k != "keep"));
    }
}
