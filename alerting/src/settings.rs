//! The validated alerting configuration: typed thresholds (durations, not integers of seconds)
//! per kind and per site type, read by the pure rules without further checks. Built only by
//! [`crate::config::AlertingConfig::validate`].

use std::time::Duration;

use firegrid_ingest::SiteType;

/// Validated smoke thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeRules {
    /// Obscuration alarm value, dB/m.
    pub obscuration_alarm_db_m: f64,
    /// Consecutive smoke readings for an alarm (≥ 1).
    pub consecutive: u32,
    /// Heat alarm, °C.
    pub heat_alarm_c: f64,
    /// Low battery, percent.
    pub battery_low_pct: f64,
    /// Silence after which the device is offline.
    pub offline_after: Duration,
}

/// Validated electrical thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct ElectricalRules {
    /// Residual current alarm, mA.
    pub residual_alarm_ma: f64,
    /// Sustain of the residual alarm.
    pub residual_alarm_sustain: Duration,
    /// Residual current pre-alarm, mA.
    pub residual_prealarm_ma: f64,
    /// Sustain of the pre-alarm.
    pub residual_prealarm_sustain: Duration,
    /// Cable temperature alarm, °C.
    pub cable_temp_alarm_c: f64,
    /// Sustain of the cable temperature alarm.
    pub cable_temp_sustain: Duration,
    /// Silence after which the device is offline.
    pub offline_after: Duration,
}

/// Validated forest camera thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestIrRules {
    /// Hotspot temperature, °C.
    pub hotspot_temp_c: f64,
    /// Hotspot pixels.
    pub hotspot_min_px: u32,
    /// Frames within the window (≥ 1).
    pub confirm_frames: u32,
    /// Window of the frames.
    pub window: Duration,
    /// Smoke score confirming one frame.
    pub smoke_confirm_score: f64,
    /// Smoke score pre-alarm.
    pub smoke_prealarm_score: f64,
    /// Silence after which the camera is offline.
    pub offline_after: Duration,
}

/// Thresholds of all kinds for one site type.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRules {
    /// Smoke.
    pub smoke: SmokeRules,
    /// Electrical.
    pub electrical: ElectricalRules,
    /// Forest camera.
    pub forest_ir: ForestIrRules,
}

/// Validated correlation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRules {
    /// Household window.
    pub household_window: Duration,
    /// Forest radius, metres.
    pub forest_radius_m: f64,
    /// Forest window.
    pub forest_window: Duration,
    /// Persistence that confirms a fire.
    pub confirm_persist: Duration,
    /// Site types critical at once.
    pub critical_site_types: Vec<SiteType>,
    /// Dedup memory per device (≥ 1).
    pub dedup_per_device: usize,
}

/// What an alarm of a device missing from the registry does (`alerting.unregistered`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnregisteredPolicy {
    /// Opens an `unverified` incident: at most `medium`, routed only as `verify` to the township
    /// team of the topic's township, a live fire once a person confirms it.
    #[default]
    Verify,
    /// The readings are stored; nothing is raised.
    StoreOnly,
}

/// Validated handling of devices missing from the registry and of late alarms.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustRules {
    /// What an unregistered device's alarm does.
    pub unregistered: UnregisteredPolicy,
    /// Unregistered devices whose rule state is kept (the least recently seen are dropped).
    pub unregistered_max_devices: usize,
    /// Open unverified incidents of unregistered devices at most (≥ 1).
    pub unregistered_max_open_incidents: usize,
    /// An alarm whose reading is older than this on arrival is a late alarm.
    pub max_alarm_age: Duration,
}

/// The validated configuration the engine runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Rules for devices without a registry entry (and site types without overrides).
    pub base: KindRules,
    /// Rules per site type, indexed like [`SiteType::ALL`].
    pub per_site: Vec<KindRules>,
    /// Correlation.
    pub correlation: CorrelationRules,
    /// Engine tick.
    pub tick: Duration,
    /// Start-up grace for offline detection.
    pub startup_grace: Duration,
    /// Unregistered devices and late alarms.
    pub trust: TrustRules,
}

impl Settings {
    /// The rules for a device of this site type (`None` = unregistered).
    pub fn rules(&self, site: Option<SiteType>) -> &KindRules {
        site.and_then(|s| SiteType::ALL.iter().position(|&t| t == s))
            .and_then(|i| self.per_site.get(i))
            .unwrap_or(&self.base)
    }
}
