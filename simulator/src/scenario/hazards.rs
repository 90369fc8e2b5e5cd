//! Hazards (隐患) firegrid must open as such, never as a fire: a battery running low, a detector
//! removed from its base, a device that stops reporting.

use firegrid_ingest::Status;

use crate::readings::payload::WireValues;
use crate::scenario::inject::Scene;
use crate::scenario::truth::{ExpectedClass, Severity, TruthRecord};
use crate::scenario::values::{expected_interval_ms, smoke};

/// How long a hazard's device sends nothing else: its normal readings would only repeat it.
const QUIET_MS: i64 = 6 * 3_600_000;

/// Two readings a minute apart at 12 % and 11 %.
pub(super) fn low_battery(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    for (k, pct) in [12.0, 11.0].into_iter().enumerate() {
        s.read(start + k as i64 * 60_000, first, Status::Normal, smoke(0.025, s.room, false, pct));
    }
    s.silence(first, start, start + QUIET_MS);
    let mut truth = s.truth("battery low (12 %)");
    truth.end_ts = start + 60_000;
    truth.expected_class = ExpectedClass::Hazard;
    truth.expected_severity = Some(Severity::Low);
    truth
}

/// Two fault readings 30 s apart with the tamper flag set.
pub(super) fn tamper(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    for k in 0..2 {
        let mut v = smoke(0.01, s.room, false, s.battery);
        if let WireValues::Smoke(values) = &mut v {
            values.tamper = Some(true);
        }
        s.read(start + k * 30_000, first, Status::Fault, v);
    }
    s.silence(first, start, start + QUIET_MS);
    let mut truth = s.truth("detector removed from its base");
    truth.end_ts = start + 30_000;
    truth.expected_class = ExpectedClass::Hazard;
    truth.expected_severity = Some(Severity::Medium);
    truth
}

/// Silence for good; firegrid should notice after three of its expected intervals.
pub(super) fn offline(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    s.silence(first, start, i64::MAX);
    let mut truth = s.truth("device stops reporting");
    truth.end_ts = start + 3 * expected_interval_ms(s.dev.kind);
    truth.expected_class = ExpectedClass::Hazard;
    truth.expected_severity = Some(Severity::Low);
    truth
}
