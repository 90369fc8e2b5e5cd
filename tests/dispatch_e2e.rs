//! 城乡一体 dispatch end to end with a real mosquitto and VictoriaMetrics: a sensor's fire alarm
//! reaches the right stations' dispatch topics and a signed webhook; stations acknowledge over
//! MQTT (and are refused for incidents they were not notified of); and the real binary, killed
//! with SIGKILL while a webhook is still undelivered, delivers it after the restart — once per
//! idempotency key.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::dispatch::{
    alarm, devices, grids, notifications, stations, write_config, write_registry, write_tokens, ADMIN, SECRET, STATION,
};
use support::hooks::{verify, Hooked, Hooks};
use support::watch::{DeadLetterWatch, DispatchWatch};
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

/// The registry of the dispatch fixtures with both webhooks on `hooks`: the micro station's
/// (`hook/ms`) and the grid manager's (`hook/grid`).
fn registry(dir: &std::path::Path, hooks: &Hooks) -> Result<firegrid_ingest::RegistryPaths> {
    let (ms, grid) = (format!("{}/hook/ms", hooks.base), format!("{}/hook/grid", hooks.base));
    write_registry(dir, &devices(), &stations(&ms), &grids(&grid))
}

/// Whether a webhook carries a valid signature of its timestamp and body (DESIGN §6).
fn signed(h: &Hooked) -> bool {
    verify(SECRET, &h.timestamp, &h.body, &h.signature, firegrid_ingest::clock::now_ms() / 1000)
}

/// `(topic suffix, role)` of the messages seen, for the first round.
fn first_round(seen: &[(String, serde_json::Value)]) -> BTreeMap<String, String> {
    seen.iter()
        .filter(|(_, v)| v["seq"] == 1)
        .map(|(t, v)| {
            (t.trim_start_matches("firegrid/v1/dispatch/").to_owned(), v["role"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

fn expected_round() -> BTreeMap<String, String> {
    [
        ("ms-500112002001", "respond"),
        ("grid/500112002001-g1", "verify"),
        ("tt-500112002", "respond"),
        ("ds-500112", "forward_119"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_fire_reaches_the_right_stations_a_signed_webhook_and_takes_station_acks() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let mut hooks = Hooks::start().await?;
        let reg = registry(dir.path(), &hooks)?;
        let client_id = format!("firegrid-dispatch-e2e-{}", std::process::id());
        let mut c = support::fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), &client_id);
        c.api.tokens_file = write_tokens(dir.path())?.display().to_string();
        c.dispatch.webhook_secret = firegrid_ingest::config::Secret(SECRET.into());
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);
        support::eventually(Duration::from_secs(10), || {
            let api = api.clone();
            async move { Ok(reqwest::get(format!("{api}/readyz")).await?.status().is_success().then_some(())) }
        })
        .await?;
        let mut watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
        let mut dead = DeadLetterWatch::start(mqtt.port()).await?;

        support::publish::publish_all(mqtt.port(), "e2e-sensor", vec![alarm("sd-1", 1)]).await?;
        watch.until(Duration::from_secs(20), |seen| first_round(seen) == expected_round()).await?;
        let micro = &watch.seen.iter().find(|(t, _)| t.ends_with("/ms-500112002001")).context("micro message")?.1;
        let id = micro["incident_id"].as_str().context("incident_id")?.to_owned();
        ensure!(micro["class"] == "fire" && micro["severity"] == "critical" && micro["vulnerable"] == true, "{micro}");
        ensure!(micro["idempotency_key"] == format!("{id}:ms-500112002001:respond:1"), "{micro}");
        ensure!(micro["ack_deadline"].is_string() && micro["location"]["grid_id"] == "500112002001-g1");
        ensure!(micro["evidence"][0]["device_id"] == "sd-1", "{micro}");
        let summary = micro["summary_zh"].as_str().unwrap_or("");
        ensure!(summary.contains("渝北区双龙湖街道五星路社区 3 栋 2 单元 502 室 烟感报警"), "{summary}");
        ensure!(summary.contains("特殊群体户"), "{summary}");

        // The webhooks: signed with the secret over the exact body, keyed, the same message as on MQTT.
        hooks
            .until(Duration::from_secs(20), |h| {
                h.iter().any(|x| x.path == "hook/ms") && h.iter().any(|x| x.path == "hook/grid")
            })
            .await?;
        for h in &hooks.seen {
            ensure!(signed(h), "bad signature {} for {}", h.signature, h.body);
        }
        let ms = hooks.seen.iter().find(|h| h.path == "hook/ms").context("ms webhook")?;
        ensure!(ms.key == format!("{id}:ms-500112002001:respond:1"));
        ensure!(serde_json::from_str::<serde_json::Value>(&ms.body)? == *micro, "webhook and MQTT bodies differ");

        // A station that was not notified is refused with a dead letter; the notified one acknowledges.
        let ack = |station: &str| {
            (
                format!("firegrid/v1/ack/{station}"),
                format!(r#"{{"incident_id":"{id}","action":"ack","by":"张三","note":"出动"}}"#).into_bytes(),
            )
        };
        support::publish::publish_all(
            mqtt.port(),
            "e2e-stations",
            vec![ack("ms-500112002002"), ack("ms-500112002001")],
        )
        .await?;
        let dl = dead.collect(1, Duration::from_secs(10)).await;
        ensure!(dl.first().is_some_and(|d| d["reason"] == "not_notified"), "{dl:?}");
        let http = reqwest::Client::new();
        let status = support::eventually(Duration::from_secs(10), || {
            let (http, url) = (http.clone(), format!("{api}/api/v1/incidents/{id}"));
            async move {
                let v: serde_json::Value = http.get(url).bearer_auth(STATION).send().await?.json().await?;
                Ok((v["incident"]["status"] == "acknowledged").then_some(v))
            }
        })
        .await?;
        ensure!(status["audit"].to_string().contains("station:ms-500112002001"), "{status}");

        // Availability: admin only.
        let url = format!("{api}/api/v1/stations/ms-500112002002/availability");
        let r = http.post(&url).bearer_auth(STATION).body(r#"{"status":"busy"}"#).send().await?;
        ensure!(r.status() == 403, "a station token may not set availability: {}", r.status());
        let r = http.post(&url).bearer_auth(ADMIN).body(r#"{"status":"available"}"#).send().await?;
        ensure!(r.status() == 200, "{}", r.status());

        // A station reports itself busy over MQTT: the next fire in its community goes to the nearest other micro station.
        let busy = ("firegrid/v1/status/ms-500112002001".to_owned(), br#"{"status":"busy"}"#.to_vec());
        support::publish::publish_all(mqtt.port(), "e2e-status", vec![busy]).await?;
        support::eventually(Duration::from_secs(10), || {
            let (http, url) = (http.clone(), format!("{api}/api/v1/stations"));
            async move {
                let v: serde_json::Value = http.get(url).bearer_auth(ADMIN).send().await?.json().await?;
                let busy = v["stations"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["station_id"] == "ms-500112002001" && s["status"] == "busy"));
                Ok(busy.then_some(()))
            }
        })
        .await
        .context("the station's busy status taken in")?;
        support::publish::publish_all(mqtt.port(), "e2e-sensor-3", vec![alarm("sd-3", 1)]).await?;
        watch
            .until(Duration::from_secs(20), |seen| {
                seen.iter().any(|(t, v)| t.ends_with("/ms-500112002002") && v["evidence"][0]["device_id"] == "sd-3")
            })
            .await?;
        ensure!(
            !watch.seen.iter().any(|(t, v)| t.ends_with("/ms-500112002001") && v["evidence"][0]["device_id"] == "sd-3"),
            "the busy station was notified"
        );

        // Counted on the broker's PUBACK, which may reach firegrid just after the station has the message.
        support::eventually(Duration::from_secs(10), || {
            let (http, url) = (http.clone(), format!("{api}/metrics"));
            async move {
                let metrics = http.get(url).send().await?.text().await?;
                let micro = r#"firegrid_dispatches_total{channel="mqtt",outcome="delivered",tier="micro"} 2"#;
                Ok((metrics.contains(micro) && metrics.contains("firegrid_dispatch_seconds_count 2")).then_some(()))
            }
        })
        .await
        .context("both first notifications counted as delivered")?;
        shutdown.cancel();
        running.wait().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_pending_at_a_sigkill_is_delivered_after_the_restart_once_per_key() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(150), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let mut hooks = Hooks::start().await?;
        hooks.answer(500);
        let reg = registry(dir.path(), &hooks)?;
        let dispatch = "retry_min_ms = 200\nretry_max_ms = 400\noutbox_poll_ms = 100";
        let config = write_config(dir.path(), &mqtt.url(), &vm.url(), &reg, dispatch)?;
        let env = vec![("FIREGRID_DISPATCH__WEBHOOK_SECRET".to_owned(), SECRET.to_owned())];
        let mut fg = support::process::Firegrid::start(&config, env, &dir.path().join("firegrid.log")).await?;
        let base = format!("http://127.0.0.1:{}", fg.http_port);
        let mut watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.readyz().await.ok().filter(|v| v.to_string().contains("true")).map(|_| ()))
        })
        .await?;

        support::publish::publish_all(mqtt.port(), "kill-sensor", vec![alarm("sd-1", 1)]).await?;
        watch.until(Duration::from_secs(20), |seen| first_round(seen) == expected_round()).await?;
        // The receiver is down: both webhooks fail at least twice and stay in the outbox.
        hooks.until(Duration::from_secs(20), |h| h.iter().filter(|x| x.answered == 500).count() >= 4).await?;
        fg.kill9();
        hooks.answer(200);
        fg.kill9_and_restart().await?;
        // Every notification delivered after the restart: nothing more is coming, the webhooks
        // were answered (and recorded) and the marker brings the broker's last MQTT copies.
        let id = support::dispatch::incident_ids(&base).await?.first().cloned().context("the incident")?;
        support::eventually(Duration::from_secs(30), || async {
            let rows = notifications(&base, &id).await?;
            Ok((!rows.is_empty() && rows.iter().all(|n| n["state"] == "delivered")).then_some(()))
        })
        .await
        .context("every notification delivered after the restart")?;
        hooks.take_arrived();
        watch.sync().await?;
        let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
        for h in hooks.seen.iter().filter(|x| x.answered == 200) {
            ensure!(signed(h), "bad signature after restart");
            *delivered.entry(h.key.clone()).or_default() += 1;
        }
        ensure!(
            delivered.len() == 2 && delivered.values().all(|n| *n == 1),
            "webhook deliveries per key: {delivered:?}"
        );
        let mqtt_keys = watch.per_key();
        ensure!(mqtt_keys.len() == 4 && mqtt_keys.values().all(|n| *n == 1), "MQTT messages per key: {mqtt_keys:?}");
        fg.stop(Duration::from_secs(10)).await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}
