//! The text a registry's devices share, held once: division codes, grid ids, household ids and
//! addresses are repeated across thousands of devices (a county code across a whole county, an
//! address across a household), so a device keeps `u32` symbols into one table instead of owned
//! strings. The table also holds each distinct *series* — the tags after `device_id` (county,
//! township, community, grid, site type) — with a slot for its line-protocol encoding, so the
//! encoded tags are kept once per series rather than once per device.
//!
//! Built by an [`Interner`] while a registry loads, then frozen into [`Names`]; the model stays
//! free of line protocol (the series slot is filled by [`crate::lineproto`]).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use foldhash::fast::RandomState;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::model::device::SiteType;

/// A symbol: an index into [`Names`].
pub(crate) type Sym = u32;

/// The tags of a series besides the measurement and `device_id`, as symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesKey {
    pub(crate) county: Sym,
    pub(crate) township: Sym,
    pub(crate) community: Sym,
    pub(crate) grid: Sym,
    pub(crate) site_type: SiteType,
}

/// The frozen table: every distinct string once, in one buffer, and every distinct series.
#[derive(Debug, Default)]
pub(crate) struct Names {
    text: String,
    /// End offset in `text` of each symbol.
    ends: Vec<u32>,
    series: Vec<SeriesKey>,
    /// The encoded tags of each series, filled on first use.
    encoded: Vec<OnceLock<Box<str>>>,
}

impl Names {
    /// The text of a symbol (empty for an unknown one, which the interner never hands out).
    pub(crate) fn get(&self, sym: Sym) -> &str {
        text_of(&self.text, &self.ends, sym)
    }

    /// The encoded tags of a series, computed by `encode` the first time.
    pub(crate) fn encoded(&self, id: Sym, encode: impl FnOnce() -> String) -> &str {
        match self.encoded.get(id as usize) {
            Some(slot) => slot.get_or_init(|| encode().into_boxed_str()),
            None => "",
        }
    }
}

/// The text of symbol `sym` in a table's `text` and `ends`.
fn text_of<'t>(text: &'t str, ends: &[u32], sym: Sym) -> &'t str {
    let i = sym as usize;
    let start = if i == 0 { 0 } else { ends.get(i - 1).copied().unwrap_or(0) as usize };
    let end = ends.get(i).copied().unwrap_or(0) as usize;
    text.get(start..end).unwrap_or_default()
}

/// Builds a [`Names`] table: each distinct string and series gets one symbol. The strings are
/// found through a table of symbols hashed by their text in the table itself, so a load makes
/// no allocation per distinct string (a city registry has about a million household ids and
/// addresses, whose copies the allocator kept after the load). Hashed with foldhash (seeded per
/// process): the strings come from the operator's registry file.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    names: Names,
    strings: HashTable<Sym>,
    hasher: RandomState,
    series: HashMap<SeriesKey, Sym, RandomState>,
    /// The last symbol interned per column (see [`Interner::intern_at`]) and the last series.
    recent: [Option<Sym>; COLUMNS],
    recent_series: Option<(SeriesKey, Sym)>,
}

/// Columns [`Interner::intern_at`] remembers the last value of.
pub(crate) const COLUMNS: usize = 6;

impl Interner {
    /// An interner sized for a registry of `rows` devices read from a file of `bytes` bytes: room
    /// for a household id and an address per device or so, and text up to half the file (room
    /// that is never written is not resident), so a city load does not rehash as it fills.
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Interner {
        let strings = rows.saturating_add(rows / 4).saturating_add(64);
        let mut i = Interner { strings: HashTable::with_capacity(strings), ..Interner::default() };
        i.names.text.reserve(bytes / 2);
        i.names.ends.reserve(strings);
        i
    }

    /// The hasher strings are found by: a loader hashes a row's strings with it on the thread
    /// that parsed the row, and hands the hashes to [`Interner::intern_at_hashed`].
    pub(crate) fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// The symbol of `s`, added when new.
    #[cfg(test)]
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        self.intern_hashed(s, self.hasher.hash_one(s))
    }

    /// The symbol of `s`, whose hash by [`Interner::hasher`] is `hash`, added when new (one probe).
    fn intern_hashed(&mut self, s: &str, hash: u64) -> Sym {
        let (names, hasher) = (&mut self.names, &self.hasher);
        let text = (&names.text, &names.ends);
        let get = |sym: Sym| text_of(text.0, text.1, sym);
        match self.strings.entry(hash, |&sym| get(sym) == s, |&sym| hasher.hash_one(get(sym))) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                let sym = names.ends.len() as Sym;
                names.text.push_str(s);
                names.ends.push(names.text.len() as u32);
                v.insert(sym);
                sym
            }
        }
    }

    /// The symbol of `s` as a value of column `col` (below [`COLUMNS`]): a registry file lists
    /// devices by community and household, so a row mostly repeats the previous row's county,
    /// township, community, grid, household and address — compared, not hashed.
    #[cfg(test)]
    pub(crate) fn intern_at(&mut self, col: usize, s: &str) -> Sym {
        let hasher = self.hasher;
        self.intern_at_hashed(col, s, || hasher.hash_one(s))
    }

    /// [`Interner::intern_at`] with `s`'s hash by [`Interner::hasher`] computed by `hash` (only
    /// when the column's previous value differs: a loader hashes on its parsing threads).
    pub(crate) fn intern_at_hashed(&mut self, col: usize, s: &str, hash: impl FnOnce() -> u64) -> Sym {
        if let Some(Some(sym)) = self.recent.get(col) {
            if self.names.get(*sym) == s {
                return *sym;
            }
        }
        let sym = self.intern_hashed(s, hash());
        if let Some(slot) = self.recent.get_mut(col) {
            *slot = Some(sym);
        }
        sym
    }

    /// The symbol of a series, added when new.
    pub(crate) fn series(&mut self, key: SeriesKey) -> Sym {
        if let Some((k, id)) = self.recent_series {
            if k == key {
                return id;
            }
        }
        let id = self.series_lookup(key);
        self.recent_series = Some((key, id));
        id
    }

    fn series_lookup(&mut self, key: SeriesKey) -> Sym {
        if let Some(&id) = self.series.get(&key) {
            return id;
        }
        let id = self.names.series.len() as Sym;
        self.names.series.push(key);
        self.names.encoded.push(OnceLock::new());
        self.series.insert(key, id);
        id
    }

    /// The finished table, trimmed to size.
    pub(crate) fn freeze(self) -> Names {
        let mut names = self.names;
        names.text.shrink_to_fit();
        names.ends.shrink_to_fit();
        names.series.shrink_to_fit();
        names.encoded.shrink_to_fit();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_kept_once_and_read_back_by_its_symbol() {
        let mut i = Interner::default();
        let a = i.intern("500112");
        let empty = i.intern("");
        let b = i.intern("五星路 3 栋");
        assert_eq!(i.intern("500112"), a);
        let key = SeriesKey { county: a, township: b, community: empty, grid: empty, site_type: SiteType::School };
        let s = i.series(key);
        assert_eq!(i.series(key), s);
        let names = i.freeze();
        assert_eq!((names.get(a), names.get(empty), names.get(b)), ("500112", "", "五星路 3 栋"));
        assert_eq!(names.get(99), "");
        assert_eq!(names.encoded(s, || "x".into()), "x");
        assert_eq!(names.encoded(s, || "not again".into()), "x", "encoded once");
        assert_eq!(names.text, "500112五星路 3 栋", "each string stored once");
    }

    #[test]
    fn a_column_repeating_the_previous_row_gets_the_same_symbol_as_any_other_lookup() {
        let mut i = Interner::with_capacity(4, 64);
        let a = i.intern_at(0, "500112");
        assert_eq!(i.intern_at(0, "500112"), a, "the previous row's value");
        let empty = i.intern_at(1, "");
        assert_eq!(i.intern_at(1, ""), empty);
        assert_eq!(i.intern_at(2, "500112"), a, "another column, the same table");
        let b = i.intern_at(0, "500238");
        assert_eq!((i.intern_at(0, "500112"), i.intern("500238")), (a, b));
        let names = i.freeze();
        assert_eq!((names.get(a), names.get(b), names.get(empty)), ("500112", "500238", ""));
    }
}
