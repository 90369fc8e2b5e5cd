//! `[store.influxdb]`, `[store.embedded]` and `[spool]`: where readings go, and where they wait
//! while the store is unavailable.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{err, parse_url, ConfigError, Secret};

/// `[store.influxdb]`: the InfluxDB v2 write API (InfluxDB 2.x/3.x/Cloud, VictoriaMetrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxConfig {
    /// Base URL; `/api/v2/write` (or `/write` with `api = "v1"`) is appended.
    pub url: String,
    /// `v2`: `/api/v2/write?org=&bucket=` (InfluxDB 2.x/3.x/Cloud, VictoriaMetrics);
    /// `v1`: `/write?db={bucket}` (InfluxDB 1.x, and 2.x/3.x through their v1 compatibility API).
    pub api: String,
    /// Organization.
    pub org: String,
    /// Bucket.
    pub bucket: String,
    /// API token; prefer `FIREGRID_STORE__INFLUXDB__TOKEN` or `token_file`.
    pub token: Secret,
    /// File whose first line is the token.
    pub token_file: String,
    /// Timeout of one write request.
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub timeout_ms: u64,
    /// First retry delay; doubles per failure. Each delay is jittered between half its value and
    /// its value ([`crate::backoff`]); a server's `Retry-After` is a floor.
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub retry_min_ms: u64,
    /// Longest retry delay before jitter.
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub retry_max_ms: u64,
    /// PEM CA bundle trusted besides the built-in roots (an https:// store behind a private CA).
    pub ca_file: String,
    /// `gzip`: compress each write body (InfluxDB 1.x/2.x/3.x and VictoriaMetrics accept
    /// `Content-Encoding: gzip`); `identity`: send it as is.
    pub content_encoding: String,
}

impl Default for InfluxConfig {
    fn default() -> Self {
        InfluxConfig {
            url: "http://127.0.0.1:8086".into(),
            api: "v2".into(),
            org: "firegrid".into(),
            bucket: "firegrid".into(),
            token: Secret::default(),
            token_file: String::new(),
            timeout_ms: 10_000,
            retry_min_ms: 100,
            retry_max_ms: 30_000,
            ca_file: String::new(),
            content_encoding: "gzip".into(),
        }
    }
}

/// Validated `[store.influxdb]`.
#[derive(Clone, PartialEq)]
pub struct InfluxSettings {
    /// Full write URL with org, bucket and `precision=ms`.
    pub write_url: String,
    /// Token, empty = none.
    pub token: String,
    /// Request timeout.
    pub timeout: Duration,
    /// First retry delay (before jitter).
    pub retry_min: Duration,
    /// Longest retry delay (before jitter).
    pub retry_max: Duration,
    /// PEM CA bundle trusted besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Compress write bodies with gzip.
    pub gzip: bool,
    /// Where the writes go, by name (for `check-config --probe`).
    pub target: std::sync::Arc<InfluxTarget>,
}

/// The store's write target by name, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluxTarget {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// `v1` or `v2`.
    pub api: String,
    /// Organization (v2).
    pub org: String,
    /// Bucket (v2) or database (v1).
    pub bucket: String,
}

impl fmt::Debug for InfluxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxSettings").field("write_url", &self.write_url).finish_non_exhaustive()
    }
}

impl InfluxConfig {
    /// Validates into settings.
    pub fn validate(&self) -> Result<InfluxSettings, ConfigError> {
        let base = self.url.trim_end_matches('/');
        match parse_url(base) {
            Some(("http" | "https", _, _)) => {}
            _ => return Err(err("store.influxdb.url", format!("`{}` is not an http:// or https:// URL", self.url))),
        }
        if self.bucket.is_empty() {
            return Err(err("store.influxdb.bucket", "must not be empty"));
        }
        if self.retry_min_ms == 0 || self.retry_max_ms < self.retry_min_ms {
            return Err(err("store.influxdb.retry_max_ms", "needs 0 < retry_min_ms <= retry_max_ms"));
        }
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let write_url = match self.api.as_str() {
            "v2" => format!("{base}/api/v2/write?org={}&bucket={}&precision=ms", enc(&self.org), enc(&self.bucket)),
            "v1" => format!("{base}/write?db={}&precision=ms", enc(&self.bucket)),
            other => return Err(err("store.influxdb.api", format!("`{other}` is not v2 or v1"))),
        };
        let gzip = match self.content_encoding.as_str() {
            "gzip" => true,
            "identity" | "" => false,
            other => return Err(err("store.influxdb.content_encoding", format!("`{other}` is not gzip or identity"))),
        };
        Ok(InfluxSettings {
            write_url,
            ca_file: (!self.ca_file.is_empty()).then(|| PathBuf::from(&self.ca_file)),
            gzip,
            target: std::sync::Arc::new(InfluxTarget {
                base_url: base.to_owned(),
                api: self.api.clone(),
                org: self.org.clone(),
                bucket: self.bucket.clone(),
            }),
            token: self.token.resolve(&self.token_file, "store.influxdb.token_file")?,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            retry_min: Duration::from_millis(self.retry_min_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
        })
    }
}

/// `[store.embedded]`: the SQLite store under `[data] dir` (see `embedded_store`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedStoreConfig {
    /// Day tables wholly older than this are dropped (checked every minute); at most 366 (the
    /// `points` view is one SELECT per day, and SQLite allows 500).
    #[serde(deserialize_with = "crate::config::duration::days")]
    pub retention_days: u32,
    /// SQLite's `synchronous` for the readings file: `full` (the default) syncs the write-ahead
    /// log on every commit, so a reading acknowledged to the broker survives a power cut;
    /// `normal` does not sync on commit (an acknowledged reading survives a crash of firegrid,
    /// but the last commits before a power cut or kernel crash may be lost).
    pub synchronous: String,
    /// Size cap of the readings file: past it, the oldest day is dropped (never the current
    /// one). 0 = no cap, only `retention_days`.
    pub max_bytes: u64,
}

impl Default for EmbeddedStoreConfig {
    fn default() -> Self {
        EmbeddedStoreConfig { retention_days: 30, synchronous: "full".into(), max_bytes: 0 }
    }
}

impl EmbeddedStoreConfig {
    /// The durability of a commit, from `synchronous`.
    pub fn durability(&self) -> Result<crate::store::embedded::Durability, ConfigError> {
        use crate::store::embedded::Durability;
        match self.synchronous.as_str() {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            other => Err(err(
                "store.embedded.synchronous",
                format!(
                    "`{other}` is not full or normal (full: an acknowledged reading survives a power cut; normal: \
                     only a crash of firegrid)"
                ),
            )),
        }
    }
}

/// `[spool]`: the disk spool that holds batches while the store is unavailable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Size cap on disk; when full, acknowledgements stop and the broker holds the backlog.
    /// 0 disables the spool (batches then wait in memory for the store, with the same backpressure).
    pub max_bytes: u64,
    /// Size of one segment file.
    pub segment_bytes: u64,
    /// `fdatasync` each append before acknowledging: survives a power cut, not only a crash.
    pub fsync: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { max_bytes: 1 << 30, segment_bytes: 64 << 20, fsync: true }
    }
}

impl SpoolConfig {
    /// Validates into settings under `data_dir/spool`, or `None` when disabled.
    pub fn validate(&self, data_dir: &std::path::Path) -> Result<Option<SpoolSettings>, ConfigError> {
        if self.max_bytes == 0 {
            return Ok(None);
        }
        if self.segment_bytes < 1 << 20 || self.segment_bytes > self.max_bytes {
            return Err(err("spool.segment_bytes", "must be at least 1 MiB and at most spool.max_bytes"));
        }
        Ok(Some(SpoolSettings {
            dir: data_dir.join("spool"),
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes,
            fsync: self.fsync,
        }))
    }
}

/// Validated `[spool]`: where and how the disk spool keeps batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// Directory of the segments.
    pub dir: PathBuf,
    /// Size cap on disk.
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// `fdatasync` every append before acknowledging.
    pub fsync: bool,
}
