//! Shared by the dispatch end-to-end tests (`tests/dispatch_*.rs`, with `mod dispatch_support;`):
//! a watcher of the dispatch topics on the real broker, a webhook receiver on 127.0.0.1, the
//! TCP fault injector ([`proxy`]), a registry of 渝北区 双龙湖街道, tokens, a firegrid.toml for the
//! real binary and the API calls the tests make.

#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use axum::http::{HeaderMap, StatusCode};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;
use tokio::sync::mpsc;

pub const SECRET: &str = "dispatch-e2e-webhook-secret-0123";
pub const ADMIN: &str = "admin-token-dispatch-0123456789";
pub const DISPATCHER: &str = "dispatcher-token-dispatch-0123";
pub const STATION: &str = "station-token-ms-500112002001";

/// `device_id,…` rows: a vulnerable household of two smoke detectors (`hh-1`, grid g1) and a
/// neighbour (`hh-2`), both in 五星路社区.
pub const DEVICES: &str =
    "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable
sd-1,smoke,500112,500112002,500112002001,500112002001-g1,hh-1,3 栋 2 单元 502 室,29.7210,106.6310,residential,true
sd-2,smoke,500112,500112002,500112002001,500112002001-g1,hh-1,3 栋 2 单元 502 室,29.7210,106.6310,residential,true
sd-3,smoke,500112,500112002,500112002001,500112002001-g1,hh-2,5 栋 1 单元 101 室,29.7212,106.6308,residential,false
";

/// The station rows: district, township team, the covering micro station (webhook `{ms_hook}`)
/// and a second micro station.
pub fn stations(ms_hook: &str) -> String {
    format!(
        "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n\
         ds-500112,渝北区消防救援站,district,500112,,,29.7180,106.6312,,true,\n\
         tt-500112002,双龙湖街道专职消防队,township_team,500112,500112002,,29.7250,106.6360,,true,\n\
         ms-500112002001,五星路社区微型消防站,micro,500112,500112002,500112002001,29.7205,106.6302,,true,{ms_hook}\n\
         ms-500112002002,龙昌街社区微型消防站,micro,500112,500112002,500112002002,29.7230,106.6350,,true,\n"
    )
}

/// The grid row of 五星路社区 (webhook `{hook}`).
pub fn grids(hook: &str) -> String {
    format!("grid_id,community,manager,phone,webhook_url\n500112002001-g1,500112002001,王芳,13800000001,{hook}\n")
}

/// Writes the registry files into `dir`.
pub fn write_registry(
    dir: &Path,
    devices: &str,
    stations: &str,
    grids: &str,
) -> Result<firegrid_ingest::registry::RegistryPaths> {
    let paths = firegrid_ingest::registry::RegistryPaths {
        devices: dir.join("devices.csv"),
        stations: dir.join("stations.csv"),
        grids: dir.join("grids.csv"),
    };
    std::fs::write(&paths.devices, devices)?;
    std::fs::write(&paths.stations, stations)?;
    std::fs::write(&paths.grids, grids)?;
    Ok(paths)
}

/// Writes `tokens.csv` (admin, dispatcher, the covering micro station) into `dir`.
pub fn write_tokens(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("tokens.csv");
    // Mode 0600: firegrid refuses a tokens file others may read.
    firegrid_alerting::private_file::write_private(
        &p,
        &format!(
            "token,role,subject\n{ADMIN},admin,ops\n{DISPATCHER},dispatcher,duty\n{STATION},station,ms-500112002001\n"
        ),
    )?;
    Ok(p)
}

/// A firegrid.toml for the real binary (`[dispatch]` gets `dispatch`, fast retries by default).
pub fn write_config(
    dir: &Path,
    mqtt_url: &str,
    store_url: &str,
    reg: &firegrid_ingest::registry::RegistryPaths,
    dispatch: &str,
) -> Result<PathBuf> {
    let config = dir.join("firegrid.toml");
    std::fs::write(
        &config,
        format!(
            "[mqtt]\nurl = \"{mqtt_url}\"\nclient_id = \"firegrid-{pid}-{port}\"\nreconnect_max_ms = 500\n\
             [store.influxdb]\nurl = \"{store_url}\"\n\
             [registry]\ndevices = \"{}\"\nstations = \"{}\"\ngrids = \"{}\"\n[api]\ntokens_file = \"{}\"\n\
             [data]\ndir = \"{}\"\n[dispatch]\n{dispatch}\n",
            reg.devices.display(),
            reg.stations.display(),
            reg.grids.display(),
            write_tokens(dir)?.display(),
            dir.join("data").display(),
            pid = std::process::id(),
            port = crate::support::free_port()?,
        ),
    )?;
    Ok(config)
}

/// A smoke alarm reading of a device of [`DEVICES`].
pub fn alarm(device: &str, seq: u64) -> (String, Vec<u8>) {
    let ts = firegrid_ingest::now_ms();
    let p = format!(r#"{{"ts":{ts},"seq":{seq},"status":"alarm","values":{{"obscuration_db_m":0.42,"alarm":true}}}}"#);
    (format!("firegrid/v1/500112/500112002/smoke/{device}"), p.into_bytes())
}

/// `GET {base}{path}` with a bearer token, as JSON (2xx only).
pub async fn get(base: &str, token: &str, path: &str) -> Result<Value> {
    let r = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await?;
    ensure!(r.status().is_success(), "GET {path}: {}", r.status());
    Ok(r.json().await?)
}

/// `POST {base}{path}` with a bearer token and a JSON body; returns the status.
pub async fn post(base: &str, token: &str, path: &str, body: &str) -> Result<StatusCode> {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    Ok(r.status())
}

/// The ids of the incidents (admin view), oldest first.
pub async fn incident_ids(base: &str) -> Result<Vec<String>> {
    let v = get(base, ADMIN, "/api/v1/incidents").await?;
    let mut ids: Vec<String> = v["incidents"]
        .as_array()
        .context("incidents")?
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The notifications of an incident's dispatch log (admin view).
pub async fn notifications(base: &str, id: &str) -> Result<Vec<Value>> {
    let v = get(base, ADMIN, &format!("/api/v1/incidents/{id}/dispatch")).await?;
    Ok(v["notifications"].as_array().context("notifications")?.clone())
}

/// The idempotency key of a notification of incident `id`'s dispatch log (its outbox key without
/// `/{channel}`).
pub fn message_key(id: &str, n: &Value) -> String {
    let seq = n["seq"].as_u64().unwrap_or(0);
    format!("{id}:{}:{}:{seq}", n["target"].as_str().unwrap_or(""), n["role"].as_str().unwrap_or(""))
}

/// Collects the messages published under a filter of the real broker.
pub struct DispatchWatch {
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    pub seen: Vec<(String, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatchWatch {
    /// Subscribes (QoS 1) and waits for the SUBACK.
    pub async fn start(port: u16, filter: &str) -> Result<DispatchWatch> {
        let id = format!("dispatch-watch-{}-{}", std::process::id(), crate::support::free_port()?);
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
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

    /// Waits until `pred` holds over everything received so far.
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&[(String, Value)]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.seen.push(m),
                _ => bail!("dispatch condition not met within {timeout:?}; received {:?}", self.seen),
            }
        }
        Ok(())
    }

    /// Collects what arrives in the next `d`.
    pub async fn settle(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(m);
        }
    }

    /// How many messages arrived per `idempotency_key`.
    pub fn per_key(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, v) in &self.seen {
            *out.entry(v["idempotency_key"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        out
    }
}

impl Drop for DispatchWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request a [`Hooks`] receiver got.
#[derive(Debug, Clone)]
pub struct Hooked {
    /// `hook/{who}`, `redirect/{who}` or `moved/{who}`.
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub timestamp: String,
    pub signature: String,
    pub key: String,
    pub body: String,
    pub answered: u16,
}

/// A webhook receiver on 127.0.0.1: `/hook/{who}` answers `status` (200 by default),
/// `/redirect/{who}` answers 302 to `/moved/{who}` (which answers 200), and every request is
/// recorded.
pub struct Hooks {
    pub base: String,
    status: Arc<Mutex<u16>>,
    rx: mpsc::UnboundedReceiver<Hooked>,
    pub seen: Vec<Hooked>,
    task: tokio::task::JoinHandle<()>,
}

impl Hooks {
    pub async fn start() -> Result<Hooks> {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(200u16));
        let st = status.clone();
        let app = axum::Router::new().route(
            "/{kind}/{who}",
            axum::routing::post(
                move |axum::extract::Path((kind, who)): axum::extract::Path<(String, String)>,
                      uri: axum::http::Uri,
                      headers: HeaderMap,
                      body: String| {
                    let (tx, st) = (tx.clone(), st.clone());
                    async move {
                        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let hook_status = st.lock().map(|s| *s).unwrap_or(200);
                        let (status, location) = match kind.as_str() {
                            "redirect" => (302, Some(format!("/moved/{who}"))),
                            "hook" => (hook_status, None),
                            _ => (200, None),
                        };
                        let _ = tx.send(Hooked {
                            path: format!("{kind}/{who}"),
                            query: uri.query().unwrap_or("").to_owned(),
                            timestamp: h("x-firegrid-timestamp"),
                            signature: h("x-firegrid-signature"),
                            key: h("idempotency-key"),
                            body,
                            answered: status,
                        });
                        let mut resp = axum::response::Response::new(axum::body::Body::empty());
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                        if let Some(l) = location.and_then(|l| l.parse().ok()) {
                            resp.headers_mut().insert(axum::http::header::LOCATION, l);
                        }
                        resp
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Hooks { base, status, rx, seen: Vec::new(), task })
    }

    /// What `/hook/{who}` answers from now on.
    pub fn answer(&self, status: u16) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }

    /// Waits until `pred` holds over everything received so far.
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&[Hooked]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(h)) => self.seen.push(h),
                _ => bail!("webhook condition not met within {timeout:?}; received {:?}", self.seen),
            }
        }
        Ok(())
    }

    /// Collects what arrives in the next `d`.
    pub async fn settle(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(h)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(h);
        }
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The receiver of DESIGN §6 in Rust: the signature is the HMAC-SHA256 of `"{timestamp}.{body}"`
/// and the timestamp is at most 5 minutes from `now_s`.
pub fn verify(secret: &str, timestamp: &str, body: &str, signature: &str, now_s: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let Some(hex) = signature.strip_prefix("sha256=") else { return false };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    (now_s - ts).abs() <= 300 && ring::hmac::verify(&key, format!("{timestamp}.{body}").as_bytes(), &tag).is_ok()
}
