//! Nuisances firegrid must not dispatch as a fire: cooking steam (one reading over the alarm
//! level), the test button (`status=test` with the alarm on) and sun glint (one hot frame). Their
//! truth expects nothing.

use firegrid_ingest::Status;

use crate::scenario::inject::Scene;
use crate::scenario::truth::TruthRecord;
use crate::scenario::values::{forest, smoke, Frame};

/// One reading over 0.15 dB/m, normal again 15 s later.
pub(super) fn cooking_steam(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first, room, battery) = (s.start(), s.first, s.room, s.battery);
    let peak = s.rng.range(0.16, 0.3);
    s.read(start, first, Status::Normal, smoke(peak, room + 3.0, false, battery));
    s.read(start + 15_000, first, Status::Normal, smoke(0.03, room + 1.0, false, battery));
    let mut truth = s.truth("cooking steam: one reading over 0.15 dB/m, then normal");
    truth.end_ts = start + 15_000;
    truth
}

/// The test button, then a normal reading 10 s later.
pub(super) fn test_button(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first, room, battery) = (s.start(), s.first, s.room, s.battery);
    s.read(start, first, Status::Test, smoke(0.9, room, true, battery));
    s.read(start + 10_000, first, Status::Normal, smoke(0.02, room, false, battery));
    let mut truth = s.truth("test button pressed");
    truth.end_ts = start + 10_000;
    truth
}

/// One frame with a small hot spot and no smoke.
pub(super) fn sun_glint(s: &mut Scene<'_>) -> TruthRecord {
    let (start, first) = (s.start(), s.first);
    let ambient = s.rng.range(20.0, 30.0);
    let frame =
        Frame { max_temp: s.rng.range(85.0, 110.0), px: s.rng.int(4, 9) as u32, smoke_score: 0.03, at: None, ambient };
    s.read(start, first, Status::Normal, forest(frame));
    s.truth("sun glint: one hot frame")
}
