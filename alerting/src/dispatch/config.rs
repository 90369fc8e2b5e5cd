//! The `[dispatch]` table of firegrid.toml (DESIGN §6, §7): escalation timeouts, the range of the
//! urban–rural nearest-station fallback, the webhook secret, retry bounds and maximum age, the
//! outbox poll. Every key has a default; unknown keys are refused; units are in the names.
//!
//! Webhooks are never sent unsigned: [`DispatchSettings::check_webhooks`] refuses a registry that
//! names a `webhook_url` while the secret is empty (`firegrid run` and `firegrid check-config`
//! both call it), so a receiver can always tell firegrid's notifications from a forgery.

use std::time::Duration;

use firegrid_ingest::config::{ConfigError, Secret};
use firegrid_ingest::Registry;
use serde::{Deserialize, Serialize};

use super::escalation::Timeouts;

/// `[dispatch]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// A `respond` notification unacknowledged this long goes to the next station.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub ack_timeout_seconds: u64,
    /// Acknowledged but no `on_scene` this long: the township team is brought in.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub on_scene_timeout_seconds: u64,
    /// A hazard unacknowledged this long goes to the township team.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub hazard_ack_timeout_seconds: u64,
    /// Range of the nearest-available-station fallback across boundaries, km.
    pub max_distance_km: f64,
    /// Each unacknowledged `respond` goes, one per `ack_timeout_seconds`, to at most this many
    /// further stations of one tier (the nearest others), then to the tier above (micro →
    /// township team → district); after the district tier its slot is dropped
    /// (`dispatch_escalation_exhausted`) and the incident waits in the console for a dispatcher.
    /// Without a bound an unanswered fire paged every station of its tier within
    /// `max_distance_km`, one a minute, for hours, and never reached the tier above.
    pub max_escalations: u32,
    /// HMAC-SHA256 key of `X-Firegrid-Signature`; prefer `FIREGRID_DISPATCH__WEBHOOK_SECRET` or the file.
    /// Required as soon as any station or grid of the registry has a `webhook_url`.
    pub webhook_secret: Secret,
    /// First line of this file is the webhook secret.
    pub webhook_secret_file: String,
    /// One webhook request.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub webhook_timeout_ms: u64,
    /// PEM CA bundle trusted besides the built-in roots, for receivers behind a private CA.
    pub webhook_ca_file: String,
    /// A webhook not delivered this long after it was enqueued is given up (`abandoned`); so is
    /// one whose incident has closed. A receiver down for a day gets no stale fire.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::seconds")]
    pub webhook_max_age_seconds: u64,
    /// Delivery retry backoff doubles from here…
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub retry_min_ms: u64,
    /// …up to here, and never gives up.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub retry_max_ms: u64,
    /// The outbox is polled this often (new notifications wake delivery at once).
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub outbox_poll_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            ack_timeout_seconds: 60,
            on_scene_timeout_seconds: 180,
            hazard_ack_timeout_seconds: 86_400,
            max_distance_km: 15.0,
            max_escalations: 2,
            webhook_secret: Secret::default(),
            webhook_secret_file: String::new(),
            webhook_timeout_ms: 5_000,
            webhook_ca_file: String::new(),
            webhook_max_age_seconds: 86_400,
            retry_min_ms: 500,
            retry_max_ms: 60_000,
            outbox_poll_ms: 500,
        }
    }
}

/// Validated `[dispatch]`.
#[derive(Clone)]
pub struct DispatchSettings {
    /// Escalation timeouts.
    pub(crate) timeouts: Timeouts,
    /// Nearest-station range, km.
    pub(crate) max_distance_km: f64,
    /// Further stations of one tier a `respond` slot may go to before the tier above.
    pub(crate) max_escalations: usize,
    /// Webhook HMAC key (never printed); empty only when no recipient has a webhook (checked
    /// by [`DispatchSettings::check_webhooks`]; a webhook is never sent unsigned).
    pub(crate) webhook_secret: Vec<u8>,
    /// One webhook request.
    pub(crate) webhook_timeout: Duration,
    /// Private CA bundle of webhook receivers.
    pub(crate) webhook_ca_file: Option<std::path::PathBuf>,
    /// Undelivered webhooks older than this are abandoned.
    pub(crate) webhook_max_age: Duration,
    /// Retry backoff bounds.
    pub(crate) retry_min: Duration,
    /// Retry backoff cap.
    pub(crate) retry_max: Duration,
    /// Outbox poll period.
    pub(crate) outbox_poll: Duration,
}

impl std::fmt::Debug for DispatchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchSettings")
            .field("timeouts", &self.timeouts)
            .field("max_distance_km", &self.max_distance_km)
            .field("max_escalations", &self.max_escalations)
            .field("webhook_secret", &if self.webhook_secret.is_empty() { "" } else { "<redacted>" })
            .field("webhook_timeout", &self.webhook_timeout)
            .field("webhook_ca_file", &self.webhook_ca_file)
            .field("webhook_max_age", &self.webhook_max_age)
            .field("retry_min", &self.retry_min)
            .field("retry_max", &self.retry_max)
            .field("outbox_poll", &self.outbox_poll)
            .finish()
    }
}

impl Default for DispatchSettings {
    fn default() -> Self {
        // The defaults are valid and name no secret file.
        DispatchConfig::default().validate().unwrap_or_else(|_| DispatchSettings {
            timeouts: Timeouts { ack_ms: 60_000, on_scene_ms: 180_000, hazard_ack_ms: 86_400_000 },
            max_distance_km: 15.0,
            max_escalations: 2,
            webhook_secret: Vec::new(),
            webhook_timeout: Duration::from_secs(5),
            webhook_ca_file: None,
            webhook_max_age: Duration::from_secs(86_400),
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            outbox_poll: Duration::from_millis(500),
        })
    }
}

/// The most `max_escalations` may be.
const MAX_ESCALATIONS: u32 = 20;

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: format!("dispatch.{key}"), message: message.into() }
}

impl DispatchConfig {
    /// Checks every value and reads the secret file.
    pub fn validate(&self) -> Result<DispatchSettings, ConfigError> {
        let secs = |key: &str, v: u64| -> Result<i64, ConfigError> {
            if v == 0 || v > 30 * 86_400 {
                return Err(err(key, format!("{v} must be between 1 and 2592000 (30 days)")));
            }
            Ok(i64::try_from(v * 1000).unwrap_or(i64::MAX))
        };
        let timeouts = Timeouts {
            ack_ms: secs("ack_timeout_seconds", self.ack_timeout_seconds)?,
            on_scene_ms: secs("on_scene_timeout_seconds", self.on_scene_timeout_seconds)?,
            hazard_ack_ms: secs("hazard_ack_timeout_seconds", self.hazard_ack_timeout_seconds)?,
        };
        if !(self.max_distance_km.is_finite() && self.max_distance_km > 0.0 && self.max_distance_km <= 500.0) {
            return Err(err("max_distance_km", format!("{} must be above 0 and at most 500", self.max_distance_km)));
        }
        if self.max_escalations > MAX_ESCALATIONS {
            return Err(err(
                "max_escalations",
                format!(
                    "{} is more than {MAX_ESCALATIONS}: an unanswered fire belongs to a dispatcher",
                    self.max_escalations
                ),
            ));
        }
        let ms = |key: &str, v: u64| {
            if v == 0 || v > 3_600_000 {
                return Err(err(key, format!("{v} must be between 1 and 3600000")));
            }
            Ok(Duration::from_millis(v))
        };
        let retry_min = ms("retry_min_ms", self.retry_min_ms)?;
        let retry_max = ms("retry_max_ms", self.retry_max_ms)?;
        if retry_max < retry_min {
            return Err(err("retry_max_ms", "must not be below retry_min_ms"));
        }
        let secret = self.webhook_secret.resolve(&self.webhook_secret_file, "dispatch.webhook_secret_file")?;
        let max_age_ms = secs("webhook_max_age_seconds", self.webhook_max_age_seconds)?;
        Ok(DispatchSettings {
            timeouts,
            max_distance_km: self.max_distance_km,
            max_escalations: usize::try_from(self.max_escalations).unwrap_or(usize::MAX),
            webhook_secret: secret.into_bytes(),
            webhook_timeout: ms("webhook_timeout_ms", self.webhook_timeout_ms)?,
            webhook_ca_file: (!self.webhook_ca_file.is_empty()).then(|| self.webhook_ca_file.clone().into()),
            webhook_max_age: Duration::from_millis(u64::try_from(max_age_ms).unwrap_or(u64::MAX)),
            retry_min,
            retry_max,
            outbox_poll: ms("outbox_poll_ms", self.outbox_poll_ms)?,
        })
    }
}

impl DispatchSettings {
    /// Refuses a registry with webhook recipients while the secret is empty: a webhook is never
    /// sent unsigned. The error names the key to set and the first recipient with a URL (by id:
    /// the URL itself may carry an access token and is never printed).
    pub fn check_webhooks(&self, registry: &Registry) -> Result<(), ConfigError> {
        if !self.webhook_secret.is_empty() {
            return Ok(());
        }
        let station =
            registry.stations().iter().find(|s| s.webhook_url.is_some()).map(|s| format!("station {}", s.station_id));
        let grid = || registry.grids().find(|g| g.webhook_url.is_some()).map(|g| format!("grid {}", g.grid_id));
        match station.or_else(grid) {
            None => Ok(()),
            Some(who) => Err(err(
                "webhook_secret",
                format!(
                    "is empty but the registry gives {who} a webhook_url: set FIREGRID_DISPATCH__WEBHOOK_SECRET or \
                     dispatch.webhook_secret_file (webhooks are never sent unsigned), or remove the webhook_url"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample `[dispatch]` table of deploy/firegrid.toml (every key with its default).
    const SAMPLE_TOML: &str = r#"# Dispatch (DESIGN §6): routing range, escalation timers, delivery.
[dispatch]
ack_timeout_seconds = 60               # a "respond" unacknowledged this long goes to the next station
on_scene_timeout_seconds = 180         # acknowledged but not on scene this long: the township team
hazard_ack_timeout_seconds = 86400     # a hazard unacknowledged this long goes to the township team
max_distance_km = 15.0                 # nearest available station across boundaries within this range
max_escalations = 2                    # an unacknowledged "respond" goes to at most this many further stations of one
                                       # tier (0-20), one per ack_timeout_seconds, then the tier above; after the
                                       # district tier it waits in the console for a dispatcher
webhook_secret = ""                    # HMAC-SHA256 key of X-Firegrid-Signature (required with any webhook_url); prefer FIREGRID_DISPATCH__WEBHOOK_SECRET
webhook_secret_file = ""               # or the first line of this file
webhook_timeout_ms = 5000              # one webhook request
webhook_max_age_seconds = 86400        # an undelivered webhook is abandoned after this (or when its incident closes)
retry_min_ms = 500                     # delivery retries back off from here…
retry_max_ms = 60000                   # …up to here (MQTT never gives up; webhooks until webhook_max_age_seconds)
outbox_poll_ms = 500                   # outbox poll period (new notifications are sent at once)
"#;

    #[test]
    fn the_sample_table_is_exactly_the_defaults() {
        #[derive(Deserialize)]
        struct Doc {
            dispatch: DispatchConfig,
        }
        let doc: Doc = toml::from_str(SAMPLE_TOML).expect("sample parses");
        assert_eq!(doc.dispatch, DispatchConfig::default());
        let s = doc.dispatch.validate().expect("defaults validate");
        assert_eq!(s.timeouts.ack_ms, 60_000);
    }

    #[test]
    fn bad_values_name_their_key_and_the_secret_is_never_printed() {
        let c = DispatchConfig { max_distance_km: -1.0, ..DispatchConfig::default() };
        assert!(c.validate().expect_err("bad").to_string().starts_with("dispatch.max_distance_km"));
        let c = DispatchConfig { max_escalations: 21, ..DispatchConfig::default() };
        assert!(c.validate().expect_err("bad").to_string().starts_with("dispatch.max_escalations"));
        let c = DispatchConfig { retry_min_ms: 10, retry_max_ms: 5, ..DispatchConfig::default() };
        assert!(c.validate().expect_err("bad").to_string().starts_with("dispatch.retry_max_ms"));
        let c = DispatchConfig { webhook_secret: Secret("s3cr3t-value".into()), ..DispatchConfig::default() };
        assert!(!format!("{c:?} {:?}", c.validate().expect("valid")).contains("s3cr3t"));
        assert!(toml::from_str::<DispatchConfig>("ack_timeout = 5").is_err(), "unknown keys are refused");
    }

    #[test]
    fn the_webhook_max_age_is_a_day_by_default_and_bounded() {
        assert_eq!(DispatchConfig::default().validate().expect("valid").webhook_max_age, Duration::from_secs(86_400));
        for bad in [0, 30 * 86_400 + 1] {
            let c = DispatchConfig { webhook_max_age_seconds: bad, ..DispatchConfig::default() };
            assert!(c.validate().expect_err("bad").to_string().starts_with("dispatch.webhook_max_age_seconds"));
        }
    }

    fn registry(dir: &std::path::Path, station_hook: &str, grid_hook: &str) -> Registry {
        let paths = firegrid_ingest::RegistryPaths {
            devices: dir.join("devices.csv"),
            stations: dir.join("stations.csv"),
            grids: dir.join("grids.csv"),
        };
        let header =
            "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n";
        std::fs::write(&paths.devices, header).expect("devices");
        std::fs::write(
            &paths.stations,
            format!(
                "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n\
                 ms-1,一站,micro,500112,500112002,500112002001,29.72,106.63,,true,{station_hook}\n"
            ),
        )
        .expect("stations");
        std::fs::write(
            &paths.grids,
            format!("grid_id,community,manager,phone,webhook_url\ng-1,500112002001,王芳,13800000001,{grid_hook}\n"),
        )
        .expect("grids");
        Registry::load(&paths).expect("registry")
    }

    #[test]
    fn a_webhook_url_without_a_secret_is_refused_naming_the_key_and_the_recipient_not_the_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unsigned = DispatchConfig::default().validate().expect("valid");
        let url = "https://oapi.dingtalk.com/robot/send?access_token=tok-123";
        for (station, grid, who) in [(url, "", "station ms-1"), ("", url, "grid g-1")] {
            let e = unsigned.check_webhooks(&registry(dir.path(), station, grid)).expect_err("refused").to_string();
            assert!(e.starts_with("dispatch.webhook_secret:") && e.contains(who), "{e}");
            assert!(!e.contains("tok-123") && !e.contains("dingtalk"), "the URL is never printed: {e}");
        }
        assert!(unsigned.check_webhooks(&registry(dir.path(), "", "")).is_ok(), "no webhook, no secret needed");
        let signed = DispatchConfig { webhook_secret: Secret("k".into()), ..DispatchConfig::default() };
        assert!(signed.validate().expect("valid").check_webhooks(&registry(dir.path(), url, url)).is_ok());
    }
}
