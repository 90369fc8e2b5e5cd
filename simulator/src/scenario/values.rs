//! The values scenario readings carry (a smoke detector in smoke, a monitored circuit, a camera
//! frame) and the DESIGN §5 figures a scenario's truth expects: how often a kind must report, and
//! the severity a single device's fire alarm reaches.

use firegrid_ingest::{Kind, SiteType};

use crate::readings::payload::{round, ElectricalValues, ForestIrValues, SmokeValues, WireValues};
use crate::scenario::truth::Severity;
use firegrid_ingest::Device;

/// How firegrid expects each kind to report (DESIGN §5 offline defaults), for the time an
/// offline device should be noticed: 3 × this.
pub(super) fn expected_interval_ms(kind: Kind) -> i64 {
    match kind {
        Kind::Smoke => 3_600_000,
        Kind::Electrical => 300_000,
        Kind::ForestIr => 60_000,
    }
}

/// The severity a single-device fire alarm reaches: `critical` for a vulnerable household or
/// a sensitive site, else `high` (DESIGN §5).
pub(super) fn single_device_severity(d: &Device) -> Severity {
    let sensitive =
        matches!(d.site_type, SiteType::ElderlyCare | SiteType::School | SiteType::Hospital | SiteType::AncientTown);
    if d.vulnerable || sensitive {
        Severity::Critical
    } else {
        Severity::High
    }
}

/// A smoke detector's values: obscuration (clamped to the contract's range), temperature, alarm
/// output and battery.
pub(super) fn smoke(obscuration: f64, temp: f64, alarm: bool, battery: f64) -> WireValues {
    WireValues::Smoke(SmokeValues {
        obscuration_db_m: round(obscuration.clamp(0.0, 20.0), 3),
        temperature_c: Some(round(temp, 1)),
        alarm: Some(alarm),
        battery_pct: Some(battery),
        tamper: None,
        silenced: None,
    })
}

/// An electrical monitor's values: residual current, two cable temperatures, arc alarm.
pub(super) fn electrical(residual: f64, cable: f64, arc: bool) -> WireValues {
    WireValues::Electrical(ElectricalValues {
        residual_current_ma: round(residual, 1),
        cable_temp_c: vec![round(cable, 1), round(cable - 2.5, 1)],
        current_a: Some(18.5),
        voltage_v: Some(219.0),
        arc_fault: Some(arc),
    })
}

/// A forest camera frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    /// Hottest pixel, °C.
    pub(super) max_temp: f64,
    /// Pixels above the hot threshold.
    pub(super) px: u32,
    /// On-camera smoke score (clamped to 0–1).
    pub(super) smoke_score: f64,
    /// Where the hotspot is, when the camera locates it.
    pub(super) at: Option<(f64, f64)>,
    /// Ambient temperature, °C.
    pub(super) ambient: f64,
}

/// A forest camera's values for a frame.
pub(super) fn forest(f: Frame) -> WireValues {
    WireValues::ForestIr(ForestIrValues {
        max_temp_c: round(f.max_temp, 1),
        hotspot_px: f.px,
        smoke_score: Some(round(f.smoke_score.clamp(0.0, 1.0), 2)),
        lat: f.at.map(|a| round(a.0, 6)),
        lon: f.at.map(|a| round(a.1, 6)),
        ambient_c: Some(round(f.ambient, 1)),
    })
}
