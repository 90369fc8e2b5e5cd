//! `firegrid check-config --probe`: beyond parsing, reaches what `run` will use — the broker
//! (a login with the configured credentials, TLS and protocol, under a separate client id so the
//! service's own session is left alone), the store (it answers, and its bucket and organization, or its
//! database, exist; nothing is written) and the data directory (where the incident store lives:
//! writable). Each failure is one line that says what to fix.
//!
//! With `[incidents] backend = "postgres"` it also connects to PostgreSQL as `run` would and says
//! the schema version, whether TLS is on and, for a partition, who holds the lease (`postgres`).
//!
//! The store is asked with reqwest, the client firegrid writes with, rather than the influxdb2
//! crate: same TLS roots (`store.influxdb.ca_file`), no second HTTP stack in the build, and the
//! v1 API (`SHOW DATABASES`) that InfluxDB 1.x needs is not in that crate anyway.

use std::path::Path;
use std::time::Duration;

use firegrid_ingest::config::{InfluxSettings, InfluxTarget, MqttProtocol, MqttSettings};
use firegrid_ingest::mqtt::client::{Client, Connection, Event, PollError};
use firegrid_ingest::mqtt::options::{self, OptionsError};
use rumqttc::v5::mqttbytes::v5::ConnectReturnCode;
use rumqttc::v5::ConnectionError;
use serde_json::Value;

use crate::config::{Settings, StoreSettings};

mod postgres;

/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the probes found.
#[derive(Debug, Default)]
pub struct ProbeReport {
    /// Every probe's failure, one line each; empty when everything answered.
    pub failures: Vec<String>,
    /// What they read that the operator should see (the incident store's schema version, TLS,
    /// the partition's lease), one line each.
    pub facts: Vec<String>,
}

/// Runs every probe that applies to `settings`.
pub async fn probe(settings: &Settings) -> ProbeReport {
    let mut report = ProbeReport::default();
    if settings.mqtt.embedded.is_none() {
        report.failures.extend(probe_broker(&settings.mqtt).await);
    }
    if let StoreSettings::Influx(s) = &settings.store {
        report.failures.extend(probe_store(s).await);
    }
    // An ingest instance never opens the incident store: its probe does not ask it.
    let alerting = settings.role.parts().alerting;
    if let (true, firegrid_alerting::store::IncidentBackend::Postgres { url }) = (alerting, &settings.incidents) {
        let partition = settings.partition.as_ref().map(|p| p.name.as_str());
        let (facts, failure) = postgres::probe_incident_store(url, partition).await;
        report.facts.extend(facts);
        report.failures.extend(failure);
    }
    report.failures.extend(probe_data_dir(&settings.data_dir));
    report
}

/// Logs in to the broker as `{client_id}-probe` with a clean, non-persistent session, in the
/// consumer's protocol (`mqtt.protocol`).
async fn probe_broker(m: &MqttSettings) -> Option<String> {
    let at = format!("mqtt.url {}:{}", m.host, m.port);
    let (client, mut conn) = match probe_client(m) {
        Ok(c) => c,
        Err(e) => return Some(format!("{e}")),
    };
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, async {
        loop {
            match conn.poll().await {
                Ok(Event::ConnAck { .. }) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(PollError::V5(e))) => Some(broker_failure(&at, &e)),
        Ok(Err(PollError::V4(e))) => Some(broker_failure_v311(&at, &e)),
        Err(_) => Some(format!("{at}: no answer within {PROBE_TIMEOUT:?} (firewall, or not an MQTT port?)")),
    };
    let _ = client.disconnect().await;
    failure
}

/// The probe's client: the consumer's options under `{client_id}-probe`, with a clean session.
fn probe_client(m: &MqttSettings) -> Result<(Client, Connection), OptionsError> {
    let mut probe = m.clone();
    probe.client_id = format!("{}-probe", m.client_id);
    Ok(match m.protocol {
        MqttProtocol::V5 => {
            let mut o = options::client_options(&probe)?;
            o.set_clean_start(true).set_session_expiry_interval(None);
            let (c, el) = rumqttc::v5::AsyncClient::new(o, 10);
            (Client::V5(c), Connection::V5(Box::new(el)))
        }
        MqttProtocol::V311 => {
            let mut o = options::client_options_v311(&probe)?;
            o.set_clean_session(true);
            let (c, el) = rumqttc::AsyncClient::new(o, 10);
            (Client::V4(c), Connection::V4(Box::new(el)))
        }
    })
}

/// How the broker refused a login, whatever the protocol.
enum Refusal {
    BadUserNamePassword,
    NotAuthorized,
    Other(String),
}

/// What a refused login means for the operator.
fn refused(at: &str, why: Refusal) -> String {
    match why {
        Refusal::BadUserNamePassword => {
            format!("{at}: the broker refused the username or password: check mqtt.username and mqtt.password(_file)")
        }
        // mosquitto answers a wrong password with Not Authorized (0x87; 5 in 3.1.1), not 0x86.
        Refusal::NotAuthorized => format!(
            "{at}: the broker refused the login (not authorized): check mqtt.username and mqtt.password(_file), \
             and that the broker lets this user in"
        ),
        Refusal::Other(code) => format!("{at}: the broker refused the connection ({code})"),
    }
}

/// What a failed MQTT 5 login means for the operator.
fn broker_failure(at: &str, e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            refused(at, Refusal::BadUserNamePassword)
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => refused(at, Refusal::NotAuthorized),
        ConnectionError::ConnectionRefused(code) => refused(at, Refusal::Other(format!("{code:?}"))),
        ConnectionError::Tls(t) => tls_failure(at, t),
        other => format!("{at}: cannot connect: {}", causes(other)),
    }
}

/// What a failed MQTT 3.1.1 login means for the operator.
fn broker_failure_v311(at: &str, e: &rumqttc::ConnectionError) -> String {
    use rumqttc::{ConnectReturnCode as Code, ConnectionError as E};
    match e {
        E::ConnectionRefused(Code::BadUserNamePassword) => refused(at, Refusal::BadUserNamePassword),
        E::ConnectionRefused(Code::NotAuthorized) => refused(at, Refusal::NotAuthorized),
        E::ConnectionRefused(code) => refused(at, Refusal::Other(format!("{code:?}"))),
        E::Tls(t) => tls_failure(at, t),
        other => format!("{at}: cannot connect: {}", causes(other)),
    }
}

fn tls_failure(at: &str, t: &dyn std::fmt::Display) -> String {
    format!("{at}: TLS failed ({t}): check mqtt.ca_file, mqtt.tls_cert_file and mqtt.tls_key_file")
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
