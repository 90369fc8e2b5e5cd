//! Redelivery detection (DESIGN §5, "duplicates"): a duplicate is the broker delivering the same
//! message again — the same device, `seq`, `ts` *and content*. A `seq` seen before is not enough:
//! anyone who can publish could send a device's upcoming counters with normal values and have
//! its next real alarm dropped as a "duplicate". With the content in the key a normal reading can
//! never stand in for an alarm. A payload without `ts` gets the receive time, which differs on
//! redelivery; such a reading is a duplicate when its `seq` and content repeat within a few
//! minutes of receipt (a reading without `ts` *and* `seq` cannot be told from a new one). Pure.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};

use firegrid_ingest::reading::{Reading, Values};
use serde::{Deserialize, Serialize};

/// How long after a message without `ts` a repeat of its `seq` and content still counts as a
/// redelivery (a device that restarts its counter later is not mistaken for one).
pub const RECEIVE_TIME_WINDOW_MS: i64 = 5 * 60 * 1000;

/// What is remembered of one reading: `(seq, ts_ms, received_at_ms, content fingerprint)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(pub Option<u64>, pub i64, pub i64, pub u64);

impl Seen {
    /// The memory of a reading.
    pub fn of(r: &Reading) -> Seen {
        Seen(r.seq, r.ts_ms, r.received_at_ms, fingerprint(r))
    }

    /// The `ts` was the receive time (the payload had none).
    fn receive_time(&self) -> bool {
        self.1 == self.2
    }
}

/// Whether `now` repeats a reading in `recent` (see the module doc).
pub fn is_redelivery(recent: &VecDeque<Seen>, now: &Seen) -> bool {
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
pub fn fingerprint(r: &Reading) -> u64 {
    let mut h = DefaultHasher::new();
    r.status.as_str().hash(&mut h);
    let f = |h: &mut DefaultHasher, x: f64| x.to_bits().hash(h);
    let o = |h: &mut DefaultHasher, x: Option<f64>| x.map(f64::to_bits).hash(h);
    match &r.values {
        Values::Smoke(v) => {
            f(&mut h, v.obscuration_db_m);
            o(&mut h, v.temperature_c);
            o(&mut h, v.battery_pct);
            (v.alarm, v.tamper, v.silenced).hash(&mut h);
        }
        Values::Electrical(v) => {
            f(&mut h, v.residual_current_ma);
            v.cable_temp_c.iter().for_each(|&c| f(&mut h, c));
            o(&mut h, v.current_a);
            o(&mut h, v.voltage_v);
            v.arc_fault.hash(&mut h);
        }
        Values::ForestIr(v) => {
            f(&mut h, v.max_temp_c);
            v.hotspot_px.hash(&mut h);
            o(&mut h, v.smoke_score);
            o(&mut h, v.lat);
            o(&mut h, v.lon);
            o(&mut h, v.ambient_c);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use firegrid_ingest::reading::{Kind, SmokeValues, Status};

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
