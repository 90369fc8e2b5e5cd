//! 城乡一体 dispatch end to end with a real mosquitto and VictoriaMetrics: a sensor's fire alarm
//! reaches the right stations' dispatch topics and a signed webhook; stations acknowledge over
//! MQTT (and are refused for incidents they were not notified of); and the real binary, killed
//! with SIGKILL while a webhook is still undelivered, delivers it after the restart — once per
//! idempotency key.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use axum::http::{HeaderMap, StatusCode};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use support::{fleet, Mosquitto, VictoriaMetrics};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "e2e-webhook-secret-0123456789";
const ADMIN: &str = "admin-token-0123456789abcdef";
const STATION: &str = "station-token-ms-500112002001";
const INCIDENT_TOPIC: &str = "firegrid/v1/500112/500112002/smoke/sd-e2e-1";

/// One webhook request as received.
#[derive(Debug, Clone)]
struct Hooked {
    path: String,
    signature: String,
    timestamp: String,
    key: String,
    body: String,
    answered: u16,
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 while `fail` is set.
struct Receiver {
    base: String,
    fail: Arc<AtomicBool>,
    rx: mpsc::UnboundedReceiver<Hooked>,
    seen: Vec<Hooked>,
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let (tx, rx) = mpsc::unbounded_channel();
        let fail = Arc::new(AtomicBool::new(false));
        let f = fail.clone();
        let app = axum::Router::new().route(
            "/hook/{who}",
            axum::routing::post(
                move |axum::extract::Path(who): axum::extract::Path<String>, headers: HeaderMap, body: String| {
                    let (tx, f) = (tx.clone(), f.clone());
                    async move {
                        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let status =
                            if f.load(Ordering::SeqCst) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
                        let _ = tx.send(Hooked {
                            path: who,
                            signature: h("x-firegrid-signature"),
                            timestamp: h("x-firegrid-timestamp"),
                            key: h("idempotency-key"),
                            body,
                            answered: status.as_u16(),
                        });
                        status
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { base, fail, rx, seen: Vec::new() })
    }

    /// Records what arrives in the next `d`.
    async fn settle_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(h)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(h);
        }
    }

    /// Waits until `pred` holds over everything received so far.
    async fn until(&mut self, timeout: Duration, pred: impl Fn(&[Hooked]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(h)) => self.seen.push(h),
                _ => bail!("webhook condition not met within {timeout:?}; received {:?}", self.seen),
            }
        }
        Ok(())
    }
}

/// Collects the messages published under `firegrid/v1/dispatch/#`.
struct DispatchWatch {
    rx: mpsc::UnboundedReceiver<(String, serde_json::Value)>,
    seen: Vec<(String, serde_json::Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatchWatch {
    async fn start(port: u16, filter: &str) -> Result<DispatchWatch> {
        let mut opts = MqttOptions::new(format!("dispatch-watch-{}-{}", std::process::id(), port), "127.0.0.1", port);
        opts.set_max_packet_size(Some(1 << 20));
        let (client, mut el) = AsyncClient::new(opts, 100);
        client.subscribe(filter, QoS::AtLeastOnce).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), el.poll()).await.context("subscribe timed out")? {
                Ok(Event::Incoming(Packet::SubAck(_))) => break,
                Ok(_) => {}
                Err(e) => bail!("dispatch watcher: {e}"),
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    if let Ok(v) = serde_json::from_slice(&p.payload) {
                        let _ = tx.send((String::from_utf8_lossy(&p.topic).into_owned(), v));
                    }
                }
            }
        });
        Ok(DispatchWatch { rx, seen: Vec::new(), task })
    }

    async fn until(&mut self, timeout: Duration, pred: impl Fn(&[(String, serde_json::Value)]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.seen.push(m),
                _ => bail!("dispatch condition not met within {timeout:?}; received {:?}", self.seen),
            }
        }
        Ok(())
    }

    /// Drains what arrived in the next `d`.
    async fn settle(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(m);
        }
    }
}

impl Drop for DispatchWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Registry of 双龙湖街道 (渝北区): a vulnerable household of two smoke detectors in 五星路社区,
/// its micro station and grid (both with webhooks), a second micro station, the township team
/// and the district station.
fn write_registry(dir: &Path, hook: &str) -> Result<firegrid_ingest::registry::RegistryPaths> {
    let paths = firegrid_ingest::registry::RegistryPaths {
        devices: dir.join("devices.csv"),
        stations: dir.join("stations.csv"),
        grids: dir.join("grids.csv"),
    };
    std::fs::write(
        &paths.devices,
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n\
         sd-e2e-1,smoke,500112,500112002,500112002001,500112002001-g1,hh-e2e-1,3 栋 2 单元 502 室,29.7210,106.6310,residential,true\n\
         sd-e2e-2,smoke,500112,500112002,500112002001,500112002001-g1,hh-e2e-1,3 栋 2 单元 502 室,29.7210,106.6310,residential,true\n\
         sd-e2e-3,smoke,500112,500112002,500112002001,500112002001-g1,hh-e2e-2,5 栋 1 单元 101 室,29.7212,106.6308,residential,false\n",
    )?;
    std::fs::write(
        &paths.stations,
        format!(
            "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n\
             ds-500112,渝北区消防救援站,district,500112,,,29.7180,106.6312,,true,\n\
             tt-500112002,双龙湖街道专职消防队,township_team,500112,500112002,,29.7250,106.6360,,true,\n\
             ms-500112002001,五星路社区微型消防站,micro,500112,500112002,500112002001,29.7205,106.6302,,true,{hook}/ms\n\
             ms-500112002002,龙昌街社区微型消防站,micro,500112,500112002,500112002002,29.7230,106.6350,,true,\n"
        ),
    )?;
    std::fs::write(
        &paths.grids,
        format!(
            "grid_id,community,manager,phone,webhook_url\n500112002001-g1,500112002001,王芳,13800000001,{hook}/grid\n"
        ),
    )?;
    Ok(paths)
}

fn write_tokens(dir: &Path) -> Result<std::path::PathBuf> {
    let p = dir.join("tokens.csv");
    // Mode 0600: firegrid refuses a tokens file others may read.
    firegrid_alerting::private_file::write_private(
        &p,
        &format!("token,role,subject\n{ADMIN},admin,ops\n{STATION},station,ms-500112002001\nstation-token-ms-500112002002,station,ms-500112002002\n"),
    )?;
    Ok(p)
}

fn alarm(seq: u64) -> (String, Vec<u8>) {
    alarm_from(INCIDENT_TOPIC, seq)
}

fn alarm_from(topic: &str, seq: u64) -> (String, Vec<u8>) {
    let ts = firegrid_ingest::now_ms();
    let p = format!(r#"{{"ts":{ts},"seq":{seq},"status":"alarm","values":{{"obscuration_db_m":0.42,"alarm":true}}}}"#);
    (topic.to_owned(), p.into_bytes())
}

/// The signature a receiver expects: the HMAC of `"{timestamp}.{body}"` (DESIGN §6).
fn hmac_hex(secret: &str, h: &Hooked) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{}.{}", h.timestamp, h.body).as_bytes());
    format!("sha256={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
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
        let mut hooks = Receiver::start().await?;
        let reg = write_registry(dir.path(), &hooks.base)?;
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
        let mut dead = fleet::DeadLetterWatch::start(mqtt.port()).await?;

        fleet::publish_all(mqtt.port(), "e2e-sensor", vec![alarm(1)]).await?;
        watch.until(Duration::from_secs(20), |seen| first_round(seen) == expected_round()).await?;
        let micro = &watch.seen.iter().find(|(t, _)| t.ends_with("/ms-500112002001")).context("micro message")?.1;
        let id = micro["incident_id"].as_str().context("incident_id")?.to_owned();
        ensure!(micro["class"] == "fire" && micro["severity"] == "critical" && micro["vulnerable"] == true, "{micro}");
        ensure!(micro["idempotency_key"] == format!("{id}:ms-500112002001:respond:1"), "{micro}");
        ensure!(micro["ack_deadline"].is_string() && micro["location"]["grid_id"] == "500112002001-g1");
        ensure!(micro["evidence"][0]["device_id"] == "sd-e2e-1", "{micro}");
        let summary = micro["summary_zh"].as_str().unwrap_or("");
        ensure!(summary.contains("渝北区双龙湖街道五星路社区 3 栋 2 单元 502 室 烟感报警"), "{summary}");
        ensure!(summary.contains("特殊群体户"), "{summary}");

        // The webhooks: signed with the secret over the exact body, keyed, the same message as on MQTT.
        hooks
            .until(Duration::from_secs(20), |h| h.iter().any(|x| x.path == "ms") && h.iter().any(|x| x.path == "grid"))
            .await?;
        for h in &hooks.seen {
            ensure!(h.signature == hmac_hex(SECRET, h), "bad signature {} for {}", h.signature, h.body);
        }
        let ms = hooks.seen.iter().find(|h| h.path == "ms").context("ms webhook")?;
        ensure!(ms.key == format!("{id}:ms-500112002001:respond:1"));
        ensure!(serde_json::from_str::<serde_json::Value>(&ms.body)? == *micro, "webhook and MQTT bodies differ");

        // A station that was not notified is refused with a dead letter; the notified one acknowledges.
        let ack = |station: &str| {
            (
                format!("firegrid/v1/ack/{station}"),
                format!(r#"{{"incident_id":"{id}","action":"ack","by":"张三","note":"出动"}}"#).into_bytes(),
            )
        };
        fleet::publish_all(mqtt.port(), "e2e-stations", vec![ack("ms-500112002002"), ack("ms-500112002001")]).await?;
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
        fleet::publish_all(mqtt.port(), "e2e-status", vec![busy]).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        fleet::publish_all(
            mqtt.port(),
            "e2e-sensor-3",
            vec![alarm_from("firegrid/v1/500112/500112002/smoke/sd-e2e-3", 1)],
        )
        .await?;
        watch
            .until(Duration::from_secs(20), |seen| {
                seen.iter().any(|(t, v)| t.ends_with("/ms-500112002002") && v["evidence"][0]["device_id"] == "sd-e2e-3")
            })
            .await?;
        ensure!(
            !watch
                .seen
                .iter()
                .any(|(t, v)| t.ends_with("/ms-500112002001") && v["evidence"][0]["device_id"] == "sd-e2e-3"),
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
        let mut hooks = Receiver::start().await?;
        hooks.fail.store(true, Ordering::SeqCst);
        let reg = write_registry(dir.path(), &hooks.base)?;
        let config = dir.path().join("firegrid.toml");
        std::fs::write(
            &config,
            format!(
                "[mqtt]\nurl = \"{}\"\nclient_id = \"firegrid-kill-{}\"\n[store.influxdb]\nurl = \"{}\"\n\
                 [registry]\ndevices = \"{}\"\nstations = \"{}\"\ngrids = \"{}\"\n[api]\ntokens_file = \"{}\"\n\
                 [data]\ndir = \"{}\"\n[dispatch]\nretry_min_ms = 200\nretry_max_ms = 400\noutbox_poll_ms = 100\n",
                mqtt.url(),
                std::process::id(),
                vm.url(),
                reg.devices.display(),
                reg.stations.display(),
                reg.grids.display(),
                write_tokens(dir.path())?.display(),
                dir.path().join("data").display()
            ),
        )?;
        let env = vec![("FIREGRID_DISPATCH__WEBHOOK_SECRET".to_owned(), SECRET.to_owned())];
        let mut fg = support::process::Firegrid::start(&config, env, &dir.path().join("firegrid.log")).await?;
        let mut watch = DispatchWatch::start(mqtt.port(), "firegrid/v1/dispatch/#").await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.readyz().await.ok().filter(|v| v.to_string().contains("true")).map(|_| ()))
        })
        .await?;

        fleet::publish_all(mqtt.port(), "kill-sensor", vec![alarm(1)]).await?;
        watch.until(Duration::from_secs(20), |seen| first_round(seen) == expected_round()).await?;
        // The receiver is down: both webhooks fail at least twice and stay in the outbox.
        hooks.until(Duration::from_secs(20), |h| h.iter().filter(|x| x.answered == 500).count() >= 4).await?;
        fg.kill9();
        hooks.fail.store(false, Ordering::SeqCst);
        fg.kill9_and_restart().await?;
        hooks
            .until(Duration::from_secs(30), |h| {
                ["ms", "grid"].iter().all(|p| h.iter().any(|x| x.path == *p && x.answered == 200))
            })
            .await?;
        watch.settle(Duration::from_secs(2)).await;
        hooks.settle_for(Duration::from_secs(2)).await;
        let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
        for h in hooks.seen.iter().filter(|x| x.answered == 200) {
            ensure!(h.signature == hmac_hex(SECRET, h), "bad signature after restart");
            *delivered.entry(h.key.clone()).or_default() += 1;
        }
        ensure!(
            delivered.len() == 2 && delivered.values().all(|n| *n == 1),
            "webhook deliveries per key: {delivered:?}"
        );
        let mut mqtt_keys: BTreeMap<String, usize> = BTreeMap::new();
        for (_, v) in &watch.seen {
            *mqtt_keys.entry(v["idempotency_key"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        ensure!(mqtt_keys.len() == 4 && mqtt_keys.values().all(|n| *n == 1), "MQTT messages per key: {mqtt_keys:?}");
        fg.stop(Duration::from_secs(10)).await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}
