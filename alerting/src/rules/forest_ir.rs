//! Forest infrared camera rule: a hotspot frame (hottest pixel at or over the value with enough
//! hot pixels) must repeat on N frames within the window — one frame is sun glint — unless the
//! smoke classifier confirms it at once; a smoke score over the pre-alarm value alone is a hazard
//! to verify. Frames are kept by their own timestamps.

use std::collections::VecDeque;

use firegrid_ingest::{ForestIrValues, Status};

use super::{millis, Hazard, Signal};
use crate::config::ForestIrRules;

/// Most hotspot frames remembered per camera (bounds memory whatever the configuration).
const MAX_FRAMES: usize = 64;

/// Per-camera state: timestamps of recent hotspot frames.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ForestIrState {
    /// Hotspot frame timestamps within the window, oldest first.
    pub frames: VecDeque<i64>,
}

/// Evaluates one non-test reading at its timestamp `ts_ms`.
pub fn evaluate(
    rules: &ForestIrRules,
    st: &mut ForestIrState,
    status: Status,
    ts_ms: i64,
    v: &ForestIrValues,
    alarms: &mut Vec<(Signal, String)>,
    raise: &mut impl FnMut(Hazard, String),
) {
    let hot = (v.max_temp_c >= rules.hotspot_temp_c && v.hotspot_px >= rules.hotspot_min_px) || status == Status::Alarm;
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
        raise(
            Hazard::SmokePrealarm,
            format!("smoke score {score} ≥ {} (pre-alarm, verify)", rules.smoke_prealarm_score),
        );
    }
}
