//! Forest infrared camera rule: a hotspot frame (hottest pixel at or over the value with enough
//! hot pixels) must repeat on N frames within the window — one frame is sun glint — unless the
//! smoke classifier confirms it at once; a smoke score over the pre-alarm value alone is a hazard
//! to verify. Frames are kept by their own timestamps.

use std::collections::VecDeque;

use firegrid_ingest::{ForestIrValues, Reading, Status};

use crate::detect::signal::{Hazard, Signal};
use crate::detect::Assessment;
use crate::settings::millis;
use crate::settings::ForestIrRules;

/// Most hotspot frames remembered per camera (bounds memory whatever the configuration).
const MAX_FRAMES: usize = 64;

/// Per-camera state: timestamps of recent hotspot frames.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ForestIrState {
    /// Hotspot frame timestamps within the window, oldest first.
    pub(crate) frames: VecDeque<i64>,
}

/// Evaluates one non-test reading `r` with values `v` at its timestamp; findings go to `out`.
pub(crate) fn evaluate(
    rules: &ForestIrRules,
    st: &mut ForestIrState,
    r: &Reading,
    v: &ForestIrValues,
    out: &mut Assessment,
) {
    let (ts_ms, alarms) = (r.ts_ms, &mut out.alarms);
    let hot =
        (v.max_temp_c >= rules.hotspot_temp_c && v.hotspot_px >= rules.hotspot_min_px) || r.status == Status::Alarm;
    let score = v.smoke_score.unwrap_or(0.0);
    let window = millis(rules.window);
    st.frames.retain(|&t| t > ts_ms.saturating_sub(window) && t <= ts_ms.saturating_add(window));
    if hot {
        if st.frames.len() >= MAX_FRAMES {
            st.frames.pop_front();
        }
        st.frames.push_back(ts_ms);
        let frames = st.frames.len();
        if score >= rules.smoke_confirm_score {
            alarms.push((
                Signal::Hotspot,
                format!("hotspot {} °C, {} px with smoke score {score}", v.max_temp_c, v.hotspot_px),
            ));
        } else if frames >= rules.confirm_frames as usize {
            alarms.push((
                Signal::Hotspot,
                format!(
                    "hotspot {} °C, {} px on {frames} frames within {} s",
                    v.max_temp_c,
                    v.hotspot_px,
                    window / 1000
                ),
            ));
        }
    }
    if alarms.is_empty() && score >= rules.smoke_prealarm_score {
        out.hazards.push((
            Hazard::SmokePrealarm,
            format!("smoke score {score} ≥ {} (pre-alarm, verify)", rules.smoke_prealarm_score),
        ));
    }
}
