//! Smoke detector rule (GB 20517): the detector's own alarm, obscuration over the alarm value on
//! N consecutive readings (one reading over is cooking steam), or heat; hazards for tamper and a
//! low battery. Pure: the caller keeps the [`SmokeState`] per device.

use firegrid_ingest::{Reading, SmokeValues, Status};

use crate::detect::signal::{Hazard, Signal};
use crate::detect::Assessment;
use crate::settings::SmokeRules;

/// Per-device smoke state.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct SmokeState {
    /// Consecutive readings with obscuration at or over the alarm value.
    pub(crate) consecutive: u32,
}

/// Evaluates one non-test reading `r` with values `v`: alarm signals, hazards and hush go to `out`.
pub(crate) fn evaluate(rules: &SmokeRules, st: &mut SmokeState, r: &Reading, v: &SmokeValues, out: &mut Assessment) {
    if v.obscuration_db_m >= rules.obscuration_alarm_db_m {
        st.consecutive = st.consecutive.saturating_add(1);
    } else {
        st.consecutive = 0;
    }
    if r.status == Status::Alarm || v.alarm == Some(true) {
        out.alarms.push((Signal::Smoke, format!("detector alarm (obscuration {} dB/m)", v.obscuration_db_m)));
    } else if st.consecutive >= rules.consecutive {
        out.alarms.push((
            Signal::Smoke,
            format!(
                "obscuration {} dB/m ≥ {} on {} consecutive readings",
                v.obscuration_db_m, rules.obscuration_alarm_db_m, st.consecutive
            ),
        ));
    }
    if let Some(t) = v.temperature_c {
        if t >= rules.heat_alarm_c {
            out.alarms.push((Signal::Heat, format!("temperature {t} °C ≥ {} °C", rules.heat_alarm_c)));
        }
    }
    if v.tamper == Some(true) {
        out.hazards.push((Hazard::Tamper, "detector removed from its base (tamper)".to_owned()));
    }
    if let Some(b) = v.battery_pct {
        if b <= rules.battery_low_pct {
            out.hazards.push((Hazard::BatteryLow, format!("battery {b}% ≤ {}%", rules.battery_low_pct)));
        }
    }
    out.silenced = v.silenced == Some(true);
}
