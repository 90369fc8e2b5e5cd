//! Configuration of the ingest components (`[mqtt]`, `[store]`, `[ingest]` of firegrid.toml,
//! DESIGN §7). Each struct is what the file says, with defaults and documented keys; each
//! `validate` turns it into typed settings or says which key is wrong and how to fix it.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::payload::Limits;
use crate::topic::is_county_code;

/// A configuration value that is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `mqtt.url`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), message: message.into() }
}

/// A secret string: serialized as given, never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"<redacted>\"" })
    }
}

impl Secret {
    /// The secret from the value, else from the first line of `file` (when set).
    pub fn resolve(&self, file: &str, key: &str) -> Result<String, ConfigError> {
        if !self.0.is_empty() {
            return Ok(self.0.clone());
        }
        if file.is_empty() {
            return Ok(String::new());
        }
        let text =
            std::fs::read_to_string(file).map_err(|e| err(key, format!("cannot read secret file {file}: {e}")))?;
        Ok(text.lines().next().unwrap_or("").trim().to_owned())
    }
}

/// `[mqtt]`: the broker connection and subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:port` (plain), `mqtts://host:port` (TLS), or `embedded`: firegrid starts an
    /// MQTT broker in-process on `embedded_listen`, which external publishers can use too.
    pub url: String,
    /// Where the embedded broker listens (with `url = "embedded"`).
    pub embedded_listen: String,
    /// CSV `username,password` (mode 0600) of the clients the embedded broker lets in; empty =
    /// anonymous clients, allowed only on a loopback `embedded_listen` (checked by the binary).
    pub embedded_users_file: String,
    /// Fixed client id: the broker keeps this session's queue while firegrid is away.
    pub client_id: String,
    /// Topic prefix of every firegrid topic.
    pub topic_prefix: String,
    /// County codes to subscribe to; empty = all (one filter for the whole prefix).
    pub counties: Vec<String>,
    /// Non-empty = subscribe as `$share/{group}/…` so several instances split the load.
    pub shared_group: String,
    /// Username; empty = anonymous.
    pub username: String,
    /// Password; prefer `FIREGRID_MQTT__PASSWORD` or `password_file`.
    pub password: Secret,
    /// File whose first line is the password.
    pub password_file: String,
    /// PEM file of the CA that signed the broker's certificate (mqtts); empty = system roots.
    pub ca_file: String,
    /// MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once (1–65535).
    pub receive_maximum: u16,
    /// How long the broker keeps the session (and queues messages) while firegrid is away.
    pub session_expiry_seconds: u32,
    /// Keep-alive interval.
    pub keep_alive_seconds: u64,
    /// First reconnect delay; doubles per failure.
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay (firegrid never gives up).
    pub reconnect_max_ms: u64,
    /// Largest packet firegrid accepts from the broker (MQTT 5 Maximum Packet Size).
    pub max_packet_bytes: u32,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            embedded_listen: "127.0.0.1:1883".into(),
            embedded_users_file: String::new(),
            client_id: "firegrid".into(),
            topic_prefix: "firegrid/v1".into(),
            counties: Vec::new(),
            shared_group: String::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            ca_file: String::new(),
            receive_maximum: 10_000,
            session_expiry_seconds: 7 * 24 * 3600,
            keep_alive_seconds: 30,
            reconnect_min_ms: 100,
            reconnect_max_ms: 10_000,
            max_packet_bytes: 64 * 1024,
        }
    }
}

/// Validated `[mqtt]`.
#[derive(Clone, PartialEq)]
pub struct MqttSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS on, with an optional CA file.
    pub tls: Option<Option<PathBuf>>,
    /// Start the embedded broker on this address first.
    pub embedded: Option<std::net::SocketAddr>,
    /// Client id.
    pub client_id: String,
    /// Topic prefix, no trailing slash.
    pub topic_prefix: String,
    /// Subscription filters.
    pub subscriptions: Vec<String>,
    /// Username and password, when set.
    pub credentials: Option<(String, String)>,
    /// Receive Maximum.
    pub receive_maximum: u16,
    /// Session expiry.
    pub session_expiry_seconds: u32,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Reconnect backoff bounds.
    pub reconnect_min: Duration,
    /// Reconnect backoff cap.
    pub reconnect_max: Duration,
    /// Maximum packet size accepted.
    pub max_packet_bytes: u32,
}

impl fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("client_id", &self.client_id)
            .field("subscriptions", &self.subscriptions)
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

/// Splits `scheme://host:port` into its parts (IPv6 hosts in brackets).
pub fn parse_url(url: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains('/') {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((scheme, host, port))
}

impl MqttConfig {
    /// Validates into settings.
    pub fn validate(&self) -> Result<MqttSettings, ConfigError> {
        let bad_url =
            || err("mqtt.url", format!("`{}` is not mqtt://host:port, mqtts://host:port or embedded", self.url));
        let (embedded, host, port, tls) = if self.url == "embedded" {
            let addr: std::net::SocketAddr = self
                .embedded_listen
                .parse()
                .map_err(|_| err("mqtt.embedded_listen", format!("`{}` is not host:port", self.embedded_listen)))?;
            (Some(addr), addr.ip().to_string(), addr.port(), None)
        } else {
            let (scheme, host, port) = parse_url(&self.url).ok_or_else(bad_url)?;
            let (tls, default_port) = match scheme {
                "mqtt" | "tcp" => (None, 1883),
                "mqtts" | "ssl" => (Some((!self.ca_file.is_empty()).then(|| PathBuf::from(&self.ca_file))), 8883),
                _ => return Err(bad_url()),
            };
            (None, host.to_owned(), port.unwrap_or(default_port), tls)
        };
        if self.client_id.is_empty() || self.client_id.len() > 128 {
            return Err(err("mqtt.client_id", "must be 1-128 characters and fixed across restarts"));
        }
        let prefix = self.topic_prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(err("mqtt.topic_prefix", "must be a non-empty topic without wildcards"));
        }
        for c in &self.counties {
            if !is_county_code(c) {
                return Err(err("mqtt.counties", format!("`{c}` is not a 6-digit county code")));
            }
        }
        if self.shared_group.contains(['/', '+', '#']) {
            return Err(err("mqtt.shared_group", "must not contain / + or #"));
        }
        if self.receive_maximum == 0 {
            return Err(err("mqtt.receive_maximum", "must be 1-65535"));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(err("mqtt.reconnect_max_ms", "needs 0 < reconnect_min_ms <= reconnect_max_ms"));
        }
        let password = self.password.resolve(&self.password_file, "mqtt.password_file")?;
        let credentials = (!self.username.is_empty()).then(|| (self.username.clone(), password));
        Ok(MqttSettings {
            host,
            port,
            tls,
            embedded,
            client_id: self.client_id.clone(),
            topic_prefix: prefix.to_owned(),
            subscriptions: crate::topic::subscriptions(prefix, &self.counties, &self.shared_group),
            credentials,
            receive_maximum: self.receive_maximum,
            session_expiry_seconds: self.session_expiry_seconds,
            keep_alive: Duration::from_secs(self.keep_alive_seconds.max(5)),
            reconnect_min: Duration::from_millis(self.reconnect_min_ms),
            reconnect_max: Duration::from_millis(self.reconnect_max_ms),
            max_packet_bytes: self.max_packet_bytes.max(4096),
        })
    }
}

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
    pub timeout_ms: u64,
    /// First retry delay; doubles per failure.
    pub retry_min_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
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
    /// Retry backoff start.
    pub retry_min: Duration,
    /// Retry backoff cap.
    pub retry_max: Duration,
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
        Ok(InfluxSettings {
            write_url,
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
    /// Points older than this are deleted (checked hourly).
    pub retention_days: u32,
}

impl Default for EmbeddedStoreConfig {
    fn default() -> Self {
        EmbeddedStoreConfig { retention_days: 30 }
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
    pub fn validate(&self, data_dir: &std::path::Path) -> Result<Option<crate::spool::SpoolSettings>, ConfigError> {
        if self.max_bytes == 0 {
            return Ok(None);
        }
        if self.segment_bytes < 1 << 20 || self.segment_bytes > self.max_bytes {
            return Err(err("spool.segment_bytes", "must be at least 1 MiB and at most spool.max_bytes"));
        }
        Ok(Some(crate::spool::SpoolSettings {
            dir: data_dir.join("spool"),
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes,
            fsync: self.fsync,
        }))
    }
}

/// `[ingest]`: payload limits and batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest payload accepted; larger ones are dead-lettered as `too_large`.
    pub max_payload_bytes: usize,
    /// How far in the future a reading's `ts` may lie.
    pub max_future_seconds: u64,
    /// How far in the past a reading's `ts` may lie.
    pub max_past_seconds: u64,
    /// A batch is written when it holds this many lines…
    pub batch_max_lines: usize,
    /// …or when its oldest line is this old…
    pub batch_max_age_ms: u64,
    /// …or when its unacknowledged messages reach this share (percent) of the broker's window…
    pub batch_window_percent: u8,
    /// …or when no message has come for this long: a broker whose real window is smaller than
    /// `receive_maximum` (rumqttd's is 100) pauses until acks come, and this keeps it fed.
    pub batch_idle_ms: u64,
    /// Batches queued for the writer; when full, intake waits (backpressure, nothing dropped).
    pub pending_batches: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_payload_bytes: 4096,
            max_future_seconds: 300,
            max_past_seconds: 7 * 24 * 3600,
            batch_max_lines: 5000,
            batch_max_age_ms: 1000,
            batch_window_percent: 50,
            batch_idle_ms: 10,
            pending_batches: 4,
        }
    }
}

/// Validated `[ingest]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    /// Decoder limits.
    pub limits: Limits,
    /// Lines per batch.
    pub batch_max_lines: NonZeroUsize,
    /// Age of a batch.
    pub batch_max_age: Duration,
    /// Share of the receive window at which a batch is flushed.
    pub batch_window_percent: u8,
    /// Idle time after which a batch with unacknowledged messages is flushed.
    pub batch_idle: Duration,
    /// Writer queue length.
    pub pending_batches: NonZeroUsize,
}

impl IngestConfig {
    /// Validates into settings.
    pub fn validate(&self) -> Result<IngestSettings, ConfigError> {
        let nz = |v: usize, key: &str| NonZeroUsize::new(v).ok_or_else(|| err(key, "must be at least 1"));
        if self.max_payload_bytes < 64 {
            return Err(err("ingest.max_payload_bytes", "must be at least 64"));
        }
        if !(1..=100).contains(&self.batch_window_percent) {
            return Err(err("ingest.batch_window_percent", "must be 1-100"));
        }
        Ok(IngestSettings {
            limits: Limits {
                max_payload_bytes: self.max_payload_bytes,
                max_future: Duration::from_secs(self.max_future_seconds),
                max_past: Duration::from_secs(self.max_past_seconds),
            },
            batch_max_lines: nz(self.batch_max_lines, "ingest.batch_max_lines")?,
            batch_max_age: Duration::from_millis(self.batch_max_age_ms.max(1)),
            batch_window_percent: self.batch_window_percent,
            batch_idle: Duration::from_millis(self.batch_idle_ms.max(1)),
            pending_batches: nz(self.pending_batches, "ingest.pending_batches")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_host_and_port() {
        assert_eq!(parse_url("mqtt://127.0.0.1:1883"), Some(("mqtt", "127.0.0.1", Some(1883))));
        assert_eq!(parse_url("mqtts://broker.example"), Some(("mqtts", "broker.example", None)));
        assert_eq!(parse_url("mqtt://[::1]:1884"), Some(("mqtt", "::1", Some(1884))));
        assert_eq!(parse_url("http://h:8428/"), Some(("http", "h", Some(8428))));
        assert_eq!(parse_url("h:1883"), None);
        assert_eq!(parse_url("mqtt://h:99999"), None);
    }

    #[test]
    fn the_defaults_validate_and_bad_values_name_their_key() {
        let s = MqttConfig::default().validate().expect("defaults valid");
        assert_eq!((s.host.as_str(), s.port, s.tls.is_none()), ("127.0.0.1", 1883, true));
        assert_eq!(s.embedded, None);
        let emb = MqttConfig { url: "embedded".into(), embedded_listen: "127.0.0.1:1999".into(), ..Default::default() };
        let emb = emb.validate().expect("valid");
        assert_eq!((emb.host.as_str(), emb.port, emb.embedded.map(|a| a.port())), ("127.0.0.1", 1999, Some(1999)));
        assert_eq!(s.subscriptions, vec!["firegrid/v1/+/+/+/+"]);
        let tls = MqttConfig { url: "mqtts://b".into(), ..Default::default() }.validate().expect("tls");
        assert_eq!((tls.port, tls.tls), (8883, Some(None)));
        let e = MqttConfig { url: "http://x".into(), ..Default::default() }.validate().expect_err("bad");
        assert_eq!(e.key, "mqtt.url");
        let e = MqttConfig { counties: vec!["5001".into()], ..Default::default() }.validate().expect_err("bad");
        assert_eq!(e.key, "mqtt.counties");
        let i = InfluxConfig { org: "org 1".into(), ..Default::default() }.validate().expect("valid");
        assert_eq!(i.write_url, "http://127.0.0.1:8086/api/v2/write?org=org%201&bucket=firegrid&precision=ms");
        let v1 = InfluxConfig { api: "v1".into(), ..Default::default() }.validate().expect("valid");
        assert_eq!(v1.write_url, "http://127.0.0.1:8086/write?db=firegrid&precision=ms");
        let e = IngestConfig { batch_max_lines: 0, ..Default::default() }.validate().expect_err("bad");
        assert_eq!(e.key, "ingest.batch_max_lines");
    }

    #[test]
    fn secrets_never_show_in_debug_output_and_can_come_from_a_file() {
        let c = MqttConfig { username: "u".into(), password: Secret("hunter2".into()), ..Default::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", c.validate().expect("valid")).contains("hunter2"));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("tok");
        std::fs::write(&f, "s3cret\n").expect("write");
        let i = InfluxConfig { token_file: f.display().to_string(), ..Default::default() };
        assert_eq!(i.validate().expect("valid").token, "s3cret");
    }
}
