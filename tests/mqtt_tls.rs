//! Mutual TLS to a real mosquitto whose TLS listener has `require_certificate true`, with
//! certificates the test makes: firegrid with its client certificate consumes readings into
//! VictoriaMetrics; a client without a certificate, or with one a stranger's CA signed, is refused;
//! a broker certificate from an unknown CA is refused unless `tls_insecure_skip_verify` is on.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use firegrid_ingest::config::TlsSettings;
use rumqttc::v5::{mqttbytes::v5::Packet, AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use support::fleet;
use support::tls::TestPki;
use support::{Mosquitto, MosquittoOptions, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

/// Whether an MQTT 5 client with `tls` gets a CONNACK from `port` (false: refused in the handshake).
async fn connects(port: u16, tls: &TlsSettings) -> Result<bool> {
    let mut o = MqttOptions::new("tls-probe", "127.0.0.1", port);
    let config = firegrid_ingest::mqtt::tls::client_config(tls)?;
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    let (_client, mut el) = AsyncClient::new(o, 10);
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    match outcome {
        Ok(connected) => Ok(connected),
        Err(_) => bail!("neither a CONNACK nor an error within 10 s"),
    }
}

fn with_client(pki: &TestPki, client: &(std::path::PathBuf, std::path::PathBuf)) -> TlsSettings {
    TlsSettings { ca_file: Some(pki.ca.clone()), client_auth: Some(client.clone()), insecure_skip_verify: false }
}

async fn mtls_broker(dir: &Path) -> Result<(TestPki, Mosquitto, u16)> {
    let pki = TestPki::generate(dir)?;
    let tls_port = support::free_port()?;
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra_config: pki.mosquitto_mtls_listener(tls_port),
        ..Default::default()
    })
    .await?;
    Ok((pki, broker, tls_port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_client_with_a_certificate_from_the_brokers_ca_gets_in() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (pki, _broker, port) = mtls_broker(dir.path()).await?;
    ensure!(connects(port, &with_client(&pki, &pki.client)).await?, "the CA's client certificate is accepted");
    let no_cert = TlsSettings { ca_file: Some(pki.ca.clone()), ..Default::default() };
    ensure!(!connects(port, &no_cert).await?, "a client without a certificate is refused");
    ensure!(!connects(port, &with_client(&pki, &pki.stranger)).await?, "a stranger CA's certificate is refused");
    // The broker's certificate checked against the system roots (not our CA): refused by firegrid…
    let system_roots =
        TlsSettings { ca_file: None, client_auth: Some(pki.client.clone()), insecure_skip_verify: false };
    ensure!(!connects(port, &system_roots).await?, "an unknown CA's broker certificate is refused");
    // …unless verification is turned off (test benches).
    let insecure = TlsSettings { insecure_skip_verify: true, ..system_roots };
    ensure!(connects(port, &insecure).await?, "tls_insecure_skip_verify accepts it");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firegrid_consumes_readings_over_mutual_tls() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let (pki, broker, tls_port) = mtls_broker(dir.path()).await?;
        let vm = VictoriaMetrics::start().await?;
        let devices = fleet::devices(20);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let url = format!("mqtts://127.0.0.1:{tls_port}");
        let mut c = fleet::harness_config(dir.path(), &reg, &url, &vm.url(), "firegrid-mtls");
        c.mqtt.ca_file = pki.ca.display().to_string();
        c.mqtt.tls_cert_file = pki.client.0.display().to_string();
        c.mqtt.tls_key_file = pki.client.1.display().to_string();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let base = format!("http://{}", running.http_addr);
        support::eventually(Duration::from_secs(15), || async {
            Ok((support::api::metric(&base, "firegrid_mqtt_connected").await? == 1.0).then_some(()))
        })
        .await?;
        // Readings go in on the plain listener; firegrid takes them from its TLS session.
        let now = firegrid_ingest::clock::now_ms();
        let msgs: Vec<_> =
            devices.iter().map(|d| (fleet::topic(d), fleet::payload(d, 1, now - 1000).into_bytes())).collect();
        support::publish::publish_all(broker.port(), "mtls-publisher", msgs).await?;
        let want = devices.len(); // unregistered devices' readings are stored too (DESIGN §5)
        let stored = support::eventually(Duration::from_secs(20), || async {
            let got = fleet::stored_pairs(&vm).await?;
            Ok((got.len() >= want).then_some(got.len()))
        })
        .await?;
        ensure!(stored == want, "{stored} of {want} readings stored");
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await?
}
