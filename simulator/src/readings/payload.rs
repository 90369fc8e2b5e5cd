//! The wire payloads of DESIGN §2 as the simulator writes them: `{"ts","seq","status","values"}`
//! with the kind-specific values, optional fields left out when absent.

use firegrid_ingest::Status;
use serde::Serialize;

/// Values of a smoke detector reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmokeValues {
    /// Optical obscuration, dB/m.
    pub obscuration_db_m: f64,
    /// Temperature at the detector, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// The detector's own alarm output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<bool>,
    /// Battery charge, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
    /// Removed from its base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tamper: Option<bool>,
    /// Hush pressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silenced: Option<bool>,
}

/// Values of an electrical fire monitoring detector reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElectricalValues {
    /// Residual current, mA.
    pub residual_current_ma: f64,
    /// Cable temperature per channel, °C.
    pub cable_temp_c: Vec<f64>,
    /// Load current, A.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_a: Option<f64>,
    /// Supply voltage, V.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<f64>,
    /// Arc-fault alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_fault: Option<bool>,
}

/// Values of a forest infrared camera reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForestIrValues {
    /// Hottest pixel, °C.
    pub max_temp_c: f64,
    /// Pixels above the hot threshold.
    pub hotspot_px: u32,
    /// On-camera smoke score, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoke_score: Option<f64>,
    /// Hotspot latitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Hotspot longitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Ambient temperature, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambient_c: Option<f64>,
}

/// Kind-specific values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WireValues {
    /// Smoke detector values.
    Smoke(SmokeValues),
    /// Electrical detector values.
    Electrical(ElectricalValues),
    /// Forest camera values.
    ForestIr(ForestIrValues),
}

#[derive(Serialize)]
struct Wire<'a> {
    ts: i64,
    seq: u64,
    status: &'static str,
    values: &'a WireValues,
}

/// Encodes one payload.
pub fn encode(ts_ms: i64, seq: u64, status: Status, values: &WireValues) -> Vec<u8> {
    // Serializing plain structs of finite numbers cannot fail; fall back to an empty object
    // rather than panic should a non-finite value ever slip in.
    serde_json::to_vec(&Wire { ts: ts_ms, seq, status: status.as_str(), values }).unwrap_or_else(|_| b"{}".to_vec())
}

/// Rounds to `decimals` places, so payloads carry sensor-like precision.
pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smoke_payload_matches_the_design_example_shape() {
        let v = WireValues::Smoke(SmokeValues {
            obscuration_db_m: 0.031,
            temperature_c: Some(22.5),
            alarm: None,
            battery_pct: Some(88.0),
            tamper: None,
            silenced: None,
        });
        let bytes = encode(1_795_930_617_074, 17, Status::Normal, &v);
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf8"),
            r#"{"ts":1795930617074,"seq":17,"status":"normal","values":{"obscuration_db_m":0.031,"temperature_c":22.5,"battery_pct":88.0}}"#
        );
        assert_eq!(round(0.03149, 3), 0.031);
    }
}
