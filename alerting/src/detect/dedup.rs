//! Redelivery detection (DESIGN §5, "duplicates"): a duplicate is the broker delivering the same
//! message again — the same device, `seq`, `ts` *and content*. A `seq` seen before is not enough:
//! anyone who can publish could send a device's upcoming counters with normal values and have
//! its next real alarm dropped as a "duplicate". With the content in the key a normal reading can
//! never stand in for an alarm. A payload without `ts` gets the receive time, which differs on
//! redelivery; such a reading is a duplicate when its `seq` and content repeat within about five
//! minutes of receipt (a reading without `ts` *and* `seq` cannot be told from a new one). Pure.
//!
//! What is remembered of a reading is one `u64` key (issue 14: a city's devices each remember
//! up to 16 readings, so 8 bytes instead of 40 each): a SipHash of `seq`, `ts` and the content,
//! or, for a reading whose `ts` is its receive time, a 47-bit hash of `seq` and content beside
//! the receive time in seconds modulo 2¹⁶ (18.2 hours), so the five-minute window can be
//! checked (a redelivery that now carries that `ts` as a device `ts` matches it to the second).
//! A new reading is taken for a redelivery only on a hash collision among a device's last 16
//! keys (below 10⁻¹³ per reading) or when a `ts`-less reading repeats its `seq` and content a
//! multiple of 18.2 hours later, within the window.

use std::hash::{DefaultHasher, Hasher};

use firegrid_ingest::{Reading, Values};
use serde::{Deserialize, Serialize};

/// How long after a message without `ts` a repeat of its `seq` and content still counts as a
/// redelivery (a device that restarts its counter later is not mistaken for one), in seconds.
pub(crate) const RECEIVE_TIME_WINDOW_S: u16 = 5 * 60;

/// The top bit of a key: the reading's `ts` was its receive time (see the module doc).
const RECEIVE_TIME: u64 = 1 << 63;

/// What a reading is compared by: the key it is remembered by, and the forms of it an earlier
/// key is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The key remembered: `by_window` for a reading whose `ts` is its receive time (and that
    /// has a `seq`), else `exact`.
    pub(crate) key: u64,
    /// The hash of `seq`, `ts` and content.
    exact: u64,
    /// The 47-bit hash of `seq` and content with the `ts` in seconds modulo 2¹⁶ in the low 16
    /// bits and the [`RECEIVE_TIME`] bit set (`None` without `seq`).
    by_window: Option<u64>,
    /// The reading's `ts` was its receive time.
    receive_time: bool,
}

impl Seen {
    /// The keys of a reading.
    pub(crate) fn of(r: &Reading) -> Seen {
        let content = content_hash(r);
        let exact = hash(&[1, u64::from(r.seq.is_some()), r.seq.unwrap_or(0), r.ts_ms as u64, content]);
        let secs = r.ts_ms.div_euclid(1000) as u64 & 0xFFFF;
        let by_window = r.seq.map(|seq| RECEIVE_TIME | (hash(&[2, seq, content]) >> 17) << 16 | secs);
        let receive_time = r.ts_ms == r.received_at_ms;
        let key = match by_window {
            Some(k) if receive_time => k,
            _ => exact & !RECEIVE_TIME,
        };
        Seen { key, exact: exact & !RECEIVE_TIME, by_window, receive_time }
    }
}

/// Whether `now` repeats a reading remembered in `recent`: the same `seq`, `ts` and content;
/// or, against a reading whose `ts` was its receive time, the same `seq` and content with a
/// `ts` in the same second, or received within the window when `now`'s `ts` is its receive
/// time too.
pub(crate) fn is_redelivery(recent: &Recent, now: &Seen) -> bool {
    recent.0.iter().any(|&e| {
        if e & RECEIVE_TIME == 0 {
            return e == now.exact;
        }
        let Some(b) = now.by_window else { return false };
        let apart = (b as u16).wrapping_sub(e as u16);
        e >> 16 == b >> 16
            && (apart == 0
                || (now.receive_time
                    && (apart < RECEIVE_TIME_WINDOW_S || apart.wrapping_neg() < RECEIVE_TIME_WINDOW_S)))
    })
}

/// A device's last keys, oldest first, in a boxed slice grown one key at a time up to the
/// configured number (16 bytes in the device's state, 8 bytes a key on the heap; none before
/// the first reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Recent(Box<[u64]>);

impl Recent {
    /// Remembers `key`, forgetting the oldest keys beyond `max` (at least one is kept).
    pub(crate) fn push(&mut self, key: u64, max: usize) {
        let max = max.max(1);
        let keep = self.0.len().min(max - 1);
        if keep + 1 == self.0.len() {
            self.0.copy_within(1.., 0);
            if let Some(last) = self.0.last_mut() {
                *last = key;
            }
            return;
        }
        let old = self.0.get(self.0.len() - keep..).unwrap_or_default();
        self.0 = old.iter().copied().chain([key]).collect();
    }
}

/// A 64-bit SipHash of numbers.
fn hash(xs: &[u64]) -> u64 {
    let mut p = Pack { hasher: DefaultHasher::new(), buf: [0; 128], n: 0 };
    xs.iter().for_each(|&x| p.put(x));
    p.finish()
}

/// A 64-bit hash of a reading's status and values: `DefaultHasher::new()`
/// (SipHash with fixed keys) gives the same value in every process of one build, so it can be
/// persisted with the rule state; after an upgrade, a redelivery right at the restart may be
/// evaluated again. The fields are packed into one buffer and hashed in one write (per-field
/// writes cost several times more on the per-reading path).
fn content_hash(r: &Reading) -> u64 {
    let mut p = Pack { hasher: DefaultHasher::new(), buf: [0; 128], n: 0 };
    let head = |kind: u64| kind << 8 | r.status as u64;
    match &r.values {
        Values::Smoke(v) => {
            p.put(head(1));
            p.put(v.obscuration_db_m.to_bits());
            p.opt(v.temperature_c);
            p.opt(v.battery_pct);
            p.put(flag(v.alarm) | flag(v.tamper) << 2 | flag(v.silenced) << 4);
        }
        Values::Electrical(v) => {
            p.put(head(2));
            p.put(v.residual_current_ma.to_bits());
            p.put(v.cable_temp_c.len() as u64);
            v.cable_temp_c.iter().for_each(|c| p.put(c.to_bits()));
            p.opt(v.current_a);
            p.opt(v.voltage_v);
            p.put(flag(v.arc_fault));
        }
        Values::ForestIr(v) => {
            p.put(head(3));
            p.put(v.max_temp_c.to_bits());
            p.put(u64::from(v.hotspot_px));
            p.opt(v.smoke_score);
            p.opt(v.lat);
            p.opt(v.lon);
            p.opt(v.ambient_c);
        }
    }
    p.finish()
}

/// `None`, `Some(false)`, `Some(true)` as 0, 1, 2.
fn flag(b: Option<bool>) -> u64 {
    b.map_or(0, |b| 1 + u64::from(b))
}

/// Fields packed into a stack buffer, written to the hasher when full and at the end.
struct Pack {
    hasher: DefaultHasher,
    buf: [u8; 128],
    n: usize,
}

impl Pack {
    fn put(&mut self, x: u64) {
        if self.n + 8 > self.buf.len() {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.n..self.n + 8) {
            slot.copy_from_slice(&x.to_le_bytes());
            self.n += 8;
        }
    }

    /// An optional number: values are finite, so `None` cannot collide with one (all ones is a NaN).
    fn opt(&mut self, x: Option<f64>) {
        self.put(x.map_or(u64::MAX, f64::to_bits));
    }

    fn flush(&mut self) {
        self.hasher.write(self.buf.get(..self.n).unwrap_or_default());
        self.n = 0;
    }

    fn finish(mut self) -> u64 {
        self.flush();
        self.hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firegrid_ingest::{Kind, SmokeValues, Status};
    use proptest::prelude::*;

    fn status(i: u8) -> Status {
        [Status::Normal, Status::Alarm, Status::Fault, Status::Test][usize::from(i % 4)]
    }

    fn recent(seen: &[Seen]) -> Recent {
        let mut r = Recent::default();
        seen.iter().for_each(|s| r.push(s.key, 16));
        r
    }

    proptest! {
        /// With a device `ts`, a reading repeats a remembered one exactly when seq, ts, status and
        /// every value are equal: whatever else a replay copies, a different content is new.
        #[test]
        fn a_reading_is_a_duplicate_exactly_when_seq_ts_and_content_repeat(
            a in (0u64..4, 0i64..4, 0u8..4, 0u8..3, proptest::option::of(0u8..3)),
            b in (0u64..4, 0i64..4, 0u8..4, 0u8..3, proptest::option::of(0u8..3)),
        ) {
            let seen = |(seq, ts, st, ob, bat): (u64, i64, u8, u8, Option<u8>)| {
                Seen::of(&Reading {
                    device_id: "sd-1".into(),
                    kind: Kind::Smoke,
                    county: "500112".into(),
                    township: "500112002".into(),
                    ts_ms: 1_000 + ts,
                    received_at_ms: 9_000 + ts,
                    seq: Some(seq),
                    status: status(st),
                    values: Values::Smoke(SmokeValues {
                        obscuration_db_m: f64::from(ob) / 10.0,
                        battery_pct: bat.map(f64::from),
                        ..Default::default()
                    }),
                })
            };
            prop_assert_eq!(is_redelivery(&recent(&[seen(a)]), &seen(b)), a == b);
        }

        /// The memory keeps the newest `max` keys, oldest first, whatever the order of pushes.
        #[test]
        fn the_memory_keeps_the_newest_keys_up_to_its_size(keys in proptest::collection::vec(any::<u64>(), 0..40), max in 1usize..20) {
            let mut r = Recent::default();
            keys.iter().for_each(|&k| r.push(k, max));
            let want = &keys[keys.len().saturating_sub(max)..];
            prop_assert_eq!(&r.0[..], want);
        }
    }

    fn smoke(seq: Option<u64>, ts: i64, rx: i64, status: Status, obscuration: f64) -> Seen {
        Seen::of(&Reading {
            device_id: "sd-1".into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            ts_ms: ts,
            received_at_ms: rx,
            seq,
            status,
            values: Values::Smoke(SmokeValues { obscuration_db_m: obscuration, ..Default::default() }),
        })
    }

    #[test]
    fn a_duplicate_is_the_same_seq_ts_and_content_and_a_seen_seq_alone_is_not() {
        let recent = recent(&[smoke(Some(7), 1_000, 1_050, Status::Normal, 0.01)]);
        assert!(is_redelivery(&recent, &smoke(Some(7), 1_000, 90_000_000, Status::Normal, 0.01)), "redelivered");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 1_000, 1_060, Status::Alarm, 0.4)), "an alarm is new");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 2_000, 2_000, Status::Normal, 0.01)), "another ts");
        assert!(!is_redelivery(&recent, &smoke(Some(8), 1_000, 1_050, Status::Normal, 0.01)), "another seq");
        assert!(!is_redelivery(&recent, &smoke(None, 1_000, 1_050, Status::Normal, 0.01)), "no seq");
    }

    #[test]
    fn without_ts_a_redelivery_is_the_same_seq_and_content_received_within_minutes() {
        let first = smoke(Some(3), 60_000, 60_000, Status::Normal, 0.2);
        let recent = recent(&[first, smoke(None, 5_000, 5_000, Status::Normal, 0.0)]);
        assert!(is_redelivery(&recent, &smoke(Some(3), 61_000, 61_000, Status::Normal, 0.2)));
        assert!(is_redelivery(&recent, &smoke(Some(3), 359_000, 359_000, Status::Normal, 0.2)), "4 min 59 s");
        assert!(!is_redelivery(&recent, &smoke(Some(3), 61_000, 61_000, Status::Alarm, 0.2)), "other content");
        assert!(!is_redelivery(&recent, &smoke(Some(4), 61_000, 61_000, Status::Normal, 0.2)), "other seq");
        assert!(!is_redelivery(&recent, &smoke(Some(3), 900_000, 900_000, Status::Normal, 0.2)), "much later");
        assert!(!is_redelivery(&recent, &smoke(Some(3), 361_000, 361_000, Status::Normal, 0.2)), "5 min 1 s");
        assert!(!is_redelivery(&recent, &smoke(None, 6_000, 6_000, Status::Normal, 0.0)), "no ts, no seq: new");
        assert!(!is_redelivery(&recent, &smoke(Some(3), 3_660_000, 3_660_000, Status::Normal, 0.2)), "an hour later");
    }

    #[test]
    fn a_reading_whose_ts_equals_its_receive_time_is_matched_by_a_redelivery_with_that_ts() {
        let recent = recent(&[smoke(Some(7), 60_000, 60_000, Status::Alarm, 0.4)]);
        assert!(is_redelivery(&recent, &smoke(Some(7), 60_000, 69_000, Status::Alarm, 0.4)), "same ts, later");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 64_000, 69_000, Status::Alarm, 0.4)), "another ts");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 60_000, 69_000, Status::Normal, 0.0)), "other content");
    }
}
