//! The dispatcher console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by `scripts/test.sh`), driven through chromedriver's W3C WebDriver HTTP API with
//! reqwest. firegrid runs in-process against a real mosquitto and VictoriaMetrics, with a small
//! registry in 渝北区 and a tokens file written by the test. The test logs in with a dispatcher
//! token, checks that the console loaded with no failed request and no script error, publishes the
//! readings of a fire to mosquitto and waits for the new critical incident to appear without a
//! reload, then opens the station view (`/?station=…`) with the station's token and acknowledges
//! the incident there; and, with every station made busy by an admin, a fire in a household without a
//! grid manager raises the dispatchers' "no recipient" banner, which goes once a station is available.
//! Screenshots go to `target/test-artifacts/console/`.
//!
//! A missing `chromium` or `chromedriver` fails the test with what to install; nothing is skipped.

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use firegrid_ingest::{Device, Grid, SiteType, Station, Tier};
use serde_json::{json, Value};
use support::registry::{detector, grid, station};
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DISPATCHER: &str = "dispatcher-console-0123456789";
const STATION: &str = "station-wuxing-0123456789abc";
const ADMIN: &str = "admin-console-0123456789abcd";
const STATION_ID: &str = "ms-wuxing";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// 五星路社区 (a vulnerable flat of two detectors and another flat), 龙昌街社区 (a hot-pot
/// restaurant and a flat) and a flat of 飞湖路社区 without a grid.
fn devices() -> Vec<Device> {
    let wx = |id: &str, hh: &str, address: &str, at: (f64, f64), vulnerable: bool| Device {
        grid_id: "g-wx-01".to_owned(),
        address: address.to_owned(),
        lat: Some(at.0),
        lon: Some(at.1),
        vulnerable,
        ..detector(id, hh)
    };
    let elsewhere = |d: Device, community: &str, grid: &str| Device {
        community: community.to_owned(),
        grid_id: grid.to_owned(),
        ..d
    };
    vec![
        wx("sd-wx-001", "h-wx-502", "五星路 3栋2单元502室", (29.7192, 106.6322), true),
        wx("sd-wx-002", "h-wx-502", "五星路 3栋2单元502室", (29.7192, 106.6322), true),
        wx("sd-wx-003", "h-wx-301", "五星路 1栋301室", (29.7176, 106.6338), false),
        Device {
            site_type: SiteType::SmallVenue,
            ..elsewhere(
                wx("sd-lc-101", "h-lc-101", "龙昌街 8号 火锅店", (29.7251, 106.6381), false),
                "500112002002",
                "g-lc-01",
            )
        },
        elsewhere(
            wx("sd-lc-102", "h-lc-102", "龙昌街 12号 2-3", (29.7268, 106.6362), false),
            "500112002002",
            "g-lc-01",
        ),
        elsewhere(wx("sd-fh-201", "h-fh-201", "飞湖路 6号", (29.7125, 106.6270), false), "500112002007", ""),
    ]
}

/// Micro stations of the three communities (飞湖路's off duty), two township teams, the district.
fn stations() -> Vec<Station> {
    let sl = "500112002";
    vec![
        station("ms-wuxing", "五星路社区微型消防站", Tier::Micro, (sl, "500112002001"), (29.7185, 106.6300)),
        station("ms-longchang", "龙昌街社区微型消防站", Tier::Micro, (sl, "500112002002"), (29.7262, 106.6402)),
        Station {
            available: false,
            ..station("ms-feihu", "飞湖路社区微型消防站", Tier::Micro, (sl, "500112002007"), (29.7121, 106.6262))
        },
        station("tt-shuanglonghu", "双龙湖街道专职消防队", Tier::TownshipTeam, (sl, ""), (29.7140, 106.6420)),
        station("tt-huixing", "回兴街道专职消防队", Tier::TownshipTeam, ("500112004", ""), (29.7372, 106.6195)),
        station("d-500112", "渝北区消防救援站", Tier::District, ("", ""), (29.7066, 106.6515)),
    ]
}

/// The grids of 五星路社区 and 龙昌街社区.
fn grids() -> Vec<Grid> {
    vec![
        grid("g-wx-01", "500112002001", "张网格", "13800000001"),
        grid("g-lc-01", "500112002002", "李网格", "13800000002"),
    ]
}

/// Where the screenshots go: `target/test-artifacts/console/`.
fn artifacts() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/console");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn settings(dir: &Path, mqtt: &Mosquitto, vm: &VictoriaMetrics) -> Result<firegrid::Settings> {
    let reg = support::registry::write(dir, &devices(), &stations(), &grids())?;
    // Mode 0600: firegrid refuses a tokens file others may read.
    firegrid_alerting::access::private_file::write_private(
        &dir.join("tokens.csv"),
        &format!(
            "token,role,subject\n{DISPATCHER},dispatcher,duty\n{STATION},station,{STATION_ID}\n{ADMIN},admin,ops\n"
        ),
    )?;
    let mut c = firegrid::Config::default();
    c.mqtt.url = mqtt.url();
    c.mqtt.client_id = format!("firegrid-console-{}", std::process::id());
    c.mqtt.reconnect_max_ms = 500;
    c.store.influxdb.url = vm.url();
    c.store.influxdb.retry_max_ms = 500;
    c.registry.devices = reg.devices.display().to_string();
    c.registry.stations = reg.stations.display().to_string();
    c.registry.grids = reg.grids.display().to_string();
    c.api.tokens_file = dir.join("tokens.csv").display().to_string();
    c.http.listen = "127.0.0.1:0".into();
    c.data.dir = dir.join("data").display().to_string();
    Ok(c.validate()?)
}

/// A smoke reading on the device's topic: `alarm` makes it a fire alarm (with heat when `temp` ≥ 57 °C), a
/// `battery` of 15 % or less a hazard.
fn smoke(device: &str, community: &str, seq: u64, alarm: bool, temp: f64, battery: u8) -> (String, Vec<u8>) {
    let township = &community[..9];
    let topic = format!("firegrid/v1/500112/{township}/smoke/{device}");
    let (status, obscuration) = if alarm { ("alarm", 0.42) } else { ("normal", 0.01) };
    let payload = json!({
        "ts": firegrid_ingest::clock::now_ms(),
        "seq": seq,
        "status": status,
        "values": { "obscuration_db_m": obscuration, "temperature_c": temp, "alarm": alarm, "battery_pct": battery },
    });
    (topic, payload.to_string().into_bytes())
}

/// chromedriver as a child process in its own process group (the browsers it starts join it), killed by that
/// group's id — chromedriver's PID — on drop, so a panic or a timeout leaves no Chromium behind.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    async fn start(log: &Path) -> Result<ChromeDriver> {
        for (bin, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            ensure!(
                Path::new(bin).exists(),
                "{bin} is missing: install Debian's `{package}` (./scripts/test.sh installs chromium and chromium-driver)"
            );
        }
        let port = support::free_port()?;
        let child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn chromedriver")?;
        let driver = ChromeDriver { child, port };
        let url = format!("http://127.0.0.1:{port}/status");
        support::eventually(Duration::from_secs(20), || async {
            let ready = match reqwest::get(&url).await {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["value"]["ready"].as_bool()).unwrap_or(false),
                Err(_) => false,
            };
            Ok(ready.then_some(()))
        })
        .await
        .context("chromedriver did not become ready")?;
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The session is normally deleted first (chromedriver then ends its browser); this is the backstop.
        // kill(1) with a negative id signals only the process group made for chromedriver.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session (a headless Chromium with a fresh profile).
struct Browser {
    http: reqwest::Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn open(driver: &ChromeDriver, profile: &Path, shots: PathBuf) -> Result<Browser> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1600,1000",
            "--lang=zh-CN",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let r: Value =
            http.post(format!("http://127.0.0.1:{}/session", driver.port)).json(&caps).send().await?.json().await?;
        let id = r["value"]["sessionId"].as_str().with_context(|| format!("no session: {r}"))?;
        Ok(Browser { http, base: format!("http://127.0.0.1:{}/session/{id}", driver.port), shots })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await?.json().await?;
        if let Some(err) = r["value"]["error"].as_str() {
            bail!("webdriver {path}: {err}: {}", r["value"]["message"].as_str().unwrap_or(""));
        }
        Ok(r["value"].clone())
    }

    async fn goto(&self, url: &str) -> Result<()> {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        self.cmd(reqwest::Method::POST, "/goog/cdp/execute", Some(json!({ "cmd": cmd, "params": params }))).await
    }

    async fn js(&self, script: &str) -> Result<Value> {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .cmd(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css })))
            .await
            .with_context(|| format!("find {css}"))?;
        Ok(v[ELEMENT].as_str().context("element id")?.to_owned())
    }

    /// Clicks the element; the page redraws its list and detail on every update, so an element that went stale
    /// between finding and clicking is found again (a few times).
    async fn click(&self, css: &str) -> Result<()> {
        let mut attempt = 0;
        loop {
            let el = self.find(css).await?;
            match self.cmd(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await {
                Err(e) if attempt < 5 && e.to_string().contains("stale element") => attempt += 1,
                other => return other.map(drop),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let mut attempt = 0;
        loop {
            let el = self.find(css).await?;
            let typed = match self.cmd(reqwest::Method::POST, &format!("/element/{el}/clear"), Some(json!({}))).await {
                Ok(_) => {
                    let body = Some(json!({ "text": text }));
                    self.cmd(reqwest::Method::POST, &format!("/element/{el}/value"), body).await
                }
                Err(e) => Err(e),
            };
            match typed {
                Err(e) if attempt < 5 && e.to_string().contains("stale element") => attempt += 1,
                other => return other.map(drop),
            }
        }
    }

    /// Evaluates `expr` every 200 ms until it is truthy; returns its value.
    async fn wait_for(&self, what: &str, expr: &str, timeout: Duration) -> Result<Value> {
        let script = format!("return ({expr});");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.js(&script).await?;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                let _ = self.screenshot(&format!("failed-{}", what.replace(' ', "-"))).await;
                bail!("timed out after {timeout:?} waiting for {what} ({expr})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().context("screenshot data")?)?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        eprintln!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Requests that failed (network error or HTTP ≥ 400), script errors, and SEVERE browser log lines.
    async fn failures(&self) -> Result<Vec<String>> {
        let v = self
            .js("return performance.getEntriesByType('resource')
                    .filter(e => !(e.responseStatus >= 200 && e.responseStatus < 400))
                    .map(e => `${e.name}: HTTP ${e.responseStatus}`)
                    .concat((window.__firegrid && window.__firegrid.errors) || []);")
            .await?;
        let mut out: Vec<String> =
            v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect();
        // chromedriver's log endpoint (outside W3C): every console message and failed load the page produced.
        let logs = self.cmd(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" }))).await?;
        for entry in logs.as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                out.push(entry["message"].as_str().unwrap_or("").to_owned());
            }
        }
        Ok(out)
    }

    async fn close(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

async fn api(addr: std::net::SocketAddr, token: &str, path: &str) -> Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_fire_appears_live_in_the_console_and_its_station_acknowledges_it_from_the_station_view() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(240), async {
        let shots = artifacts()?;
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(settings(dir.path(), &mqtt, &vm)?, shutdown.clone()).await?;
        let addr = running.http_addr;
        let base = format!("http://{addr}");

        // Nothing of an incident is served without a token; the shell itself is.
        let r = reqwest::get(format!("{base}/api/v1/incidents")).await?;
        ensure!(r.status() == 401, "incidents without a token: {}", r.status());
        let shell = reqwest::get(format!("{base}/")).await?.text().await?;
        ensure!(shell.contains("/console/app.js"), "the console shell is served at /");
        let weight = firegrid_alerting::http::console::page_weight();
        eprintln!("console page weight: {weight} bytes (HTML+JS+CSS)");

        // Incidents before the console opens: a fire in a hot-pot shop (high) and a low battery (hazard).
        fleet_publish(
            &mqtt,
            vec![
                smoke("sd-lc-101", "500112002002", 1, true, 31.0, 90),
                smoke("sd-wx-003", "500112002001", 1, false, 23.0, 9),
            ],
        )
        .await?;
        support::eventually(Duration::from_secs(20), || async {
            let (_, v) = api(addr, DISPATCHER, "/api/v1/incidents").await?;
            Ok((v["incidents"].as_array().map_or(0, Vec::len) >= 2).then_some(()))
        })
        .await
        .context("the two first incidents were not opened")?;

        let log = dir.path().join("chromedriver.log");
        let driver = ChromeDriver::start(&log).await?;
        let profile = tempfile::tempdir()?;
        let browser = Browser::open(&driver, profile.path(), shots.clone()).await?;
        let outcome = drive(&browser, addr, &mqtt).await;
        if outcome.is_err() {
            let _ = browser.screenshot("failure").await;
        }
        browser.close().await;
        drop(driver);
        shutdown.cancel();
        running.wait().await?;
        outcome
    })
    .await
    .context("the console test took longer than 240 s")?
}

async fn fleet_publish(mqtt: &Mosquitto, msgs: Vec<(String, Vec<u8>)>) -> Result<()> {
    support::publish::publish_all(mqtt.port(), &format!("console-test-{}", firegrid_ingest::clock::now_ms()), msgs)
        .await
}

async fn drive(b: &Browser, addr: std::net::SocketAddr, mqtt: &Mosquitto) -> Result<()> {
    let base = format!("http://{addr}");
    let wait = Duration::from_secs(20);

    // 1. The shell loads and asks for a token; no incident data is in the page.
    b.goto(&format!("{base}/")).await?;
    b.wait_for("the login form", "!document.getElementById('login').hidden", wait).await?;
    ensure!(b.js("return document.querySelectorAll('#list .item').length").await? == json!(0));
    b.screenshot("01-login").await?;

    // 2. Dispatcher login: the list and the map show the two incidents, live.
    b.type_into("#token", DISPATCHER).await?;
    b.click("#login-form button[type=submit]").await?;
    b.wait_for("the incident list", "document.querySelectorAll('#list .item').length >= 2", wait).await?;
    b.wait_for("the live stream", "document.getElementById('live').classList.contains('on')", wait).await?;
    b.wait_for("map markers", "document.querySelectorAll('#map circle.inc').length >= 1", wait).await?;
    b.wait_for("station markers", "document.querySelectorAll('#map .stn').length == 6", wait).await?;
    let failures = b.failures().await?;
    ensure!(failures.is_empty(), "the console loaded with failed requests or errors: {failures:#?}");
    // One event stream per login: a second open used to abort the first fetch (logged as `HTTP 0`).
    let streams = b.js("return window.__firegrid.streams").await?;
    ensure!(streams == json!(1), "the console opened the event stream {streams} times at login");
    b.screenshot("02-dispatcher").await?;

    // 3. A fire in a vulnerable household: a critical incident appears without a reload.
    b.js("window.__noReload = 'still-here'; return 1").await?;
    let before: Vec<String> = serde_json::from_value(
        b.js("return [...document.querySelectorAll('#list .item')].map(e => e.dataset.id)").await?,
    )?;
    fleet_publish(mqtt, vec![smoke("sd-wx-001", "500112002001", 1, true, 61.0, 90)]).await?;
    let new_id = b
        .wait_for(
            "the new critical incident",
            &format!(
                "[...document.querySelectorAll('#list .item[data-severity=critical]')].map(e => e.dataset.id)
                    .find(id => !{})",
                serde_json::to_string(&before)? + ".includes(id)"
            ),
            Duration::from_secs(30),
        )
        .await?;
    let new_id = new_id.as_str().context("incident id")?.to_owned();
    ensure!(b.js("return window.__noReload").await? == json!("still-here"), "the page was reloaded");
    b.wait_for("the visual alarm", "!document.getElementById('alarm').hidden", wait).await?;
    ensure!(b.js("return window.__firegrid.alarms").await?.as_u64() >= Some(1), "no new-critical cue");
    // The banner opens the incident; wait for its dispatch log and escalation clock.
    b.click("#alarm-close").await?;
    b.wait_for(
        "the detail with the dispatch log",
        &format!("document.querySelector('#detail .inc-id') && document.querySelector('#detail .inc-id').textContent == '{new_id}'"),
        wait,
    )
    .await?;
    b.wait_for("the dispatch log rows", "document.querySelectorAll('#detail table').length >= 3", wait).await?;
    b.wait_for("the escalation clock", "!document.getElementById('clockbox').hidden", wait).await?;
    b.js("document.getElementById('alarm').hidden = false; return 1").await?; // keep the cue in the screenshot
    b.screenshot("03-new-critical").await?;
    b.click("#lang").await?;
    b.wait_for("English labels", "document.documentElement.lang == 'en'", wait).await?;
    b.screenshot("04-english").await?;
    b.click("#lang").await?;
    let failures = b.failures().await?;
    ensure!(failures.is_empty(), "failed requests or errors after the new incident: {failures:#?}");

    // 4. The station view with the station's own token: only its incidents; acknowledge.
    b.click("#logout").await?;
    ensure!(
        b.js("return document.getElementById('app').textContent.includes('INC-')").await? == json!(false),
        "incident data stays in the page after logging out"
    );
    b.goto(&format!("{base}/?station={STATION_ID}")).await?;
    b.wait_for("the login form", "!document.getElementById('login').hidden", wait).await?;
    b.type_into("#token", STATION).await?;
    b.click("#login-form button[type=submit]").await?;
    b.wait_for("the station's incident", &format!("document.querySelector('#list .item[data-id=\"{new_id}\"]')"), wait)
        .await?;
    let others = b.js("return [...document.querySelectorAll('#list .item')].map(e => e.dataset.id)").await?;
    let (_, mine) = api(addr, STATION, "/api/v1/incidents").await?;
    let mine: Vec<&str> = mine["incidents"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str()).collect();
    for id in others.as_array().into_iter().flatten() {
        ensure!(mine.contains(&id.as_str().unwrap_or("")), "the station view shows {id}, not notified to {STATION_ID}");
    }
    b.click(&format!("#list .item[data-id=\"{new_id}\"]")).await?;
    b.wait_for(
        "the ack button",
        "document.querySelector('#detail button[data-action=ack]') && !document.querySelector('#detail button[data-action=ack]').disabled",
        wait,
    )
    .await?;
    b.type_into("#note", "五星路微站已出动").await?;
    b.click("#detail button[data-action=ack]").await?;
    b.wait_for(
        "the acknowledged state in the list",
        &format!("document.querySelector('#list .item[data-id=\"{new_id}\"]').dataset.status == 'acknowledged'"),
        wait,
    )
    .await?;
    let (status, rec) = api(addr, DISPATCHER, &format!("/api/v1/incidents/{new_id}")).await?;
    ensure!(status == 200 && rec["incident"]["status"] == "acknowledged", "incident after the ack: {rec}");
    let by_station = rec["audit"].as_array().into_iter().flatten().any(|a| {
        a["event"] == "acknowledged" && a["actor"] == format!("station:{STATION_ID}") && a["note"] == "五星路微站已出动"
    });
    ensure!(by_station, "the audit trail has no acknowledgement by station:{STATION_ID}: {}", rec["audit"]);
    b.wait_for("the audit row", "document.getElementById('detail').textContent.includes('station:ms-wuxing')", wait)
        .await?;
    b.screenshot("05-station-acknowledged").await?;
    let failures = b.failures().await?;
    ensure!(failures.is_empty(), "failed requests or errors in the station view: {failures:#?}");

    // 5. Without the live stream (blocked in the browser), the page polls the list every 2 s: a new fire still
    //    appears without a reload.
    b.cdp("Network.enable", json!({})).await?;
    b.cdp("Network.setBlockedURLs", json!({ "urls": ["*/api/v1/events*"] })).await?;
    b.click("#logout").await?;
    b.goto(&format!("{base}/")).await?;
    b.wait_for("the login form", "!document.getElementById('login').hidden", wait).await?;
    b.type_into("#token", DISPATCHER).await?;
    b.click("#login-form button[type=submit]").await?;
    b.wait_for("polling", "document.getElementById('live').classList.contains('poll')", wait).await?;
    b.wait_for("the incident list", "document.querySelectorAll('#list .item').length >= 3", wait).await?;
    b.js("window.__noReload = 'polling'; return 1").await?;
    let before = b.js("return document.querySelectorAll('#list .item').length").await?;
    fleet_publish(mqtt, vec![smoke("sd-lc-102", "500112002002", 1, true, 30.0, 95)]).await?;
    b.wait_for(
        "a new incident while polling",
        &format!("document.querySelectorAll('#list .item').length > {before}"),
        Duration::from_secs(30),
    )
    .await?;
    ensure!(b.js("return window.__noReload").await? == json!("polling"), "the page was reloaded");
    ensure!(
        b.js("return document.getElementById('live').classList.contains('poll')").await? == json!(true),
        "the page should still be polling"
    );
    b.screenshot("06-polling").await?;

    // 6. Every station busy (an admin, over the API) and a fire where no grid manager is registered: nobody can be
    //    sent, and the dispatchers see it in a banner that opens the incident; it goes once a station is available.
    let available = ["ms-wuxing", "ms-longchang", "tt-shuanglonghu", "tt-huixing", "d-500112"];
    for station in available {
        set_status(addr, station, "busy").await?;
    }
    fleet_publish(mqtt, vec![smoke("sd-fh-201", "500112002007", 1, true, 30.0, 95)]).await?;
    let stranded = b
        .wait_for(
            "the unroutable banner",
            "!document.getElementById('unroutable').hidden && document.querySelector('#unroutable-list [data-id]') \
                && document.querySelector('#unroutable-list [data-id]').dataset.id",
            Duration::from_secs(30),
        )
        .await?;
    let stranded = stranded.as_str().context("incident id")?.to_owned();
    let text = b.js("return document.getElementById('unroutable').textContent").await?;
    ensure!(text.as_str().is_some_and(|t| t.contains("无可用接警力量")), "banner text: {text}");
    b.click(&format!("#unroutable-list [data-id=\"{stranded}\"]")).await?;
    b.wait_for(
        "the unroutable incident's detail",
        &format!("document.querySelector('#detail .inc-id') && document.querySelector('#detail .inc-id').textContent == '{stranded}'"),
        wait,
    )
    .await?;
    b.screenshot("07-unroutable").await?;
    set_status(addr, "ms-wuxing", "available").await?;
    b.wait_for("the banner to go", "document.getElementById('unroutable').hidden", Duration::from_secs(30)).await?;
    let (_, rec) = api(addr, DISPATCHER, &format!("/api/v1/incidents/{stranded}")).await?;
    ensure!(rec["incident"]["notified_stations"] == json!(["ms-wuxing"]), "dispatched once available: {rec}");
    // The event stream is still blocked on purpose (step 5).
    let failures: Vec<String> = b.failures().await?.into_iter().filter(|f| !f.contains("/api/v1/events")).collect();
    ensure!(failures.is_empty(), "failed requests or errors around the banner: {failures:#?}");
    Ok(())
}

/// Sets a station's availability with the admin token, over the HTTP API.
async fn set_status(addr: std::net::SocketAddr, station: &str, status: &str) -> Result<()> {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/stations/{station}/availability"))
        .bearer_auth(ADMIN)
        .body(json!({ "status": status }).to_string())
        .send()
        .await?;
    ensure!(r.status().is_success(), "{station} {status}: {}", r.status());
    Ok(())
}
