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
        let devices = fleet::devices(50);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        // Mode 0600: firegrid refuses a tokens file others may read.
        firegrid_alerting::access::private_file::write_private(
            &dir.path().join("tokens.csv"),
            &format!("{TOKEN},dispatcher,\n"),
        )?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-alerting-e2e");
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let addr = running.http_addr;

        // Two smoke detectors of the registered fleet alarm, one after the other.
        let smoke: Vec<&TestDevice> = devices.iter().filter(|d| d.kind == "smoke" && d.registered).take(1).collect();
        let d = smoke.first().context("a smoke detector")?;
        let now = firegrid_ingest::clock::now_ms();
        let alarm = |seq: u64, ts: i64| {
            format!(r#"{{"ts":{ts},"seq":{seq},"status":"alarm","values":{{"obscuration_db_m":0.6,"alarm":true}}}}"#)
        };
        let sent_at = tokio::time::Instant::now();
        support::publish::publish_all(
            mqtt.port(),
            "alarm-pub",
            vec![(fleet::topic(d), alarm(1, now).into_bytes()), (fleet::topic(d), alarm(2, now + 1000).into_bytes())],
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
                Ok((!list.is_empty()).then_some(list))
            }
        })
        .await?;
        let waited = sent_at.elapsed();
        ensure!(incidents.len() == 1, "one incident for one household: {incidents:?}");
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
