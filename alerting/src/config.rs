//! The `[alerting]` table of firegrid.toml: detection thresholds per kind (DESIGN §5 defaults),
//! overridable per site type, correlation windows, engine timing and the handling of unregistered
//! devices and late alarms. [`AlertingConfig`] is the serde shape (every key has a default; an
//! unknown key is an error); [`AlertingConfig::validate`] turns it, once, into [`AlertSettings`]:
//! typed values the pure rules read without further checks. A bad value is a [`ConfigError`]
//! naming its key under `alerting.`.

use std::collections::BTreeMap;
use std::time::Duration;

use firegrid_ingest::SiteType;
use serde::{Deserialize, Serialize};

use firegrid_ingest::config::ConfigError;

pub use crate::settings::{AlertSettings, UnregisteredPolicy};
use crate::settings::{CorrelationRules, ElectricalRules, ForestIrRules, KindRules, SmokeRules, TrustRules};

/// Smoke detector rules (GB 20517).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmokeConfig {
    /// Obscuration at or above which a reading counts as smoke, dB/m.
    pub obscuration_alarm_db_m: f64,
    /// Consecutive smoke readings needed for a fire alarm (one reading over is cooking steam).
    pub obscuration_consecutive_readings: u32,
    /// Temperature at or above which the detector signals heat (a fire alarm on its own), °C.
    pub heat_alarm_c: f64,
    /// Battery charge at or below which the device is a low-battery hazard, percent.
    pub battery_low_pct: f64,
    /// How often the device reports when all is well, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub expected_interval_seconds: u64,
    /// Missed intervals after which the device is offline (a hazard).
    pub offline_after_intervals: u32,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        SmokeConfig {
            obscuration_alarm_db_m: 0.15,
            obscuration_consecutive_readings: 2,
            heat_alarm_c: 57.0,
            battery_low_pct: 15.0,
            expected_interval_seconds: 3600,
            offline_after_intervals: 3,
        }
    }
}

/// Electrical fire monitoring detector rules (GB 14287, GB 50116).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectricalConfig {
    /// Residual current at or above which an electrical fire alarm builds, mA.
    pub residual_alarm_ma: f64,
    /// How long the residual current must stay at or above the alarm value, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub residual_alarm_sustain_seconds: u64,
    /// Residual current of the pre-alarm (a hazard), mA.
    pub residual_prealarm_ma: f64,
    /// How long the residual current must stay at or above the pre-alarm value, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub residual_prealarm_sustain_seconds: u64,
    /// Cable temperature (any channel) at or above which an alarm builds, °C.
    pub cable_temp_alarm_c: f64,
    /// How long a cable temperature must stay at or above the alarm value, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub cable_temp_sustain_seconds: u64,
    /// How often the device reports when all is well, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub expected_interval_seconds: u64,
    /// Missed intervals after which the device is offline (a hazard).
    pub offline_after_intervals: u32,
}

impl Default for ElectricalConfig {
    fn default() -> Self {
        ElectricalConfig {
            residual_alarm_ma: 300.0,
            residual_alarm_sustain_seconds: 30,
            residual_prealarm_ma: 200.0,
            residual_prealarm_sustain_seconds: 600,
            cable_temp_alarm_c: 70.0,
            cable_temp_sustain_seconds: 40,
            expected_interval_seconds: 300,
            offline_after_intervals: 3,
        }
    }
}

/// Forest infrared camera rules (林下红外烟火监控).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForestIrConfig {
    /// Hottest-pixel temperature at or above which a frame shows a hotspot, °C.
    pub hotspot_temp_c: f64,
    /// Pixels above the camera's hot threshold a hotspot frame needs.
    pub hotspot_min_px: u32,
    /// Hotspot frames needed within the window for a fire alarm (one frame is sun glint).
    pub hotspot_confirm_frames: u32,
    /// Window in which the hotspot frames must fall, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub hotspot_window_seconds: u64,
    /// Smoke score that confirms a single hotspot frame at once, 0–1.
    pub smoke_confirm_score: f64,
    /// Smoke score that alone raises a pre-alarm hazard (verify on site), 0–1.
    pub smoke_prealarm_score: f64,
    /// How often the camera reports when all is well, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub expected_interval_seconds: u64,
    /// Missed intervals after which the camera is offline (a hazard).
    pub offline_after_intervals: u32,
}

impl Default for ForestIrConfig {
    fn default() -> Self {
        ForestIrConfig {
            hotspot_temp_c: 80.0,
            hotspot_min_px: 4,
            hotspot_confirm_frames: 2,
            hotspot_window_seconds: 60,
            smoke_confirm_score: 0.8,
            smoke_prealarm_score: 0.6,
            expected_interval_seconds: 60,
            offline_after_intervals: 3,
        }
    }
}

/// Correlation of alarms into incidents and the severity rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// Alarms of one household (else one device) this close to the incident's last alarm join it, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub household_window_seconds: u64,
    /// Forest hotspots this close to an open forest fire join it, metres.
    pub forest_radius_m: f64,
    /// Forest hotspots this soon after an open forest fire's last alarm join it, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub forest_window_seconds: u64,
    /// An alarm persisting unsilenced this long confirms the fire (severity critical), seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub confirm_persist_seconds: u64,
    /// Site types where a single-device fire alarm is critical at once.
    pub critical_site_types: Vec<String>,
    /// Readings remembered per device to drop MQTT redeliveries (same seq, ts and content).
    pub dedup_readings_per_device: usize,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            household_window_seconds: 600,
            forest_radius_m: 1000.0,
            forest_window_seconds: 1800,
            confirm_persist_seconds: 120,
            critical_site_types: ["elderly_care", "school", "hospital", "ancient_town"]
                .into_iter()
                .map(String::from)
                .collect(),
            dedup_readings_per_device: 16,
        }
    }
}

/// Engine timing and queueing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How often the offline check and the persistence timer run, milliseconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub tick_ms: u64,
    /// Grace after start-up before a registered device that has not reported can be offline,
    /// in addition to its offline delay, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub startup_grace_seconds: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { tick_ms: 1000, startup_grace_seconds: 0 }
    }
}

/// Per-site-type override tables: each holds only the keys it changes, e.g.
/// `[alerting.site_type.school.smoke] obscuration_alarm_db_m = 0.10`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteOverride {
    /// Keys of `[alerting.smoke]` to change for this site type.
    pub smoke: Option<toml::Table>,
    /// Keys of `[alerting.electrical]` to change for this site type.
    pub electrical: Option<toml::Table>,
    /// Keys of `[alerting.forest_ir]` to change for this site type.
    pub forest_ir: Option<toml::Table>,
}

/// The `[alerting]` table of firegrid.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// What an alarm of a device missing from the registry does: `verify` (an unverified
    /// incident the township team is asked to check) or `store_only` (stored, nothing raised).
    /// Any id can be made up, so an unknown device never raises a fire on its own.
    pub unregistered: UnregisteredPolicy,
    /// Unregistered device ids whose rule state is kept; the least recently seen are dropped
    /// beyond it, so a flood of made-up ids keeps memory flat.
    pub unregistered_max_devices: usize,
    /// Open unverified incidents of unregistered devices at most; further unregistered alarms are
    /// stored only and counted (`firegrid_unregistered_alarms_suppressed_total`), so a flood of
    /// made-up ids cannot bury the township teams or grow memory.
    pub unregistered_max_open_incidents: usize,
    /// An alarm whose reading (`ts`) is older than this when it arrives is a late alarm: stored,
    /// recorded for the grid manager to check (`verify`), never dispatched as a live fire, seconds.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub max_alarm_age_seconds: u64,
    /// Smoke detector thresholds.
    pub smoke: SmokeConfig,
    /// Electrical detector thresholds.
    pub electrical: ElectricalConfig,
    /// Forest camera thresholds.
    pub forest_ir: ForestIrConfig,
    /// Correlation windows and severity rules.
    pub correlation: CorrelationConfig,
    /// Engine timing.
    pub engine: EngineConfig,
    /// Overrides per site type (`residential`, `school`, …), keyed by the registry's `site_type`.
    pub site_type: BTreeMap<String, SiteOverride>,
    /// This instance's alert partition (DESIGN §9); empty = none (one instance alerts for
    /// every county of `[mqtt] counties`). Needs `[incidents] backend = "postgres"`.
    pub partition: String,
    /// The partition's counties (6-digit codes): its consumer subscribes to these only.
    pub counties: Vec<String>,
    /// The partition lease, ms: renewed every fifth of it; the leader stops acting four fifths
    /// after its last renewal, and a standby takes over once it expires.
    pub partition_lease_ms: u64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            unregistered: UnregisteredPolicy::Verify,
            unregistered_max_devices: 10_000,
            unregistered_max_open_incidents: 100,
            max_alarm_age_seconds: 300,
            smoke: SmokeConfig::default(),
            electrical: ElectricalConfig::default(),
            forest_ir: ForestIrConfig::default(),
            correlation: CorrelationConfig::default(),
            engine: EngineConfig::default(),
            site_type: BTreeMap::new(),
            partition: String::new(),
            counties: Vec::new(),
            partition_lease_ms: 5_000,
        }
    }
}

impl AlertingConfig {
    /// The partition, if any, checked against the incident store (see [`crate::partition`]).
    pub fn partition(
        &self,
        backend: &crate::store::IncidentBackend,
    ) -> Result<Option<crate::partition::PartitionSettings>, ConfigError> {
        crate::partition::validate(&self.partition, &self.counties, self.partition_lease_ms, backend)
    }

    /// Checks every value and builds the typed [`AlertSettings`].
    pub fn validate(&self) -> Result<AlertSettings, ConfigError> {
        let base = kind_rules(&self.smoke, &self.electrical, &self.forest_ir, "")?;
        for name in self.site_type.keys() {
            if SiteType::parse(name).is_none() {
                return Err(override_err(name, format!("unknown site type; use one of {}", site_type_list())));
            }
        }
        let mut per_site = Vec::with_capacity(SiteType::ALL.len());
        for site in SiteType::ALL {
            let rules = match self.site_type.get(site.as_str()) {
                None => base.clone(),
                Some(o) => {
                    let name = site.as_str();
                    let smoke = overlay(&self.smoke, o.smoke.as_ref(), name, "smoke")?;
                    let electrical = overlay(&self.electrical, o.electrical.as_ref(), name, "electrical")?;
                    let forest_ir = overlay(&self.forest_ir, o.forest_ir.as_ref(), name, "forest_ir")?;
                    kind_rules(&smoke, &electrical, &forest_ir, &format!("site_type.{name}."))?
                }
            };
            per_site.push(rules);
        }
        let c = &self.correlation;
        positive_secs("correlation.household_window_seconds", c.household_window_seconds)?;
        positive_secs("correlation.forest_window_seconds", c.forest_window_seconds)?;
        positive_secs("correlation.confirm_persist_seconds", c.confirm_persist_seconds)?;
        if !(c.forest_radius_m.is_finite() && c.forest_radius_m > 0.0) {
            return Err(invalid("correlation.forest_radius_m", "must be a positive number of metres"));
        }
        if c.dedup_readings_per_device == 0 {
            return Err(invalid("correlation.dedup_readings_per_device", "must be at least 1"));
        }
        let mut critical = Vec::new();
        for s in &c.critical_site_types {
            let t = SiteType::parse(s).ok_or_else(|| {
                invalid(
                    "correlation.critical_site_types",
                    &format!("unknown site type `{s}`; use one of {}", site_type_list()),
                )
            })?;
            critical.push(t);
        }
        if self.engine.tick_ms == 0 || self.engine.tick_ms > 60_000 {
            return Err(invalid("engine.tick_ms", "must be between 1 and 60000 milliseconds"));
        }
        let trust = self.trust()?;
        Ok(AlertSettings {
            base,
            per_site,
            correlation: CorrelationRules {
                household_window: Duration::from_secs(c.household_window_seconds),
                forest_radius_m: c.forest_radius_m,
                forest_window: Duration::from_secs(c.forest_window_seconds),
                confirm_persist: Duration::from_secs(c.confirm_persist_seconds),
                critical_site_types: critical,
                dedup_per_device: c.dedup_readings_per_device,
            },
            tick: Duration::from_millis(self.engine.tick_ms),
            startup_grace: Duration::from_secs(self.engine.startup_grace_seconds),
            trust,
        })
    }

    fn trust(&self) -> Result<TrustRules, ConfigError> {
        positive_secs("max_alarm_age_seconds", self.max_alarm_age_seconds)?;
        if self.unregistered_max_devices == 0 {
            return Err(invalid("unregistered_max_devices", "must be at least 1"));
        }
        if self.unregistered_max_open_incidents == 0 {
            return Err(invalid(
                "unregistered_max_open_incidents",
                "must be at least 1; set unregistered = \"store_only\" to raise nothing for unregistered devices",
            ));
        }
        Ok(TrustRules {
            unregistered: self.unregistered,
            unregistered_max_devices: self.unregistered_max_devices,
            unregistered_max_open_incidents: self.unregistered_max_open_incidents,
            max_alarm_age: Duration::from_secs(self.max_alarm_age_seconds),
        })
    }
}

fn site_type_list() -> String {
    SiteType::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError { key: format!("alerting.{key}"), message: message.to_owned() }
}

/// An error of a per-site-type override table.
fn override_err(site_type: &str, message: String) -> ConfigError {
    ConfigError { key: format!("alerting.site_type.{site_type}"), message }
}

fn positive_secs(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be at least 1 second"));
    }
    Ok(())
}

fn finite(key: &str, v: f64, lo: f64, hi: f64) -> Result<f64, ConfigError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(invalid(key, &format!("must be a number between {lo} and {hi}, got {v}")))
    }
}

fn offline(key: &str, interval_s: u64, intervals: u32) -> Result<Duration, ConfigError> {
    positive_secs(&format!("{key}.expected_interval_seconds"), interval_s)?;
    if intervals == 0 {
        return Err(invalid(&format!("{key}.offline_after_intervals"), "must be at least 1"));
    }
    Ok(Duration::from_secs(interval_s.saturating_mul(u64::from(intervals))))
}

fn kind_rules(
    s: &SmokeConfig,
    e: &ElectricalConfig,
    f: &ForestIrConfig,
    prefix: &str,
) -> Result<KindRules, ConfigError> {
    let k = |kind: &str, key: &str| format!("{prefix}{kind}.{key}");
    if s.obscuration_consecutive_readings == 0 {
        return Err(invalid(&k("smoke", "obscuration_consecutive_readings"), "must be at least 1"));
    }
    if f.hotspot_confirm_frames == 0 {
        return Err(invalid(&k("forest_ir", "hotspot_confirm_frames"), "must be at least 1"));
    }
    positive_secs(&k("forest_ir", "hotspot_window_seconds"), f.hotspot_window_seconds)?;
    Ok(KindRules {
        smoke: SmokeRules {
            obscuration_alarm_db_m: finite(&k("smoke", "obscuration_alarm_db_m"), s.obscuration_alarm_db_m, 0.0, 20.0)?,
            consecutive: s.obscuration_consecutive_readings,
            heat_alarm_c: finite(&k("smoke", "heat_alarm_c"), s.heat_alarm_c, -40.0, 150.0)?,
            battery_low_pct: finite(&k("smoke", "battery_low_pct"), s.battery_low_pct, 0.0, 100.0)?,
            offline_after: offline(&format!("{prefix}smoke"), s.expected_interval_seconds, s.offline_after_intervals)?,
        },
        electrical: ElectricalRules {
            residual_alarm_ma: finite(&k("electrical", "residual_alarm_ma"), e.residual_alarm_ma, 0.0, 10_000.0)?,
            residual_alarm_sustain: Duration::from_secs(e.residual_alarm_sustain_seconds),
            residual_prealarm_ma: finite(
                &k("electrical", "residual_prealarm_ma"),
                e.residual_prealarm_ma,
                0.0,
                10_000.0,
            )?,
            residual_prealarm_sustain: Duration::from_secs(e.residual_prealarm_sustain_seconds),
            cable_temp_alarm_c: finite(&k("electrical", "cable_temp_alarm_c"), e.cable_temp_alarm_c, -40.0, 300.0)?,
            cable_temp_sustain: Duration::from_secs(e.cable_temp_sustain_seconds),
            offline_after: offline(
                &format!("{prefix}electrical"),
                e.expected_interval_seconds,
                e.offline_after_intervals,
            )?,
        },
        forest_ir: ForestIrRules {
            hotspot_temp_c: finite(&k("forest_ir", "hotspot_temp_c"), f.hotspot_temp_c, -40.0, 1500.0)?,
            hotspot_min_px: f.hotspot_min_px,
            confirm_frames: f.hotspot_confirm_frames,
            window: Duration::from_secs(f.hotspot_window_seconds),
            smoke_confirm_score: finite(&k("forest_ir", "smoke_confirm_score"), f.smoke_confirm_score, 0.0, 1.0)?,
            smoke_prealarm_score: finite(&k("forest_ir", "smoke_prealarm_score"), f.smoke_prealarm_score, 0.0, 1.0)?,
            offline_after: offline(
                &format!("{prefix}forest_ir"),
                f.expected_interval_seconds,
                f.offline_after_intervals,
            )?,
        },
    })
}

/// Lays an override table over a kind's table: only the keys it names change.
fn overlay<T>(base: &T, over: Option<&toml::Table>, site: &str, kind: &str) -> Result<T, ConfigError>
where
    T: Serialize + for<'de> Deserialize<'de> + Clone,
{
    let Some(over) = over else { return Ok(base.clone()) };
    let err = |message: String| override_err(site, message);
    let mut table = toml::Table::try_from(base).map_err(|e| err(format!("{kind}: {e}")))?;
    for (k, v) in over {
        if !table.contains_key(k) {
            return Err(err(format!("{kind}: unknown key `{k}`")));
        }
        table.insert(k.clone(), v.clone());
    }
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| err(format!("{kind}: {}", e.message())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The `[alerting]` table with every key at its default and a comment, for `deploy/firegrid.toml`
    /// (a test checks it parses to [`AlertingConfig::default`]).
    const SAMPLE_TOML: &str = r#"[alerting]
unregistered = "verify"                # alarm of a device missing from the registry: "verify" (unverified
                                       # incident, township team asked to check) or "store_only"
unregistered_max_devices = 10000       # unregistered ids whose rule state is kept (least recently seen dropped)
unregistered_max_open_incidents = 100  # open unverified incidents of unregistered devices; beyond, stored only
max_alarm_age_seconds = 300            # an alarm older than this on arrival is a late_alarm (verify), not a live fire
partition = ""                         # alert partition (DESIGN §9): "" = none; a name (a-z 0-9 -) makes this one of
                                       # the partition's leader/standby instances; needs [incidents] backend = "postgres"
counties = []                          # the partition's 6-digit county codes (its consumer subscribes to these only)
partition_lease_ms = 5000              # lease in PostgreSQL: renewed every fifth; leader stops acting 4/5 after its
                                       # last renewal; a standby takes over within about lease + 1/5

[alerting.smoke]
obscuration_alarm_db_m = 0.15          # dB/m counted as smoke
obscuration_consecutive_readings = 2   # smoke readings in a row for a fire alarm (1 = cooking steam)
heat_alarm_c = 57.0                    # temperature that alarms on its own, °C
battery_low_pct = 15.0                 # low-battery hazard at or below, percent
expected_interval_seconds = 3600       # reporting interval when all is well
offline_after_intervals = 3            # silent this many intervals = offline hazard

[alerting.electrical]
residual_alarm_ma = 300.0              # GB 50116 alarm value 300–500 mA
residual_alarm_sustain_seconds = 30
residual_prealarm_ma = 200.0           # pre-alarm (hazard)
residual_prealarm_sustain_seconds = 600
cable_temp_alarm_c = 70.0              # any channel
cable_temp_sustain_seconds = 40
expected_interval_seconds = 300
offline_after_intervals = 3

[alerting.forest_ir]
hotspot_temp_c = 80.0                  # hottest pixel of a hotspot frame
hotspot_min_px = 4                     # hot pixels of a hotspot frame
hotspot_confirm_frames = 2             # frames within the window (1 frame = sun glint)
hotspot_window_seconds = 60
smoke_confirm_score = 0.8              # confirms a single hotspot frame at once
smoke_prealarm_score = 0.6             # alone: pre-alarm hazard, verify on site
expected_interval_seconds = 60
offline_after_intervals = 3

[alerting.correlation]
household_window_seconds = 600         # same household (else device) within this joins an incident
forest_radius_m = 1000.0               # forest hotspots within this distance …
forest_window_seconds = 1800           # … and this time join one forest fire
confirm_persist_seconds = 120          # alarm sounding unsilenced this long = confirmed (critical)
critical_site_types = ["elderly_care", "school", "hospital", "ancient_town"]
dedup_readings_per_device = 16         # (seq, ts, content) remembered per device to drop MQTT redeliveries

[alerting.engine]
tick_ms = 1000                         # offline check and persistence timer period
startup_grace_seconds = 0              # extra silence allowed after start-up before offline

# Per site type, only the keys that differ, e.g.:
# [alerting.site_type.school.smoke]
# obscuration_alarm_db_m = 0.10
"#;

    #[test]
    fn the_sample_table_is_exactly_the_defaults() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            alerting: AlertingConfig,
        }
        let file: File = toml::from_str(SAMPLE_TOML).unwrap();
        assert_eq!(file.alerting, AlertingConfig::default());
        let round: AlertingConfig = toml::from_str(&toml::to_string(&AlertingConfig::default()).unwrap()).unwrap();
        assert_eq!(round, AlertingConfig::default());
    }

    #[test]
    fn the_defaults_are_the_design_thresholds() {
        let s = AlertingConfig::default().validate().unwrap();
        assert_eq!(s.base.smoke.obscuration_alarm_db_m, 0.15);
        assert_eq!(s.base.smoke.offline_after, Duration::from_secs(3 * 3600));
        assert_eq!(s.base.electrical.residual_alarm_sustain, Duration::from_secs(30));
        assert_eq!(s.base.electrical.offline_after, Duration::from_secs(900));
        assert_eq!(s.base.forest_ir.offline_after, Duration::from_secs(180));
        assert_eq!(s.correlation.critical_site_types.len(), 4);
    }

    #[test]
    fn a_site_type_override_changes_only_the_keys_it_names() {
        let cfg: AlertingConfig =
            toml::from_str("[smoke]\nheat_alarm_c = 60.0\n[site_type.school.smoke]\nobscuration_alarm_db_m = 0.1\n")
                .unwrap();
        let s = cfg.validate().unwrap();
        let school = s.rules(Some(SiteType::School));
        assert_eq!(school.smoke.obscuration_alarm_db_m, 0.1);
        assert_eq!(school.smoke.heat_alarm_c, 60.0);
        assert_eq!(s.rules(Some(SiteType::Residential)).smoke.obscuration_alarm_db_m, 0.15);
        assert_eq!(s.rules(None).smoke.heat_alarm_c, 60.0);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_name_the_key() {
        assert!(toml::from_str::<AlertingConfig>("[smoke]\nheat = 1\n").is_err());
        let cfg: AlertingConfig = toml::from_str("[site_type.school.smoke]\nheat = 1\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("unknown key `heat`"));
        let cfg: AlertingConfig = toml::from_str("[site_type.castle.smoke]\nheat_alarm_c = 1\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("castle"));
        let cfg: AlertingConfig = toml::from_str("[forest_ir]\nsmoke_confirm_score = 2.0\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("forest_ir.smoke_confirm_score"));
        let cfg: AlertingConfig = toml::from_str("[site_type.school.smoke]\nheat_alarm_c = \"hot\"\n").unwrap();
        assert!(cfg.validate().is_err());
        let cfg: AlertingConfig = toml::from_str("max_alarm_age_seconds = 0\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("alerting.max_alarm_age_seconds"));
        let cfg: AlertingConfig = toml::from_str("unregistered_max_open_incidents = 0\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("store_only"));
        let err = toml::from_str::<AlertingConfig>("unregistered = \"ignore\"\n").unwrap_err().to_string();
        assert!(err.contains("unregistered") && err.contains("store_only"), "{err}");
    }

    #[test]
    fn unregistered_devices_are_verified_and_old_alarms_are_late_by_default() {
        let s = AlertingConfig::default().validate().unwrap();
        assert_eq!(s.trust.unregistered, UnregisteredPolicy::Verify);
        assert_eq!(s.trust.max_alarm_age, Duration::from_secs(300));
        let cfg: AlertingConfig = toml::from_str("unregistered = \"store_only\"\n").unwrap();
        assert_eq!(cfg.validate().unwrap().trust.unregistered, UnregisteredPolicy::StoreOnly);
    }
}
