//! `--log-format json`: every line firegrid writes is one JSON object, with its named event —
//! from start-up through readings, a dead letter and the shutdown on SIGTERM.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet;
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_log_format_json_every_line_is_one_json_object_with_its_event() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(10);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-log-json");
        let config = dir.path().join("firegrid.toml");
        std::fs::write(&config, toml::to_string(&c)?)?;
        let log = dir.path().join("firegrid.log");
        let mut fg = Firegrid::start_with_args(&config, Vec::new(), &log, &["--log-format", "json"]).await?;

        // A reading and a malformed message (a warning with its own event), then SIGTERM.
        let ts = firegrid_ingest::clock::now_ms() - 10_000;
        let d = &devices[0];
        let msgs =
            vec![(fleet::topic(d), fleet::payload(d, 1, ts).into_bytes()), (fleet::topic(d), b"{\"values\":".to_vec())];
        support::publish::publish_all(mqtt.port(), "log-json-pub", msgs).await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.log_text()?.contains("message_rejected").then_some(()))
        })
        .await
        .context("the rejection logged")?;
        fg.stop(Duration::from_secs(20)).await?;

        let text = fg.log_text()?;
        let mut events = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("not one JSON object: {line:?}"))?;
            ensure!(v.is_object(), "not an object: {line}");
            ensure!(v["level"].is_string() && v["timestamp"].is_string(), "level and timestamp: {line}");
            if let Some(e) = v["event"].as_str() {
                events.push(e.to_owned());
            }
        }
        for want in ["message_rejected", "signal"] {
            ensure!(events.iter().any(|e| e == want), "no {want} event in {events:?}");
        }
        ensure!(text.lines().count() >= 3, "{text}");
        Ok(())
    })
    .await?
}
