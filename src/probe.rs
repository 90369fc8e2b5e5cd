//! `firegrid check-config --probe`: beyond parsing, reaches what `run` will use — the broker
//! (a login with the configured credentials and TLS, under a separate client id so the service's
//! own session is left alone), the store (it answers, and its bucket and organization, or its
//! database, exist; nothing is written) and the data directory (where the incident store lives:
//! writable). Each failure is one line that says what to fix.
//!
//! The store is asked with reqwest, the client firegrid writes with, rather than the influxdb2
//! crate: same TLS roots (`store.influxdb.ca_file`), no second HTTP stack in the build, and the
//! v1 API (`SHOW DATABASES`) that InfluxDB 1.x needs is not in that crate anyway.

use std::path::Path;
use std::time::Duration;

use firegrid_ingest::config::{InfluxSettings, InfluxTarget, MqttSettings};
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event};
use serde_json::Value;

use crate::config::{Settings, StoreSettings};

/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every probe's failure, one line each; empty when everything answered.
pub async fn probe(settings: &Settings) -> Vec<String> {
    let mut failures = Vec::new();
    if settings.mqtt.embedded.is_none() {
        failures.extend(probe_broker(&settings.mqtt).await);
    }
    if let StoreSettings::Influx(s) = &settings.store {
        failures.extend(probe_store(s).await);
    }
    failures.extend(probe_data_dir(&settings.data_dir));
    failures
}

/// Logs in to the broker as `{client_id}-probe` with a clean, non-persistent session.
async fn probe_broker(m: &MqttSettings) -> Option<String> {
    let at = format!("mqtt.url {}:{}", m.host, m.port);
    let mut options = match firegrid_ingest::mqtt::options::client_options(m) {
        Ok(o) => o,
        Err(e) => return Some(format!("{e}")),
    };
    options.set_client_id(format!("{}-probe", m.client_id)).set_clean_start(true).set_session_expiry_interval(None);
    let (client, mut el) = AsyncClient::new(options, 10);
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(broker_failure(&at, &e)),
        Err(_) => Some(format!("{at}: no answer within {PROBE_TIMEOUT:?} (firewall, or not an MQTT port?)")),
    };
    let _ = client.try_disconnect();
    failure
}

/// What a failed login means for the operator.
fn broker_failure(at: &str, e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            format!("{at}: the broker refused the username or password: check mqtt.username and mqtt.password(_file)")
        }
        // mosquitto answers a wrong password with Not Authorized (0x87), not 0x86.
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => format!(
            "{at}: the broker refused the login (not authorized): check mqtt.username and mqtt.password(_file), \
             and that the broker lets this user in"
        ),
        ConnectionError::ConnectionRefused(code) => format!("{at}: the broker refused the connection ({code:?})"),
        ConnectionError::Tls(t) => {
            format!("{at}: TLS failed ({t}): check mqtt.ca_file, mqtt.tls_cert_file and mqtt.tls_key_file")
        }
        other => format!("{at}: cannot connect: {}", causes(other)),
    }
}

/// An error with its causes.
fn causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// Asks the store whether it answers and whether the bucket (v2) or database (v1) exists.
async fn probe_store(settings: &InfluxSettings) -> Option<String> {
    let s = &*settings.target;
    let at = format!("store.influxdb.url {}", s.base_url);
    let mut builder = reqwest::Client::builder().timeout(PROBE_TIMEOUT);
    if let Some(ca) = &settings.ca_file {
        builder = match firegrid_ingest::ca_file::trust_ca_file(builder, ca, "store.influxdb.ca_file") {
            Ok(b) => b,
            Err(e) => return Some(e.to_string()),
        };
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return Some(format!("{at}: cannot build an HTTP client: {e}")),
    };
    let (url, query): (String, Vec<(&str, &str)>) = if s.api == "v1" {
        (format!("{}/query", s.base_url), vec![("q", "SHOW DATABASES")])
    } else {
        (format!("{}/api/v2/buckets", s.base_url), vec![("org", &s.org), ("name", &s.bucket)])
    };
    let mut req = client.get(&url).query(&query);
    if !settings.token.is_empty() {
        req = req.header(reqwest::header::AUTHORIZATION, format!("Token {}", settings.token));
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Some(format!("{at}: unreachable: {}", causes(&e))),
    };
    let status = resp.status().as_u16();
    let body: Option<Value> = resp.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
    store_verdict(&at, s, status, body.as_ref())
}

/// The store's answer to the listing, judged. VictoriaMetrics answers 400 without JSON to both
/// listings: it takes any bucket and database, so nothing is missing there.
pub(crate) fn store_verdict(at: &str, s: &InfluxTarget, status: u16, body: Option<&Value>) -> Option<String> {
    let message = || body.and_then(|b| b["message"].as_str().or(b["error"].as_str())).unwrap_or("").to_owned();
    match (status, body) {
        (401 | 403, _) => Some(format!("{at}: HTTP {status}, the token is refused: check store.influxdb.token(_file)")),
        (200, Some(b)) if s.api == "v1" => {
            let names: Vec<&str> = b["results"][0]["series"][0]["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|row| row[0].as_str())
                .collect();
            (!names.contains(&s.bucket.as_str())).then(|| {
                format!(
                    "store.influxdb.bucket: database `{}` does not exist on {} (has: {}): CREATE DATABASE it or fix the name",
                    s.bucket,
                    s.base_url,
                    names.join(", ")
                )
            })
        }
        (200, Some(b)) => b["buckets"].as_array().is_none_or(Vec::is_empty).then(|| {
            format!(
                "store.influxdb.bucket: bucket `{}` does not exist in org `{}`: create it or fix the name",
                s.bucket, s.org
            )
        }),
        (404, Some(_)) => Some(format!("store.influxdb.org: {}: fix store.influxdb.org", message())),
        (400 | 404, None) => None,
        (_, _) => Some(format!("{at}: HTTP {status} {}", message())),
    }
}

/// The data directory (spool, incident store) can be created and written.
fn probe_data_dir(dir: &Path) -> Option<String> {
    let fail =
        |e: std::io::Error| Some(format!("data.dir {}: {e}: firegrid must be able to write there", dir.display()));
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(e);
    }
    let probe = dir.join(".firegrid-probe");
    match std::fs::write(&probe, b"probe\n").and_then(|()| std::fs::remove_file(&probe)) {
        Ok(()) => None,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(api: &str) -> InfluxTarget {
        let c = firegrid_ingest::config::InfluxConfig { api: api.into(), ..Default::default() };
        (*c.validate().expect("valid").target).clone()
    }

    #[test]
    fn the_store_listing_says_what_is_missing() {
        let v1 = settings("v1");
        let dbs = serde_json::json!({"results":[{"series":[{"values":[["_internal"],["other"]]}]}]});
        let miss = store_verdict("s", &v1, 200, Some(&dbs)).expect("missing");
        assert!(miss.contains("database `firegrid` does not exist") && miss.contains("_internal, other"), "{miss}");
        let ok = serde_json::json!({"results":[{"series":[{"values":[["firegrid"]]}]}]});
        assert_eq!(store_verdict("s", &v1, 200, Some(&ok)), None);
        let v2 = settings("v2");
        let none = serde_json::json!({"buckets": []});
        assert!(store_verdict("s", &v2, 200, Some(&none)).expect("missing").contains("bucket `firegrid`"));
        let org = serde_json::json!({"code":"not found","message":"organization name \"x\" not found"});
        assert!(store_verdict("s", &v2, 404, Some(&org)).expect("org").contains("organization name"));
        assert_eq!(store_verdict("s", &v2, 400, None), None, "VictoriaMetrics takes any bucket");
        assert!(store_verdict("s", &v2, 401, None).expect("token").contains("token"));
    }
}
