//! `POST /api/v1/registry/reload` (DESIGN §3): an admin token reloads the registry files as SIGHUP
//! does; other roles get 403 and no token 401; a bad file keeps the registry in force and the
//! answer (422) names the file and line.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use reqwest::StatusCode;
use serde_json::Value;
use support::dispatch::{ADMIN, DISPATCHER, STATION};
use tokio_util::sync::CancellationToken;

async fn reload(base: &str, token: Option<&str>) -> Result<(StatusCode, Value)> {
    let mut req = reqwest::Client::new().post(format!("{base}/api/v1/registry/reload"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await?;
    Ok((r.status(), r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_reloads_the_registry_and_a_bad_file_keeps_the_old_one() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let devices = support::fleet::devices(10);
        let reg = support::fleet::write_registry(dir.path(), &devices[..5])?;
        let c = support::embedded::self_contained_config(dir.path(), &reg, "reload")?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let base = format!("http://{}", running.http_addr);
        let before = running.registry.snapshot().device_count();

        // More devices in the files: only an admin may load them.
        support::fleet::write_registry(dir.path(), &devices)?;
        ensure!(reload(&base, None).await?.0 == StatusCode::UNAUTHORIZED);
        for token in [DISPATCHER, STATION] {
            let (status, body) = reload(&base, Some(token)).await?;
            ensure!(status == StatusCode::FORBIDDEN, "{status} {body}");
        }
        ensure!(running.registry.snapshot().device_count() == before, "a refused call changed nothing");
        let (status, body) = reload(&base, Some(ADMIN)).await?;
        let after = running.registry.snapshot().device_count();
        ensure!(status == StatusCode::OK && after > before, "{status} {body}; {before} -> {after} devices");
        ensure!(body["devices"].as_u64() == Some(after as u64), "{body}");

        // A malformed row: 422 with file:line, the registry in force stays.
        let mut text = std::fs::read_to_string(&reg.devices)?;
        let bad_line = text.lines().count() + 1;
        text.push_str("SM-BAD,not-a-kind,500112,500112001,,,,,,,residential,false\n");
        std::fs::write(&reg.devices, text)?;
        let (status, body) = reload(&base, Some(ADMIN)).await?;
        let reason = body["reason"].as_str().context("reason")?;
        ensure!(status == StatusCode::UNPROCESSABLE_ENTITY, "{status} {body}");
        ensure!(reason.contains(&format!("devices.csv:{bad_line}")), "names file and line: {reason}");
        ensure!(running.registry.snapshot().device_count() == after, "the previous registry stays");
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await?
}
