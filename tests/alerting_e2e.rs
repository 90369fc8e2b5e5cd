//! End to end with the real broker: readings published to mosquitto open the expected
//! incidents, visible through the incident API within a second.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "dispatcher-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kitchen_fire_published_to_the_broker_is_an_incident_in_the_api_within_a_second() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        // Two smoke detectors of one household: the first of the fleet, and a second one beside it.
        let mut devices = fleet::devices(50);
        let first = devices.iter().find(|d| d.kind == "smoke" && d.registered).context("a smoke detector")?.clone();
        let second = TestDevice { id: "sm-kitchen".into(), ..first.clone() };
        devices.push(second.clone());
        let pair = [first.id.clone(), second.id.clone()];
        let reg = fleet::write_registry_by(dir.path(), &devices, |d| {
            if pair.contains(&d.id) {
                "h-kitchen".into()
            } else {
                format!("h-{}", d.id)
            }
        })?;
        // Mode 0600: firegrid refuses a tokens file others may read.
        firegrid_alerting::access::private_file::write_private(
            &dir.path().join("tokens.csv"),
            &format!("{TOKEN},dispatcher,\n"),
        )?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-alerting-e2e");
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let addr = running.http_addr;

        // The two detectors alarm, one after the other.
        let now = firegrid_ingest::clock::now_ms();
        let alarm = |seq: u64, ts: i64| {
            format!(r#"{{"ts":{ts},"seq":{seq},"status":"alarm","values":{{"obscuration_db_m":0.6,"alarm":true}}}}"#)
        };
        let sent_at = tokio::time::Instant::now();
        support::publish::publish_all(
            mqtt.port(),
            "alarm-pub",
            vec![
                (fleet::topic(&first), alarm(1, now).into_bytes()),
                (fleet::topic(&second), alarm(1, now + 1000).into_bytes()),
            ],
        )
        .await?;
        let client = reqwest::Client::new();
        let incidents = support::eventually(Duration::from_secs(5), || {
            let client = client.clone();
            async move {
                let r: serde_json::Value = client
                    .get(format!("http://{addr}/api/v1/incidents"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await?
                    .json()
                    .await?;
                let list = r["incidents"].as_array().cloned().unwrap_or_default();
                // Done once both detectors' alarms are in: the second one is on an incident.
                let both = list.iter().any(|i| i.to_string().contains("sm-kitchen"));
                Ok(both.then_some(list))
            }
        })
        .await?;
        let waited = sent_at.elapsed();
        ensure!(incidents.len() == 1, "one incident for one household: {incidents:?}");
        let on_it = |id: &str| incidents[0]["devices"].as_array().is_some_and(|ds| ds.iter().any(|d| d == id));
        ensure!(on_it(&first.id) && on_it(&second.id), "both detectors on the incident: {:?}", incidents[0]);
        ensure!(incidents[0]["class"] == "fire", "{:?}", incidents[0]);
        ensure!(waited < Duration::from_secs(1) + Duration::from_millis(500), "visible after {waited:?}");
        let unauth = client.get(format!("http://{addr}/api/v1/incidents")).send().await?;
        ensure!(unauth.status() == 401, "nothing is served without a token");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        Ok(())
    })
    .await?
}
