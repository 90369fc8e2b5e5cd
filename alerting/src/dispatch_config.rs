//! The `[dispatch]` table of firegrid.toml (DESIGN §6, §7): escalation timeouts, the range of the
//! urban–rural nearest-station fallback, the webhook secret and retry bounds, the outbox poll.
//! Every key has a default; unknown keys are refused; units are in the names.

use std::time::Duration;

use firegrid_ingest::config::{ConfigError, Secret};
use serde::{Deserialize, Serialize};

use crate::escalation::Timeouts;

/// `[dispatch]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// A `respond` notification unacknowledged this long goes to the next station.
    pub ack_timeout_seconds: u64,
    /// Acknowledged but no `on_scene` this long: the township team is brought in.
    pub on_scene_timeout_seconds: u64,
    /// A hazard unacknowledged this long goes to the township team.
    pub hazard_ack_timeout_seconds: u64,
    /// Range of the nearest-available-station fallback across boundaries, km.
    pub max_distance_km: f64,
    /// HMAC-SHA256 key of `X-Firegrid-Signature`; prefer `FIREGRID_DISPATCH__WEBHOOK_SECRET` or the file.
    pub webhook_secret: Secret,
    /// First line of this file is the webhook secret.
    pub webhook_secret_file: String,
    /// One webhook request.
    pub webhook_timeout_ms: u64,
    /// Delivery retry backoff doubles from here…
    pub retry_min_ms: u64,
    /// …up to here, and never gives up.
    pub retry_max_ms: u64,
    /// The outbox is polled this often (new notifications wake delivery at once).
    pub outbox_poll_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            ack_timeout_seconds: 60,
            on_scene_timeout_seconds: 180,
            hazard_ack_timeout_seconds: 86_400,
            max_distance_km: 15.0,
            webhook_secret: Secret::default(),
            webhook_secret_file: String::new(),
            webhook_timeout_ms: 5_000,
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
    pub timeouts: Timeouts,
    /// Nearest-station range, km.
    pub max_distance_km: f64,
    /// Webhook HMAC key (never printed); empty = webhooks are sent unsigned.
    pub webhook_secret: Vec<u8>,
    /// One webhook request.
    pub webhook_timeout: Duration,
    /// Retry backoff bounds.
    pub retry_min: Duration,
    /// Retry backoff cap.
    pub retry_max: Duration,
    /// Outbox poll period.
    pub outbox_poll: Duration,
}

impl std::fmt::Debug for DispatchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchSettings")
            .field("timeouts", &self.timeouts)
            .field("max_distance_km", &self.max_distance_km)
            .field("webhook_secret", &if self.webhook_secret.is_empty() { "" } else { "<redacted>" })
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
            webhook_secret: Vec::new(),
            webhook_timeout: Duration::from_secs(5),
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            outbox_poll: Duration::from_millis(500),
        })
    }
}

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
        Ok(DispatchSettings {
            timeouts,
            max_distance_km: self.max_distance_km,
            webhook_secret: secret.into_bytes(),
            webhook_timeout: ms("webhook_timeout_ms", self.webhook_timeout_ms)?,
            retry_min,
            retry_max,
            outbox_poll: ms("outbox_poll_ms", self.outbox_poll_ms)?,
        })
    }
}

/// The sample `[dispatch]` table of deploy/firegrid.toml (every key with its default).
pub const SAMPLE_TOML: &str = r#"# Dispatch (DESIGN §6): routing range, escalation timers, delivery.
[dispatch]
ack_timeout_seconds = 60               # a "respond" unacknowledged this long goes to the next station
on_scene_timeout_seconds = 180         # acknowledged but not on scene this long: the township team
hazard_ack_timeout_seconds = 86400     # a hazard unacknowledged this long goes to the township team
max_distance_km = 15.0                 # nearest available station across boundaries within this range
webhook_secret = ""                    # HMAC-SHA256 key of X-Firegrid-Signature; prefer FIREGRID_DISPATCH__WEBHOOK_SECRET
webhook_secret_file = ""               # or the first line of this file
webhook_timeout_ms = 5000              # one webhook request
retry_min_ms = 500                     # delivery retries back off from here…
retry_max_ms = 60000                   # …up to here, and never give up
outbox_poll_ms = 500                   # outbox poll period (new notifications are sent at once)
"#;

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = DispatchConfig { retry_min_ms: 10, retry_max_ms: 5, ..DispatchConfig::default() };
        assert!(c.validate().expect_err("bad").to_string().starts_with("dispatch.retry_max_ms"));
        let c = DispatchConfig { webhook_secret: Secret("s3cr3t-value".into()), ..DispatchConfig::default() };
        assert!(!format!("{c:?} {:?}", c.validate().expect("valid")).contains("s3cr3t"));
        assert!(toml::from_str::<DispatchConfig>("ack_timeout = 5").is_err(), "unknown keys are refused");
    }
}
