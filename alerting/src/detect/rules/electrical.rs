//! Electrical fire monitoring rule (GB 14287, GB 50116): residual current at or over the alarm
//! value sustained for its window, any cable temperature over its value sustained, or an arc
//! fault; the residual-current pre-alarm sustained (10 min by default) is a hazard. "Sustained"
//! means every reading since the first one over the value stayed over it; windows are measured on
//! the readings' own timestamps, and a reading older than the newest seen does not move them.

use firegrid_ingest::{ElectricalValues, Reading, Status};

use crate::detect::signal::{Hazard, Signal};
use crate::detect::Assessment;
use crate::settings::millis;
use crate::settings::ElectricalRules;

/// Per-device electrical state: since when each condition has held (epoch ms).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ElectricalState {
    /// Residual current at or over the alarm value since.
    pub(crate) residual_since: Option<i64>,
    /// Residual current at or over the pre-alarm value since.
    pub(crate) prealarm_since: Option<i64>,
    /// Some cable channel at or over the alarm temperature since.
    pub(crate) cable_since: Option<i64>,
    /// Newest reading timestamp seen.
    pub(crate) last_ts: Option<i64>,
}

/// Moves a "since" marker: set at the first reading over, cleared by one under. Returns how long
/// the condition has held, when it holds.
fn hold(since: &mut Option<i64>, over: bool, ts: i64) -> Option<i64> {
    if !over {
        *since = None;
        return None;
    }
    let start = *since.get_or_insert(ts);
    Some(ts.saturating_sub(start))
}

/// Evaluates one non-test reading `r` with values `v` at its timestamp; findings go to `out`.
pub(crate) fn evaluate(
    rules: &ElectricalRules,
    st: &mut ElectricalState,
    r: &Reading,
    v: &ElectricalValues,
    out: &mut Assessment,
) {
    let (ts_ms, alarms) = (r.ts_ms, &mut out.alarms);
    if r.status == Status::Alarm {
        alarms.push((Signal::Electrical, format!("detector alarm (residual {} mA)", v.residual_current_ma)));
    }
    if v.arc_fault == Some(true) {
        alarms.push((Signal::Electrical, "arc fault".to_owned()));
    }
    if st.last_ts.is_some_and(|last| ts_ms < last) {
        // Out of order: instantaneous signals only, the windows stay as they are.
        return;
    }
    st.last_ts = Some(ts_ms);
    let residual = v.residual_current_ma;
    if let Some(held) = hold(&mut st.residual_since, residual >= rules.residual_alarm_ma, ts_ms) {
        if held >= millis(rules.residual_alarm_sustain) {
            alarms.push((
                Signal::Electrical,
                format!("residual current {residual} mA ≥ {} mA for {} s", rules.residual_alarm_ma, held / 1000),
            ));
        }
    }
    if let Some(held) = hold(&mut st.prealarm_since, residual >= rules.residual_prealarm_ma, ts_ms) {
        if held >= millis(rules.residual_prealarm_sustain) {
            out.hazards.push((
                Hazard::ResidualPrealarm,
                format!(
                    "residual current {residual} mA ≥ {} mA for {} s (pre-alarm)",
                    rules.residual_prealarm_ma,
                    held / 1000
                ),
            ));
        }
    }
    let hottest = v.cable_temp_c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(held) = hold(&mut st.cable_since, hottest >= rules.cable_temp_alarm_c, ts_ms) {
        if held >= millis(rules.cable_temp_sustain) {
            alarms.push((
                Signal::Electrical,
                format!("cable temperature {hottest} °C ≥ {} °C for {} s", rules.cable_temp_alarm_c, held / 1000),
            ));
        }
    }
}
