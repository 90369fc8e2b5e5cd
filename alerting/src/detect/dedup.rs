//! Redelivery detection (DESIGN §5, "duplicates"): a duplicate is the broker delivering the same
//! message again — the same device, `seq`, `ts` *and content*. A `seq` seen before is not enough:
//! anyone who can publish could send a device's upcoming counters with normal values and have
//! its next real alarm dropped as a "duplicate". With the content in the key a normal reading can
//! never stand in for an alarm. A payload without `ts` gets the receive time, which differs on
//! redelivery; such a reading is a duplicate when its `seq` and content repeat within a few
//! minutes of receipt (a reading without `ts` *and* `seq` cannot be told from a new one). Pure.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hasher};

use firegrid_ingest::{Reading, Values};
use serde::{Deserialize, Serialize};

/// How long after a message without `ts` a repeat of its `seq` and content still counts as a
/// redelivery (a device that restarts its counter later is not mistaken for one).
pub(crate) const RECEIVE_TIME_WINDOW_MS: i64 = 5 * 60 * 1000;

/// What is remembered of one reading: `(seq, ts_ms, received_at_ms, content fingerprint)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen(pub(crate) Option<u64>, pub(crate) i64, pub(crate) i64, pub(crate) u64);

impl Seen {
    /// The memory of a reading.
    pub(crate) fn of(r: &Reading) -> Seen {
        Seen(r.seq, r.ts_ms, r.received_at_ms, fingerprint(r))
    }

    /// The `ts` was the receive time (the payload had none).
    fn receive_time(&self) -> bool {
        self.1 == self.2
    }
}

/// Whether `now` repeats a reading in `recent` (see the module doc).
pub(crate) fn is_redelivery(recent: &VecDeque<Seen>, now: &Seen) -> bool {
    recent.iter().any(|e| {
        e.0 == now.0
            && e.3 == now.3
            && (e.1 == now.1
                || (now.0.is_some()
                    && e.receive_time()
                    && now.receive_time()
                    && now.2.saturating_sub(e.2).abs() < RECEIVE_TIME_WINDOW_MS))
    })
}

/// A 64-bit fingerprint of a reading's status and values: `DefaultHasher::new()` (SipHash with
/// fixed keys) gives the same value in every process of one build, so it can be persisted with
/// the rule state; after an upgrade, a redelivery right at the restart may be evaluated again.
/// The fields are packed into one buffer and hashed in one write (per-field writes cost several
/// times more on the per-reading path).
pub(crate) fn fingerprint(r: &Reading) -> u64 {
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
            let recent: VecDeque<_> = [seen(a)].into_iter().collect();
            prop_assert_eq!(is_redelivery(&recent, &seen(b)), a == b);
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
        let normal = smoke(Some(7), 1_000, 1_050, Status::Normal, 0.01);
        let recent: VecDeque<_> = [normal].into_iter().collect();
        assert!(is_redelivery(&recent, &smoke(Some(7), 1_000, 90_000_000, Status::Normal, 0.01)), "redelivered");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 1_000, 1_060, Status::Alarm, 0.4)), "an alarm is new");
        assert!(!is_redelivery(&recent, &smoke(Some(7), 2_000, 2_000, Status::Normal, 0.01)), "another ts");
        assert!(!is_redelivery(&recent, &smoke(Some(8), 1_000, 1_050, Status::Normal, 0.01)), "another seq");
        assert!(!is_redelivery(&recent, &smoke(None, 1_000, 1_050, Status::Normal, 0.01)), "no seq");
    }

    #[test]
    fn without_ts_a_redelivery_is_the_same_seq_and_content_received_within_minutes() {
        let first = smoke(Some(3), 60_000, 60_000, Status::Normal, 0.2);
        let recent: VecDeque<_> = [first, smoke(None, 5_000, 5_000, Status::Normal, 0.0)].into_iter().collect();
        assert!(is_redelivery(&recent, &smoke(Some(3), 61_000, 61_000, Status::Normal, 0.2)));
        assert!(!is_redelivery(&recent, &smoke(Some(3), 61_000, 61_000, Status::Alarm, 0.2)), "other content");
        assert!(!is_redelivery(&recent, &smoke(Some(3), 900_000, 900_000, Status::Normal, 0.2)), "much later");
        assert!(!is_redelivery(&recent, &smoke(None, 6_000, 6_000, Status::Normal, 0.0)), "no ts, no seq: new");
    }
}
