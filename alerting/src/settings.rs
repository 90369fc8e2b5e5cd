//! The validated `[alerting]` configuration: typed thresholds (durations, not integers of
//! seconds) per kind and per site type, read by detection and correlation without further checks.
//! Built only by [`crate::config::AlertingConfig::validate`], once, at start-up.

use std::time::Duration;

use firegrid_ingest::{Kind, SiteType};

/// Validated smoke thresholds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SmokeRules {
    /// Obscuration alarm value, dB/m.
    pub(crate) obscuration_alarm_db_m: f64,
    /// Consecutive smoke readings for an alarm (≥ 1).
    pub(crate) consecutive: u32,
    /// Heat alarm, °C.
    pub(crate) heat_alarm_c: f64,
    /// Low battery, percent.
    pub(crate) battery_low_pct: f64,
    /// Silence after which the device is offline.
    pub(crate) offline_after: Duration,
}

/// Validated electrical thresholds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ElectricalRules {
    /// Residual current alarm, mA.
    pub(crate) residual_alarm_ma: f64,
    /// Sustain of the residual alarm.
    pub(crate) residual_alarm_sustain: Duration,
    /// Residual current pre-alarm, mA.
    pub(crate) residual_prealarm_ma: f64,
    /// Sustain of the pre-alarm.
    pub(crate) residual_prealarm_sustain: Duration,
    /// Cable temperature alarm, °C.
    pub(crate) cable_temp_alarm_c: f64,
    /// Sustain of the cable temperature alarm.
    pub(crate) cable_temp_sustain: Duration,
    /// Silence after which the device is offline.
    pub(crate) offline_after: Duration,
}

/// Validated forest camera thresholds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForestIrRules {
    /// Hotspot temperature, °C.
    pub(crate) hotspot_temp_c: f64,
    pub(crate) hotspot_min_px: u32,
    /// Frames within the window (≥ 1).
    pub(crate) confirm_frames: u32,
    pub(crate) window: Duration,
    /// Smoke score confirming one frame.
    pub(crate) smoke_confirm_score: f64,
    /// Smoke score pre-alarm.
    pub(crate) smoke_prealarm_score: f64,
    /// Silence after which the camera is offline.
    pub(crate) offline_after: Duration,
}

/// Thresholds of all kinds for one site type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KindRules {
    pub(crate) smoke: SmokeRules,
    pub(crate) electrical: ElectricalRules,
    pub(crate) forest_ir: ForestIrRules,
}

/// Validated correlation settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CorrelationRules {
    pub(crate) household_window: Duration,
    /// Forest radius, metres.
    pub(crate) forest_radius_m: f64,
    pub(crate) forest_window: Duration,
    /// Persistence that confirms a fire.
    pub(crate) confirm_persist: Duration,
    /// Site types critical at once.
    pub(crate) critical_site_types: Vec<SiteType>,
    /// Dedup memory per device (≥ 1).
    pub(crate) dedup_per_device: usize,
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
pub(crate) struct TrustRules {
    /// What an unregistered device's alarm does.
    pub(crate) unregistered: UnregisteredPolicy,
    /// Unregistered devices whose rule state is kept (the least recently seen are dropped).
    pub(crate) unregistered_max_devices: usize,
    /// Open unverified incidents of unregistered devices at most (≥ 1).
    pub(crate) unregistered_max_open_incidents: usize,
    /// An alarm whose reading is older than this on arrival is a late alarm.
    pub(crate) max_alarm_age: Duration,
}

/// The validated configuration the engine runs with ([`crate::config::AlertingConfig::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// Rules for devices without a registry entry (and site types without overrides).
    pub(crate) base: KindRules,
    /// Rules per site type, indexed like [`SiteType::ALL`].
    pub(crate) per_site: Vec<KindRules>,
    pub(crate) correlation: CorrelationRules,
    pub(crate) tick: Duration,
    /// Start-up grace for offline detection.
    pub(crate) startup_grace: Duration,
    /// Unregistered devices and late alarms.
    pub(crate) trust: TrustRules,
}

impl AlertSettings {
    /// The rules for a device of this site type (`None` = unregistered).
    pub(crate) fn rules(&self, site: Option<SiteType>) -> &KindRules {
        site.and_then(|s| SiteType::ALL.iter().position(|&t| t == s))
            .and_then(|i| self.per_site.get(i))
            .unwrap_or(&self.base)
    }
}

/// Milliseconds of a duration, saturating: the rules and timers read durations from the settings
/// and compare them with epoch-ms timestamps.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl KindRules {
    /// The silence after which a device of `kind` is offline.
    pub(crate) fn offline_after(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Smoke => self.smoke.offline_after,
            Kind::Electrical => self.electrical.offline_after,
            Kind::ForestIr => self.forest_ir.offline_after,
        }
    }
}
