//! `[mqtt]`: the broker connection and the subscriptions.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{err, parse_url, ConfigError, Secret, TlsSettings};
use crate::model::codes::is_county_code;

/// `[mqtt]`: the broker connection and subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:port` (plain), `mqtts://host:port` (TLS), or `embedded`: firegrid starts an
    /// MQTT broker in-process on `embedded_listen`, which external publishers can use too.
    pub url: String,
    /// The consumer's MQTT version: `"5"` (the default) or `"3.1.1"` for brokers that speak
    /// nothing newer. 3.1.1 has no Receive Maximum (the broker's in-flight setting bounds the
    /// window), no session expiry (the broker's setting keeps the session) and no retain
    /// handling (replayed retained messages are acknowledged and dropped): DESIGN §8.
    pub protocol: String,
    /// Where the embedded broker listens (with `url = "embedded"`).
    pub embedded_listen: String,
    /// CSV `username,password` (mode 0600) of the clients the embedded broker lets in; empty =
    /// anonymous clients, allowed only on a loopback `embedded_listen` (checked by the binary).
    pub embedded_users_file: String,
    /// Bytes of topic and payload the embedded broker keeps per subscribed filter in memory
    /// (its log; a subscriber further behind loses the oldest). Each message held costs about
    /// three times what it counts: budget ~3× this in RSS under a sustained stream. Checked
    /// (5 MiB to 4 GiB) by the binary.
    pub embedded_log_bytes: u64,
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
    /// PEM client certificate (chain) for mutual TLS (mqtts); set together with `tls_key_file`.
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file` (PKCS#8, PKCS#1 or SEC1); keep it mode 0600.
    pub tls_key_file: String,
    /// Accept any broker certificate, unchecked (mqtts). For test benches only: anyone on the
    /// path can read and forge traffic. firegrid logs a warning at every connection setup.
    pub tls_insecure_skip_verify: bool,
    /// MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once (1–65535).
    pub receive_maximum: u16,
    /// Messages the MQTT event loop holds, in order, when a broker sends past the window while
    /// the reading (or control) queue is full (mosquitto 2.0.11 does: docs/guarantees.md
    /// "Memory"). Holding them lets it keep polling the connection, so acks and keep-alive pings
    /// flow; only when this many are held does it stop reading until one leaves (counted in
    /// `firegrid_mqtt_overflow_full_total`, logged `mqtt_overflow_full`). Each held message costs
    /// its topic and payload plus about 150 bytes. 1 to 10,000,000.
    pub overflow_max_messages: u32,
    /// How long the broker keeps the session (and queues messages) while firegrid is away.
    #[serde(deserialize_with = "crate::config::duration::seconds")]
    pub session_expiry_seconds: u32,
    /// Keep-alive interval.
    #[serde(deserialize_with = "crate::config::duration::seconds")]
    pub keep_alive_seconds: u64,
    /// First reconnect delay; doubles per failure. Each delay is jittered between half its value
    /// and its value ([`crate::backoff`]), so clients that lost the broker together spread out.
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay before jitter (firegrid never gives up).
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub reconnect_max_ms: u64,
    /// Largest packet firegrid accepts from the broker (MQTT 5 Maximum Packet Size).
    pub max_packet_bytes: u32,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            protocol: "5".into(),
            embedded_listen: "127.0.0.1:1883".into(),
            embedded_users_file: String::new(),
            embedded_log_bytes: 80 << 20,
            client_id: "firegrid".into(),
            topic_prefix: "firegrid/v1".into(),
            counties: Vec::new(),
            shared_group: String::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_insecure_skip_verify: false,
            receive_maximum: 10_000,
            overflow_max_messages: DEFAULT_OVERFLOW_MAX_MESSAGES,
            session_expiry_seconds: 7 * 24 * 3600,
            keep_alive_seconds: 30,
            reconnect_min_ms: 100,
            reconnect_max_ms: 10_000,
            max_packet_bytes: 64 * 1024,
        }
    }
}

/// The default `mqtt.overflow_max_messages`. Not tied to the window: the reading queue already
/// holds a window of messages for the pipeline, so the overflow does not pace intake; it only
/// keeps the event loop polling (acks and pings flowing) between two moves of a full queue, and
/// a full overflow stops reading only until the pipeline takes one message. Each held message
/// costs a 136-byte slot and its share of a read buffer: in the 200,000-reading release drain,
/// 1,000 instead of 10,000 took 5 MiB off the peak RSS at the same rate (README "Benchmarks").
const DEFAULT_OVERFLOW_MAX_MESSAGES: u32 = 1_000;

/// The most `mqtt.overflow_max_messages` may be (a few GB of messages).
const OVERFLOW_MAX_MESSAGES_LIMIT: u32 = 10_000_000;

/// The consumer's MQTT version (`mqtt.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MqttProtocol {
    /// MQTT 5: Receive Maximum, session expiry, retain handling.
    #[default]
    V5,
    /// MQTT 3.1.1: the broker's settings bound the window and keep the session.
    V311,
}

impl MqttProtocol {
    /// Parses the `mqtt.protocol` value.
    fn parse(value: &str) -> Result<MqttProtocol, ConfigError> {
        match value {
            "5" | "5.0" => Ok(MqttProtocol::V5),
            "3.1.1" | "4" => Ok(MqttProtocol::V311),
            other => Err(err("mqtt.protocol", format!("`{other}` is not \"5\" or \"3.1.1\""))),
        }
    }
}

/// Validated `[mqtt]`.
#[derive(Clone, PartialEq)]
pub struct MqttSettings {
    /// The consumer's MQTT version.
    pub protocol: MqttProtocol,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS on (`mqtts://`), with its CA, client certificate and verification choice.
    pub tls: Option<TlsSettings>,
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
    /// The most messages the event loop's overflow holds per destination queue.
    pub overflow_max_messages: usize,
    /// Session expiry.
    pub session_expiry_seconds: u32,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// First reconnect delay (before jitter).
    pub reconnect_min: Duration,
    /// Longest reconnect delay (before jitter).
    pub reconnect_max: Duration,
    /// Maximum packet size accepted.
    pub max_packet_bytes: u32,
}

impl fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("client_id", &self.client_id)
            .field("subscriptions", &self.subscriptions)
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

impl MqttConfig {
    /// Whether any of the TLS keys is set.
    fn has_tls_keys(&self) -> bool {
        !self.ca_file.is_empty()
            || !self.tls_cert_file.is_empty()
            || !self.tls_key_file.is_empty()
            || self.tls_insecure_skip_verify
    }

    /// The TLS keys of an `mqtts://` URL, checked for a certificate without its key and back.
    fn tls_settings(&self) -> Result<TlsSettings, ConfigError> {
        let path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        let client_auth = match (path(&self.tls_cert_file), path(&self.tls_key_file)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err(err("mqtt.tls_key_file", "tls_cert_file is set: set its private key too")),
            (None, Some(_)) => return Err(err("mqtt.tls_cert_file", "tls_key_file is set: set its certificate too")),
        };
        Ok(TlsSettings {
            ca_file: path(&self.ca_file),
            client_auth,
            insecure_skip_verify: self.tls_insecure_skip_verify,
        })
    }

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
                "mqtts" | "ssl" => (Some(self.tls_settings()?), 8883),
                _ => return Err(bad_url()),
            };
            (None, host.to_owned(), port.unwrap_or(default_port), tls)
        };
        if tls.is_none() && self.has_tls_keys() {
            return Err(err(
                "mqtt.url",
                format!(
                    "`{}` is plain MQTT but TLS keys are set: use mqtts://host:8883, or remove ca_file/tls_*",
                    self.url
                ),
            ));
        }
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
        if self.overflow_max_messages == 0 || self.overflow_max_messages > OVERFLOW_MAX_MESSAGES_LIMIT {
            return Err(err(
                "mqtt.overflow_max_messages",
                format!("{} is not 1-{OVERFLOW_MAX_MESSAGES_LIMIT} messages", self.overflow_max_messages),
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(err("mqtt.reconnect_max_ms", "needs 0 < reconnect_min_ms <= reconnect_max_ms"));
        }
        let password = self.password.resolve(&self.password_file, "mqtt.password_file")?;
        let credentials = (!self.username.is_empty()).then(|| (self.username.clone(), password));
        Ok(MqttSettings {
            protocol: MqttProtocol::parse(&self.protocol)?,
            host,
            port,
            tls,
            embedded,
            client_id: self.client_id.clone(),
            topic_prefix: prefix.to_owned(),
            subscriptions: crate::wire::topic::subscriptions(prefix, &self.counties, &self.shared_group),
            credentials,
            receive_maximum: self.receive_maximum,
            overflow_max_messages: usize::try_from(self.overflow_max_messages).unwrap_or(usize::MAX),
            session_expiry_seconds: self.session_expiry_seconds,
            keep_alive: Duration::from_secs(self.keep_alive_seconds.max(5)),
            reconnect_min: Duration::from_millis(self.reconnect_min_ms),
            reconnect_max: Duration::from_millis(self.reconnect_max_ms),
            max_packet_bytes: self.max_packet_bytes.max(4096),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_5_or_3_1_1_and_anything_else_names_the_key() {
        let mut c = MqttConfig::default();
        assert_eq!(c.validate().map(|s| s.protocol).ok(), Some(MqttProtocol::V5));
        c.protocol = "3.1.1".into();
        assert_eq!(c.validate().map(|s| s.protocol).ok(), Some(MqttProtocol::V311));
        c.protocol = "3.1".into();
        let e = c.validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("mqtt.protocol") && e.contains("3.1.1"), "{e}");
    }

    #[test]
    fn the_overflow_bound_is_one_to_ten_million_messages_and_anything_else_names_the_key() {
        let mut c = MqttConfig::default();
        assert_eq!(c.validate().map(|s| s.overflow_max_messages).ok(), Some(1_000));
        for (value, ok) in [(1, true), (10_000_000, true), (0, false), (10_000_001, false)] {
            c.overflow_max_messages = value;
            match c.validate() {
                Ok(s) => assert!(ok && s.overflow_max_messages == value as usize, "{value} accepted"),
                Err(e) => assert!(!ok && e.to_string().starts_with("mqtt.overflow_max_messages"), "{value}: {e}"),
            }
        }
    }
}
