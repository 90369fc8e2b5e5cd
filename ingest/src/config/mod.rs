//! Configuration of the ingest components (`[mqtt]`, `[store]`, `[spool]`, `[ingest]` of
//! firegrid.toml, DESIGN §7). Each `…Config` struct is what the file says, with defaults and
//! documented keys; its `validate` turns it into the typed `…Settings` the component takes, or
//! says which key is wrong and how to fix it. Components never see the file.
//!
//! - this file: the error, secrets and URL splitting every section uses;
//! - `mqtt`: `[mqtt]`; `tls`: the validated TLS keys of `[mqtt]`; `store`: `[store.influxdb]`, `[store.embedded]`, `[spool]`; `ingest`: `[ingest]`.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod duration;
mod ingest;
mod mqtt;
mod store;
mod tls;

pub use ingest::{IngestConfig, IngestSettings};
pub use mqtt::{MqttConfig, MqttProtocol, MqttSettings};
pub use store::{EmbeddedStoreConfig, InfluxConfig, InfluxSettings, InfluxTarget, SpoolConfig, SpoolSettings};
pub use tls::TlsSettings;

/// A configuration value that is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `mqtt.url`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

pub(crate) fn err(key: &str, message: impl Into<String>) -> ConfigError {
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

/// Splits `scheme://host:port` into its parts (IPv6 hosts in brackets).
pub(crate) fn parse_url(url: &str) -> Option<(&str, &str, Option<u16>)> {
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
        assert_eq!((tls.port, tls.tls), (8883, Some(TlsSettings::default())));
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
    fn a_client_certificate_needs_its_key_and_tls_keys_need_an_mqtts_url() {
        let base = || MqttConfig { url: "mqtts://b:8884".into(), ..Default::default() };
        let e = MqttConfig { tls_cert_file: "c.pem".into(), ..base() }.validate().expect_err("no key");
        assert_eq!(e.key, "mqtt.tls_key_file");
        let e = MqttConfig { tls_key_file: "k.pem".into(), ..base() }.validate().expect_err("no cert");
        assert_eq!(e.key, "mqtt.tls_cert_file");
        let both = MqttConfig { tls_cert_file: "c.pem".into(), tls_key_file: "k.pem".into(), ..base() };
        let tls = both.validate().expect("valid").tls.expect("tls on");
        assert_eq!(tls.client_auth, Some(("c.pem".into(), "k.pem".into())));
        for plain in [
            MqttConfig { ca_file: "ca.pem".into(), ..Default::default() },
            MqttConfig { tls_insecure_skip_verify: true, ..Default::default() },
        ] {
            let e = plain.validate().expect_err("TLS keys on mqtt://");
            assert!(e.key == "mqtt.url" && e.message.contains("mqtts://"), "{e}");
        }
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
