//! The dispatch tests' fixtures: a registry of 渝北区 双龙湖街道 (a vulnerable household of two
//! detectors and a neighbour, their micro station, a second micro station, the township team, the
//! district station, the grid), the API tokens, a firegrid.toml for the real binary, an alarm
//! reading, and the incident API calls the tests make.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use axum::http::StatusCode;
use firegrid_ingest::{Device, Grid, RegistryPaths, Station, Tier};
use serde_json::Value;

use super::registry::{detector, grid, hook, neighbour, station, COMMUNITY, GRID};

pub const SECRET: &str = "dispatch-e2e-webhook-secret-0123";
pub const ADMIN: &str = "admin-token-dispatch-0123456789";
pub const DISPATCHER: &str = "dispatcher-token-dispatch-0123";
pub const STATION: &str = "station-token-ms-500112002001";

/// A vulnerable household of two smoke detectors (`hh-1`, grid g1) and a neighbour (`hh-2`),
/// both in 五星路社区.
pub fn devices() -> Vec<Device> {
    vec![
        Device { vulnerable: true, ..detector("sd-1", "hh-1") },
        Device { vulnerable: true, ..detector("sd-2", "hh-1") },
        neighbour("sd-3", "hh-2"),
    ]
}

/// The stations: district, township team, the covering micro station (webhook `ms_hook`, none
/// when empty) and a second micro station.
pub fn stations(ms_hook: &str) -> Vec<Station> {
    let ms =
        station("ms-500112002001", "五星路社区微型消防站", Tier::Micro, ("500112002", COMMUNITY), (29.7205, 106.6302));
    vec![
        station("ds-500112", "渝北区消防救援站", Tier::District, ("", ""), (29.7180, 106.6312)),
        station("tt-500112002", "双龙湖街道专职消防队", Tier::TownshipTeam, ("500112002", ""), (29.7250, 106.6360)),
        Station { webhook_url: hook(ms_hook), ..ms },
        station(
            "ms-500112002002",
            "龙昌街社区微型消防站",
            Tier::Micro,
            ("500112002", "500112002002"),
            (29.7230, 106.6350),
        ),
    ]
}

/// The grid of 五星路社区 and its manager (webhook `hook`, none when empty).
pub fn grids(hook_url: &str) -> Vec<Grid> {
    vec![Grid { webhook_url: hook(hook_url), ..grid(GRID, COMMUNITY, "王芳", "13800000001") }]
}

/// Writes the registry files into `dir`.
pub fn write_registry(dir: &Path, devices: &[Device], stations: &[Station], grids: &[Grid]) -> Result<RegistryPaths> {
    super::registry::write(dir, devices, stations, grids)
}

/// Writes `tokens.csv` (admin, dispatcher, the covering micro station) into `dir`.
pub fn write_tokens(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("tokens.csv");
    // Mode 0600: firegrid refuses a tokens file others may read.
    firegrid_alerting::access::private_file::write_private(
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
    reg: &RegistryPaths,
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
            port = super::free_port()?,
        ),
    )?;
    Ok(config)
}

/// A smoke alarm reading of a device of [`DEVICES`].
pub fn alarm(device: &str, seq: u64) -> (String, Vec<u8>) {
    let ts = firegrid_ingest::clock::now_ms();
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

/// Once no notification of any incident is pending any more (`None` while one is): how many MQTT
/// notifications were delivered in all. From then on the dispatch topics carry nothing new until
/// something new happens, and a watcher that [synced](super::watch::DispatchWatch::sync) has them
/// all.
pub async fn outbox_settled(base: &str) -> Result<Option<usize>> {
    let v = get(base, ADMIN, "/api/v1/incidents?limit=5000").await?;
    let mut delivered = 0;
    for inc in v["incidents"].as_array().context("incidents")? {
        let id = inc["id"].as_str().context("id")?;
        for n in notifications(base, id).await? {
            if n["state"] == "pending" {
                return Ok(None);
            }
            delivered += usize::from(n["channel"] == "mqtt" && n["state"] == "delivered");
        }
    }
    Ok(Some(delivered))
}
