//! Webhooks a receiver can trust (DESIGN §6), against a real HTTP receiver on 127.0.0.1, a real
//! mosquitto and VictoriaMetrics: signed with a timestamp so replays can be refused; a redirect is
//! not followed; a URL's access token never shows in the dispatch log, `last_error`, the metrics
//! or the log; a webhook nobody takes is abandoned when its incident closes or after
//! `webhook_max_age_seconds`; and firegrid will not start with a webhook URL but no secret.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::dispatch::*;
use support::hooks::{verify, Hooked, Hooks};
use support::process::{run_to_exit, Firegrid};
use support::{fleet, Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

const MS_TOKEN: &str = "TOKEN-MS-5f3a1c";
const GRID_TOKEN: &str = "TOKEN-GRID-9c1e7b";

fn now_s() -> i64 {
    firegrid_ingest::clock::now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_with_a_timestamp_redirects_are_not_followed_and_access_tokens_stay_secret() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let mut hooks = Hooks::start().await?;
        let dir = tempfile::tempdir()?;
        let ms_hook = format!("{}/hook/ms?access_token={MS_TOKEN}", hooks.base);
        let grid_hook = format!("{}/redirect/grid?access_token={GRID_TOKEN}", hooks.base);
        let reg = write_registry(dir.path(), &devices(), &stations(&ms_hook), &grids(&grid_hook))?;
        let dispatch = "retry_min_ms = 200\nretry_max_ms = 400\noutbox_poll_ms = 100";
        let config = write_config(dir.path(), &mqtt.url(), &vm.url(), &reg, dispatch)?;
        let env = vec![("FIREGRID_DISPATCH__WEBHOOK_SECRET".to_owned(), SECRET.to_owned())];
        let log = dir.path().join("firegrid.log");
        let mut fg = Firegrid::start(&config, env, &log).await?;
        let base = format!("http://127.0.0.1:{}", fg.http_port);
        support::eventually(Duration::from_secs(15), || async {
            Ok(fg.readyz().await.ok().filter(|v| v.to_string().contains("true")).map(|_| ()))
        })
        .await?;

        support::publish::publish_all(mqtt.port(), "webhook-sensor", vec![alarm("sd-1", 1)]).await?;
        hooks
            .until(Duration::from_secs(20), |h| {
                h.iter().any(|x| x.path == "hook/ms") && h.iter().filter(|x| x.path == "redirect/grid").count() >= 3
            })
            .await?;

        // The signature covers the timestamp and the body; a receiver refuses it 5 minutes on, or altered.
        let ms = hooks.seen.iter().find(|x| x.path == "hook/ms").context("ms webhook")?.clone();
        let ts: i64 = ms.timestamp.parse().with_context(|| format!("X-Firegrid-Timestamp {:?}", ms.timestamp))?;
        ensure!((now_s() - ts).abs() <= 60, "timestamp {ts} is not now ({})", now_s());
        ensure!(verify(SECRET, &ms.timestamp, &ms.body, &ms.signature, now_s()), "a fresh webhook verifies: {ms:?}");
        ensure!(
            !verify(SECRET, &ms.timestamp, &ms.body, &ms.signature, ts + 301),
            "a replay after 5 minutes is refused"
        );
        ensure!(!verify(SECRET, &(ts + 1).to_string(), &ms.body, &ms.signature, now_s()), "a new timestamp is refused");
        ensure!(!verify(SECRET, &ms.timestamp, &ms.body.replace("fire", "hazard"), &ms.signature, now_s()));
        let body: serde_json::Value = serde_json::from_str(&ms.body)?;
        ensure!(body["idempotency_key"] == ms.key.as_str(), "Idempotency-Key {} vs {body}", ms.key);
        ensure!(ms.query == format!("access_token={MS_TOKEN}"), "the receiver gets its own URL: {}", ms.query);

        // A 302 is a failed attempt: retried, never followed. Three redirects were answered, so a
        // followed one (made before the attempt ends) would be among the requests already here.
        hooks.take_arrived();
        ensure!(!hooks.seen.iter().any(|x| x.path.starts_with("moved/")), "a redirect was followed: {:?}", hooks.seen);
        let id = incident_ids(&base).await?.first().cloned().context("the incident")?;
        let log_json = get(&base, ADMIN, &format!("/api/v1/incidents/{id}/dispatch")).await?;
        let grid = log_json["notifications"]
            .as_array()
            .context("notifications")?
            .iter()
            .find(|n| n["channel"] == "webhook" && n["target"] == "grid:500112002001-g1")
            .context("the grid's webhook row")?
            .clone();
        let error = grid["last_error"].as_str().unwrap_or("");
        ensure!(grid["state"] == "pending", "{grid}");
        ensure!(error.contains("HTTP 302 (redirects are not followed)"), "{grid}");

        // No access token in the dispatch log, the metrics or the log.
        let metrics = reqwest::get(format!("{base}/metrics")).await?.text().await?;
        fg.stop(Duration::from_secs(10)).await?;
        let logged = std::fs::read_to_string(&log)?;
        ensure!(logged.contains("webhook_failed"), "the failures were logged: {}", fg.log_tail());
        for (what, text) in [("dispatch log", log_json.to_string()), ("metrics", metrics), ("log", logged)] {
            for secret in [MS_TOKEN, GRID_TOKEN, "access_token", "/redirect/grid", "/hook/ms"] {
                ensure!(!text.contains(secret), "{secret} appears in the {what}");
            }
        }
        Ok(())
    })
    .await
    .context("test timed out")?
}

/// firegrid in-process with fast retries and a 6 s webhook maximum age.
async fn start_abandoning(
    dir: &std::path::Path,
    mqtt: &Mosquitto,
    vm: &VictoriaMetrics,
    hooks: &Hooks,
) -> Result<(firegrid::Running, CancellationToken)> {
    let reg = write_registry(
        dir,
        &devices(),
        &stations(&format!("{}/hook/ms", hooks.base)),
        &grids(&format!("{}/hook/grid", hooks.base)),
    )?;
    let mut c =
        fleet::harness_config(dir, &reg, &mqtt.url(), &vm.url(), &format!("firegrid-abandon-{}", std::process::id()));
    c.api.tokens_file = write_tokens(dir)?.display().to_string();
    c.dispatch.webhook_secret = firegrid_ingest::config::Secret(SECRET.into());
    c.dispatch.retry_min_ms = 200;
    c.dispatch.retry_max_ms = 400;
    c.dispatch.outbox_poll_ms = 100;
    c.dispatch.webhook_max_age_seconds = 6;
    let shutdown = CancellationToken::new();
    let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
    Ok((running, shutdown))
}

/// The webhook rows of an incident's dispatch log.
async fn webhook_rows(base: &str, id: &str) -> Result<Vec<serde_json::Value>> {
    Ok(notifications(base, id).await?.into_iter().filter(|n| n["channel"] == "webhook").collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_webhook_is_abandoned_when_its_incident_closes_or_after_its_max_age() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let mut hooks = Hooks::start().await?;
        hooks.answer(500);
        let dir = tempfile::tempdir()?;
        let (running, shutdown) = start_abandoning(dir.path(), &mqtt, &vm, &hooks).await?;
        let base = format!("http://{}", running.http_addr);

        // Two fires: the critical one in hh-1 is closed soon; the one in hh-2 stays open.
        support::publish::publish_all(mqtt.port(), "abandon-sensors", vec![alarm("sd-1", 1), alarm("sd-3", 1)]).await?;
        let ids = support::eventually(Duration::from_secs(20), || async {
            let ids = incident_ids(&base).await?;
            Ok((ids.len() == 2).then_some(ids))
        })
        .await?;
        hooks.until(Duration::from_secs(20), |h| h.iter().filter(|x| x.answered == 500).count() >= 4).await?;
        let (closed, open) = {
            let first = get(&base, ADMIN, &format!("/api/v1/incidents/{}", ids[0])).await?;
            if first["incident"]["severity"] == "critical" {
                (ids[0].clone(), ids[1].clone())
            } else {
                (ids[1].clone(), ids[0].clone())
            }
        };
        let status =
            post(&base, ADMIN, &format!("/api/v1/incidents/{closed}/false_alarm"), r#"{"note":"drill"}"#).await?;
        ensure!(status.is_success(), "closing {closed}: {status}");

        let closed_rows = support::eventually(Duration::from_secs(5), || async {
            let rows = webhook_rows(&base, &closed).await?;
            Ok((rows.len() == 2 && rows.iter().all(|n| n["state"] == "abandoned")).then_some(rows))
        })
        .await
        .context("the closed incident's webhooks abandoned")?;
        for n in &closed_rows {
            ensure!(n["delivered_at_ms"].is_null(), "{n}");
            ensure!(n["last_error"].as_str().is_some_and(|e| e.starts_with("abandoned: the incident closed")), "{n}");
        }
        let open_rows = support::eventually(Duration::from_secs(20), || async {
            let rows = webhook_rows(&base, &open).await?;
            Ok((rows.len() == 2 && rows.iter().all(|n| n["state"] == "abandoned")).then_some(rows))
        })
        .await
        .context("the open incident's webhooks abandoned after their maximum age")?;
        for n in &open_rows {
            let error = n["last_error"].as_str().unwrap_or("");
            ensure!(error.starts_with("abandoned: not delivered within dispatch.webhook_max_age_seconds"), "{n}");
            ensure!(error.contains("last attempt: webhook http://127.0.0.1:"), "the last error is kept: {n}");
            let age = n["abandoned_at_ms"].as_i64().unwrap_or(0) - n["created_at_ms"].as_i64().unwrap_or(0);
            ensure!(age >= 6_000, "abandoned after {age} ms, before its maximum age");
        }

        // Given up means no more attempts; counted; MQTT and the console are not affected.
        let metrics = reqwest::get(format!("{base}/metrics")).await?.text().await?;
        let abandoned: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("firegrid_dispatches_total{") && l.contains(r#"outcome="abandoned""#))
            .filter(|l| l.contains(r#"channel="webhook""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        ensure!(abandoned == 4.0, "abandoned webhooks counted: {abandoned}\n{metrics}");
        // A later fire's webhooks, refused too, are the marker: between its first and its third
        // attempt two delivery passes ran, and the abandoned rows got nothing in them.
        let given_up = |h: &Hooked| h.key.starts_with(&format!("{closed}:")) || h.key.starts_with(&format!("{open}:"));
        let marker = |h: &[Hooked]| h.iter().filter(|x| !given_up(x)).count();
        let before = marker(&hooks.seen);
        support::publish::publish_all(mqtt.port(), "abandon-marker", vec![alarm("sd-2", 2)]).await?;
        hooks.until(Duration::from_secs(20), |h| marker(h) >= before + 2).await?;
        let attempts = hooks.seen.iter().filter(|x| given_up(x)).count();
        hooks.until(Duration::from_secs(20), |h| marker(h) >= before + 6).await?;
        let later: Vec<&Hooked> = hooks.seen.iter().filter(|x| given_up(x)).skip(attempts).collect();
        ensure!(later.is_empty(), "attempts after abandonment: {later:?}");
        for id in [&closed, &open] {
            for n in notifications(&base, id).await?.iter().filter(|n| n["channel"] != "webhook") {
                ensure!(n["state"] == "delivered", "{n}");
            }
        }
        shutdown.cancel();
        running.wait().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[test]
fn firegrid_will_not_run_and_check_config_fails_with_a_webhook_url_and_no_secret() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let hook = "https://oapi.dingtalk.com/robot/send?access_token=TOKEN-DING-42";
    let reg = write_registry(dir.path(), &devices(), &stations(hook), &grids(""))?;
    // Nothing listens on port 1: nothing may be contacted before the refusal.
    let config = write_config(dir.path(), "mqtt://127.0.0.1:1", "http://127.0.0.1:1", &reg, "")?;
    let config = config.display().to_string();
    for args in [["check-config", "--config", &config], ["run", "--config", &config]] {
        let (ok, text) = run_to_exit(&args, &[], Duration::from_secs(20))?;
        ensure!(!ok, "firegrid {args:?} accepted a webhook_url without a secret:\n{text}");
        ensure!(
            text.contains("dispatch.webhook_secret") && text.contains("station ms-500112002001"),
            "{args:?}: {text}"
        );
        ensure!(!text.contains("TOKEN-DING-42"), "{args:?} printed the URL's token: {text}");
    }
    let (ok, text) = run_to_exit(
        &["check-config", "--config", &config],
        &[("FIREGRID_DISPATCH__WEBHOOK_SECRET", SECRET)],
        Duration::from_secs(20),
    )?;
    ensure!(ok && text.contains("configuration ok"), "{text}");
    Ok(())
}
