//! Every query the shipped dashboards and alert rules make runs against a real server holding real data.
//!
//! One test starts a real InfluxDB 1.x (Debian package `influxdb`), a real mosquitto and a real Prometheus (Debian
//! package `prometheus`, configured from `deploy/prometheus/prometheus.yml` with its rules, scraping every second),
//! runs firegrid in-process with `store.influxdb.api = "v1"` against them, and publishes readings of all three kinds
//! over MQTT — normal ones, one alarm-level reading per kind, a low battery, and malformed messages. Then:
//!
//! * every InfluxQL query of `deploy/grafana/dashboards/*.json` — panel targets, template variables and
//!   annotations — is run with the Grafana macros substituted as Grafana does (`$timeFilter` as the dashboard's
//!   default range in epoch milliseconds, `$__interval`, `$county` = one county, `$township` = All) and must answer
//!   without error and with rows; the alarm-level tables must list exactly the devices that sent an alarm-level
//!   reading, and the incident panels must show the incidents firegrid opened;
//! * every PromQL query of the dashboards and every alert rule expression runs against Prometheus without error;
//!   a query whose metrics firegrid exports must return series (firegrid's own `/metrics` says which it exports;
//!   the others are listed on stdout), and Prometheus must report every rule evaluated and healthy;
//! * the alerts that describe a broken pipeline (broker disconnected, store unreachable, ingest stalled) are quiet
//!   for this healthy one, and the rejections alert expression matches the burst of malformed messages.
//!
//! A second test, ignored by default, measures the heaviest panels on a week of one county's data:
//! `cargo test --test deploy_dashboards -- --ignored --nocapture`.
//!
//! Servers run on free loopback ports in temporary directories and are killed by PID when dropped.

#[path = "../support/mod.rs"]
mod support;

mod queries;
mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;
use support::fleet::{self, TestDevice};
// The database firegrid writes to (`store.influxdb.bucket`) and the dashboards' data source reads.
use support::influxdb::{InfluxDb, DATABASE};
use support::Mosquitto;
use tokio_util::sync::CancellationToken;

/// Upper bound of the end-to-end test.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Upper bound of the week measurement.
const MEASURE_TIMEOUT: Duration = Duration::from_secs(600);
const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
const PROMTOOL_BIN: &str = "/usr/bin/promtool";
/// The county the dashboards are looked at for (`$county`).
const COUNTY: &str = "500112";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use queries::*;
use servers::*;

// ---------------------------------------------------------------------------------------------------------------
// Data

fn now_ms() -> i64 {
    firegrid_ingest::clock::now_ms()
}

/// Devices that send an alarm-level reading, by kind, and the payloads they send.
struct Alarms {
    smoke: TestDevice,
    electrical: TestDevice,
    forest_ir: TestDevice,
    low_battery: TestDevice,
}

impl Alarms {
    fn pick(devices: &[TestDevice]) -> Result<Alarms> {
        let find = |kind: &str, skip: usize| {
            devices
                .iter()
                .filter(|d| d.kind == kind && d.county == COUNTY && d.registered)
                .nth(skip)
                .cloned()
                .with_context(|| format!("no registered {kind} device in {COUNTY}"))
        };
        Ok(Alarms {
            smoke: find("smoke", 0)?,
            electrical: find("electrical", 0)?,
            forest_ir: find("forest_ir", 0)?,
            low_battery: find("smoke", 1)?,
        })
    }

    fn messages(&self, ts: i64) -> Vec<(String, Vec<u8>)> {
        let smoke = format!(
            r#"{{"ts":{ts},"seq":100,"status":"alarm","values":{{"obscuration_db_m":0.31,"temperature_c":41.5,"alarm":true,"battery_pct":80}}}}"#
        );
        let electrical = format!(
            r#"{{"ts":{ts},"seq":100,"values":{{"residual_current_ma":350,"cable_temp_c":[75.5,31.5],"arc_fault":true}}}}"#
        );
        let forest = format!(
            r#"{{"ts":{ts},"seq":100,"values":{{"max_temp_c":180,"hotspot_px":40,"smoke_score":0.93,"lat":29.71,"lon":106.62}}}}"#
        );
        let battery = format!(
            r#"{{"ts":{ts},"seq":100,"values":{{"obscuration_db_m":0.02,"temperature_c":22,"battery_pct":9}}}}"#
        );
        vec![
            (fleet::topic(&self.smoke), smoke.into_bytes()),
            (fleet::topic(&self.electrical), electrical.into_bytes()),
            (fleet::topic(&self.forest_ir), forest.into_bytes()),
            (fleet::topic(&self.low_battery), battery.into_bytes()),
        ]
    }
}

fn settings(dir: &Path, mqtt: &Mosquitto, influx: &InfluxDb, devices: &[TestDevice]) -> Result<firegrid::Settings> {
    let reg = fleet::write_registry(dir, devices)?;
    let client_id = format!("firegrid-deploy-test-{}", std::process::id());
    let mut c = fleet::harness_config(dir, &reg, &mqtt.url(), &influx.url(), &client_id);
    c.store.influxdb.api = "v1".into();
    c.store.influxdb.bucket = DATABASE.into();
    Ok(c.validate()?)
}

/// Polls `check` every 200 ms until it yields a value, or fails with its last complaint after `timeout`.
async fn until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    support::eventually(timeout, &mut check).await.with_context(|| format!("waiting for {what}"))
}

/// The fleet with its made-up township codes (`500112100`…) replaced by real ones of the same county, in order, so
/// the township variable's names can be checked against what firegrid wrote.
fn with_real_townships(mut devices: Vec<TestDevice>) -> Result<Vec<TestDevice>> {
    let names = division_names()?;
    for d in &mut devices {
        let made_up: usize = d.township.get(6..).context("township code")?.parse()?;
        let real = names
            .keys()
            .filter(|c| c.len() == 9 && c.starts_with(d.county))
            .nth(made_up - 100)
            .with_context(|| format!("a township of {}", d.county))?;
        d.community = format!("{real}{}", d.community.get(9..).unwrap_or(""));
        d.township = real.clone();
    }
    Ok(devices)
}

/// The county and township variables offer, by name (渝北区 for 500112), every division firegrid wrote.
async fn division_variables_offer_what_firegrid_wrote_by_name(influx: &InfluxDb) -> Result<()> {
    let names = division_names()?;
    let variables = division_variables()?;
    ensure!(variables.len() == 3, "county in two dashboards, township in one: {}", variables.len());
    for (file, var, options) in variables {
        for (text, code) in &options {
            let want = division_label(&names, code);
            ensure!(
                want.as_deref() == Some(text.as_str()),
                "{file}: ${var} shows {text} for {code}, not {want:?}: run scripts/grafana-divisions.py"
            );
        }
        let offered: BTreeSet<&str> = options.iter().map(|(_, c)| c.as_str()).collect();
        let written = influx.query(&format!(r#"SHOW TAG VALUES WITH KEY = "{var}""#)).await?;
        let written: BTreeSet<String> = written
            .records()
            .iter()
            .filter_map(|r| r.get("value").and_then(Value::as_str).map(str::to_owned))
            .collect();
        ensure!(!written.is_empty(), "no {var} tag written");
        let missing: Vec<&String> = written.iter().filter(|c| !offered.contains(c.as_str())).collect();
        ensure!(missing.is_empty(), "{file}: ${var} does not offer {missing:?}");
    }
    Ok(())
}

fn device_ids(answer: &InfluxAnswer) -> BTreeSet<String> {
    answer.records().iter().filter_map(|r| r.get("device_id").and_then(Value::as_str).map(str::to_owned)).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_and_alert_rule_runs_against_real_servers_holding_what_firegrid_wrote() -> Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let influx = InfluxDb::start().await?;
        let mqtt = Mosquitto::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = with_real_townships(fleet::devices(40))?;
        let alarms = Alarms::pick(&devices)?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(settings(dir.path(), &mqtt, &influx, &devices)?, shutdown.clone()).await?;
        let addr = running.http_addr;
        let prometheus = Prometheus::start(&addr.to_string()).await?;
        until(Duration::from_secs(15), "firegrid ready", || async {
            Ok(reqwest::get(format!("http://{addr}/readyz")).await?.status().is_success().then_some(()))
        })
        .await?;
        // A first scrape before any traffic, so rates and increases have a baseline.
        until(Duration::from_secs(15), "a first scrape", || async {
            Ok((!prometheus.query("firegrid_mqtt_connected == 1").await?.is_empty()).then_some(()))
        })
        .await?;

        // Five normal readings per device over the last five minutes, then the alarm-level ones, then garbage.
        let now = now_ms();
        let mut messages = Vec::new();
        for seq in 1..=5u64 {
            for d in &devices {
                let ts = now - (6 - seq as i64) * 60_000;
                messages.push((fleet::topic(d), fleet::payload(d, seq, ts).into_bytes()));
            }
        }
        messages.extend(alarms.messages(now));
        let readings = messages.len();
        messages.extend(fleet::malformed(now).into_iter().map(|(t, p, _)| (t, p)));
        support::publish::publish_all(mqtt.port(), "deploy-dashboards-publisher", messages).await?;

        let stored = until(Duration::from_secs(30), "every reading in InfluxDB", || async {
            let a = influx.query(r#"SELECT count("seq") FROM "smoke", "electrical", "forest_ir""#).await?;
            let n: i64 = a.records().iter().filter_map(|r| r.get("count").and_then(Value::as_i64)).sum();
            Ok((n == readings as i64).then_some(n))
        })
        .await?;
        ensure!(stored == readings as i64);
        // Every incident firegrid opened (its own counter) has its transitions in fire_incident.
        let incident_ids = until(Duration::from_secs(30), "every opened incident in fire_incident", || async {
            let metrics = reqwest::get(format!("http://{addr}/metrics")).await?.text().await?;
            let opened: f64 = metrics
                .lines()
                .filter(|l| l.starts_with("firegrid_incidents_opened_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            let records = influx.query(r#"SELECT "incident_id", "class" FROM "fire_incident""#).await?.records();
            let ids: BTreeSet<String> = records
                .iter()
                .filter_map(|r| r.get("incident_id").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let fire = records.iter().any(|r| r.get("class").and_then(Value::as_str) == Some("fire"));
            Ok((fire && ids.len() as f64 == opened).then_some(ids))
        })
        .await?;

        // InfluxQL: every panel, variable and annotation query returns rows.
        let queries = dashboard_queries()?;
        let to = now_ms() + 60_000;
        let mut influx_checked = 0;
        let mut panel_answers: BTreeMap<String, InfluxAnswer> = BTreeMap::new();
        // The township of the alarming smoke detector, as the township variable would offer it.
        let township = alarms.smoke.township.clone();
        for q in queries.iter().filter(|q| q.source == Source::Influx) {
            let range = relative_range(&q.from)?;
            let from = to - i64::try_from(range.as_millis())?;
            let vars = [("county", COUNTY), ("township", ".*")];
            let text = render_influxql(&q.text, &vars, from, to, "1m")?;
            let answer = influx
                .query(&text)
                .await
                .with_context(|| format!("{} / {} {}: {text}", q.dashboard, q.panel, q.ref_id))?;
            ensure!(answer.rows() > 0, "{} / {} {} returned no rows: {text}", q.dashboard, q.panel, q.ref_id);
            // Grafana's other substitutions run too: several counties (a multi-value variable becomes a regex
            // alternation) and one township.
            for vars in
                [[("county", "(500112|500238)"), ("township", ".*")], [("county", COUNTY), ("township", &township)]]
            {
                let text = render_influxql(&q.text, &vars, from, to, "1m")?;
                let other =
                    influx.query(&text).await.with_context(|| format!("{} / {}: {text}", q.dashboard, q.panel))?;
                ensure!(
                    other.rows() > 0 || vars[1].1 != ".*",
                    "{} / {} {} returned no rows: {text}",
                    q.dashboard,
                    q.panel,
                    q.ref_id
                );
            }
            panel_answers.insert(format!("{}/{}/{}", q.dashboard, q.panel, q.ref_id), answer);
            influx_checked += 1;
        }
        ensure!(influx_checked >= 25, "only {influx_checked} InfluxQL queries found");
        division_variables_offer_what_firegrid_wrote_by_name(&influx).await?;
        // The map of open incidents places every incident firegrid opened at its position.
        let map = panel_answers.get("fleet-incidents.json/未结事件地图/A").context("未结事件地图")?;
        let placed: BTreeSet<String> = map
            .records()
            .iter()
            .filter(|r| {
                r.get("lat").and_then(Value::as_f64).is_some() && r.get("lon").and_then(Value::as_f64).is_some()
            })
            .filter_map(|r| r.get("incident_id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        ensure!(incident_ids.is_subset(&placed), "the map places {placed:?}, firegrid opened {incident_ids:?}");

        // The alarm-level tables list exactly the devices that sent an alarm-level reading.
        for (panel, device) in [
            ("烟感报警级读数", &alarms.smoke),
            ("电气报警级读数", &alarms.electrical),
            ("林火报警级读数", &alarms.forest_ir),
        ] {
            let answer = panel_answers.get(&format!("readings.json/{panel}/A")).context(panel.to_owned())?;
            let ids = device_ids(answer);
            ensure!(ids == BTreeSet::from([device.id.clone()]), "{panel} lists {ids:?}, expected {}", device.id);
        }
        // The latest-readings tables have one row per device of the county.
        for kind in ["smoke", "electrical", "forest_ir"] {
            let panel = match kind {
                "smoke" => "烟感最新读数",
                "electrical" => "电气最新读数",
                _ => "红外最新读数",
            };
            let answer = panel_answers.get(&format!("readings.json/{panel}/A")).context(panel)?;
            let want: BTreeSet<String> =
                devices.iter().filter(|d| d.kind == kind && d.county == COUNTY).map(|d| d.id.clone()).collect();
            ensure!(device_ids(answer) == want, "{panel}: {:?} vs {want:?}", device_ids(answer));
        }
        // The per-county count is the number of incidents firegrid opened (all of them in the alarming county).
        let per_county = panel_answers.get("fleet-incidents.json/事件数（按区县）/A").context("事件数（按区县）")?;
        let counted: Vec<(Option<String>, Option<i64>)> = per_county
            .records()
            .iter()
            .map(|r| {
                (r.get("county").and_then(Value::as_str).map(str::to_owned), r.get("事件数").and_then(Value::as_i64))
            })
            .collect();
        ensure!(
            counted == vec![(Some(COUNTY.to_owned()), Some(incident_ids.len() as i64))],
            "事件数（按区县）: {counted:?}, firegrid opened {}",
            incident_ids.len()
        );
        // The open-incidents table holds every incident firegrid opened (none is closed yet).
        let open = panel_answers.get("fleet-incidents.json/未结事件/A").context("未结事件")?;
        let listed: BTreeSet<String> = open
            .records()
            .iter()
            .filter_map(|r| r.get("incident_id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        ensure!(incident_ids.is_subset(&listed), "open incidents {listed:?} miss some of {incident_ids:?}");

        // PromQL: every dashboard query and every rule expression executes; those over exported metrics have data.
        let exposition = reqwest::get(format!("http://{addr}/metrics")).await?.text().await?;
        let exported = exported_metrics(&exposition);
        let promql: Vec<(String, String)> = queries
            .iter()
            .filter(|q| q.source == Source::Prometheus)
            .map(|q| (format!("{} / {} {}", q.dashboard, q.panel, q.ref_id), q.text.clone()))
            .collect();
        let rules = rule_expressions()?;
        ensure!(rules.len() >= 8, "alert rules: {rules:?}");
        let mut not_exported = BTreeSet::new();
        for (name, text) in &promql {
            let expr = render_promql(text, "5m")?;
            let names = metric_names(&expr);
            let missing: BTreeSet<String> = names.difference(&exported).cloned().collect();
            // Variable queries (label_values) are answered from the series API, like Grafana does.
            if let Some(args) = expr.strip_prefix("label_values(").and_then(|e| e.strip_suffix(')')) {
                let (metric, label) = args.split_once(',').context("label_values(metric, label)")?;
                let data = prometheus.api(&format!("label/{}/values", label.trim()), &[("match[]", metric)]).await?;
                ensure!(data.as_array().is_some_and(|v| !v.is_empty()), "{name}: no values");
                continue;
            }
            if !missing.is_empty() {
                prometheus.query(&expr).await.with_context(|| format!("{name}: {expr}"))?;
                not_exported.extend(missing);
                continue;
            }
            until(Duration::from_secs(20), &format!("{name} to return series: {expr}"), || async {
                Ok((!prometheus.query(&expr).await?.is_empty()).then_some(()))
            })
            .await?;
        }
        for (name, expr) in &rules {
            prometheus.query(expr).await.with_context(|| format!("rule {name}: {expr}"))?;
            let missing: BTreeSet<String> = metric_names(expr).difference(&exported).cloned().collect();
            not_exported.extend(missing);
        }
        if !not_exported.is_empty() {
            println!("metrics used by the dashboards or rules that firegrid does not export yet: {not_exported:?}");
        }

        // The rules are loaded and evaluated without error.
        until(Duration::from_secs(20), "every rule evaluated and healthy", || async {
            let data = prometheus.api("rules", &[]).await?;
            let mut seen = Vec::new();
            for group in data["groups"].as_array().into_iter().flatten() {
                for rule in group["rules"].as_array().into_iter().flatten() {
                    let evaluated = rule["lastEvaluation"].as_str().is_some_and(|t| !t.starts_with("0001"));
                    ensure!(rule["health"] != "err", "rule {} fails: {}", rule["name"], rule["lastError"]);
                    if evaluated && rule["health"] == "ok" {
                        seen.push(rule["name"].as_str().unwrap_or("").to_owned());
                    }
                }
            }
            Ok((seen.len() == rules.len()).then_some(()))
        })
        .await?;

        // A healthy pipeline trips none of the breakage alerts; the burst of malformed messages is a spike.
        let expr = |name: &str| rules.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone()).context(name.to_owned());
        for quiet in ["FiregridBrokerDisconnected", "FiregridStoreUnreachable", "FiregridIngestStalled"] {
            let got = prometheus.query(&expr(quiet)?).await?;
            ensure!(got.is_empty(), "{quiet} matches a healthy pipeline: {got:?}");
        }
        let spiking = expr("FiregridRejectionsSpiking")?;
        until(Duration::from_secs(10), "the rejections alert expression to match", || async {
            Ok((!prometheus.query(&spiking).await?.is_empty()).then_some(()))
        })
        .await?;

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await??;
        drop(prometheus);
        drop(influx);
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[test]
fn promtool_accepts_the_config_and_the_rules_and_every_alert_has_a_passing_unit_test() -> Result<()> {
    let prom = root().join("deploy/prometheus");
    let run = |args: &[&str]| -> Result<String> {
        ensure!(Path::new(PROMTOOL_BIN).is_file(), "{PROMTOOL_BIN} missing: install the Debian package prometheus");
        let out = Command::new(PROMTOOL_BIN).args(args).current_dir(&prom).output()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(out.status.success(), "promtool {}: {text}", args.join(" "));
        Ok(text)
    };
    run(&["check", "config", "prometheus.yml"])?;
    run(&["check", "rules", "rules/firegrid.rules.yml"])?;
    let tested = run(&["test", "rules", "tests/firegrid.rules.test.yml"])?;
    ensure!(tested.contains("SUCCESS"), "{tested}");

    // Each alert appears in a test case that expects it to fire.
    let tests: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(prom.join("tests/firegrid.rules.test.yml"))?)?;
    let mut fired = BTreeSet::new();
    for case in tests["tests"].as_sequence().context("tests")? {
        for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            if check["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()) {
                fired.insert(check["alertname"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    let alerts: BTreeSet<String> = rule_expressions()?.into_iter().map(|(n, _)| n).collect();
    ensure!(alerts == fired, "alerts without a firing test: {:?}", alerts.difference(&fired).collect::<Vec<_>>());
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement

/// One county's devices from the sample registry: (kind, the line-protocol measurement and tags firegrid
/// pre-encodes for the device).
fn county_devices(county: &str) -> Result<Vec<(String, String)>> {
    let r = root().join("deploy/registry");
    let paths = firegrid_ingest::RegistryPaths::in_dir(&r);
    let registry = firegrid_ingest::Registry::load(&paths)?;
    let mut out: Vec<(String, String)> = registry
        .devices()
        .filter(|d| d.county() == county)
        .map(|d| (d.kind().as_str().to_owned(), firegrid_ingest::lineproto::series::device_prefix(d)))
        .collect();
    out.sort();
    Ok(out)
}

/// Deterministic noise in [0, 1) from a counter.
fn noise(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: writes a week of one county's readings (about 1.5 million points); run with --ignored"]
async fn the_heaviest_panels_answer_in_reasonable_time_on_a_week_of_one_county() -> Result<()> {
    tokio::time::timeout(MEASURE_TIMEOUT, async {
        let influx = InfluxDb::start().await?;
        let devices = county_devices(COUNTY)?;
        ensure!(devices.len() > 1000, "{} devices in {COUNTY}", devices.len());
        // Readings at each kind's expected interval (DESIGN §5): smoke hourly, electrical every 5 min,
        // forest_ir every minute, over 7 days ending now; one alarm-level reading in 2,000.
        let end = now_ms() - 60_000;
        let week = 7 * 86_400_000i64;
        let start = end - week;
        let written = Instant::now();
        let mut points = 0u64;
        let mut body = String::with_capacity(4 << 20);
        let mut counter = 0u64;
        for (kind, prefix) in &devices {
            let step = match kind.as_str() {
                "smoke" => 3_600_000,
                "electrical" => 300_000,
                _ => 60_000,
            };
            let offset = (noise(counter) * step as f64) as i64;
            let mut ts = start + offset;
            let mut seq = 0u64;
            while ts < end {
                counter += 1;
                seq += 1;
                let n = noise(counter);
                let alarm = noise(counter ^ 0xABCD) < 0.0005;
                let fields = match kind.as_str() {
                    "smoke" if alarm => "obscuration_db_m=0.4,temperature_c=61,battery_pct=70,alarm=true".to_owned(),
                    "smoke" => format!(
                        "obscuration_db_m={:.3},temperature_c={:.1},battery_pct={:.0},alarm=false",
                        n * 0.05,
                        18.0 + n * 8.0,
                        20.0 + n * 80.0
                    ),
                    "electrical" if alarm => "residual_current_ma=360,cable_temp_c_1=74,cable_temp_c_2=40,arc_fault=false".into(),
                    "electrical" => format!(
                        "residual_current_ma={:.1},cable_temp_c_1={:.1},cable_temp_c_2={:.1},current_a={:.1},voltage_v={:.0}",
                        20.0 + n * 150.0,
                        25.0 + n * 20.0,
                        24.0 + n * 18.0,
                        n * 60.0,
                        215.0 + n * 10.0
                    ),
                    _ if alarm => "max_temp_c=140,hotspot_px=25i,smoke_score=0.85".into(),
                    _ => format!("max_temp_c={:.1},hotspot_px=0i,smoke_score={:.2}", 10.0 + n * 25.0, n * 0.2),
                };
                let status = if alarm { "alarm" } else { "normal" };
                body.push_str(&format!("{prefix},status={status} {fields},seq={seq}i {ts}\n"));
                points += 1;
                if body.len() > (4 << 20) - 512 {
                    influx.write(std::mem::take(&mut body)).await?;
                }
                ts += step;
            }
        }
        // Incidents: about 40 a day, each opened and resolved half an hour later.
        let classes = ["fire", "electrical_fire", "forest_fire", "hazard"];
        let severities = ["low", "medium", "high", "critical"];
        for i in 0..280u64 {
            let at = start + (noise(i + 77) * week as f64) as i64;
            let class = classes[(i % 4) as usize];
            let severity = severities[((i / 4) % 4) as usize];
            let township = format!("{COUNTY}{:03}", 1 + i % 20);
            for (event, status, dt) in [("opened", "open", 0), ("resolved", "resolved", 1_800_000)] {
                if i % 10 == 0 && event == "resolved" {
                    continue; // a tenth stays open
                }
                body.push_str(&format!(
                    "fire_incident,class={class},severity={severity},county={COUNTY},township={township} \
                     incident_id=\"inc-{i:05}\",event=\"{event}\",status=\"{status}\",summary=\"渝北区 测试事件 {i}\" {}\n",
                    at + dt
                ));
                points += 1;
            }
        }
        influx.write(std::mem::take(&mut body)).await?;
        let write_secs = written.elapsed().as_secs_f64();
        println!(
            "wrote {points} points for {} devices of {COUNTY} over 7 days in {write_secs:.1} s ({:.0} points/s)",
            devices.len(),
            points as f64 / write_secs
        );

        // Every InfluxQL query of the dashboards over the week, $__interval as Grafana picks it for a week on a
        // ~1,000-pixel panel (10m); the median of three runs after one warm-up.
        let to = now_ms();
        let from = to - week;
        let mut timings = Vec::new();
        for q in dashboard_queries()?.iter().filter(|q| q.source == Source::Influx) {
            let text = render_influxql(&q.text, &[("county", COUNTY), ("township", ".*")], from, to, "10m")?;
            let warm = influx.query(&text).await.with_context(|| format!("{} / {}: {text}", q.dashboard, q.panel))?;
            ensure!(warm.rows() > 0, "{} / {} returned no rows on a week of data: {text}", q.dashboard, q.panel);
            let mut runs = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                influx.query(&text).await?;
                runs.push(t.elapsed());
            }
            runs.sort();
            timings.push((runs[1], warm.rows(), format!("{} / {} {}", q.dashboard, q.panel, q.ref_id)));
        }
        timings.sort_by_key(|t| std::cmp::Reverse(t.0));
        println!("median query time over 7 days of {COUNTY} (slowest first):");
        for (t, rows, name) in &timings {
            println!("  {:>8.1} ms  {rows:>6} rows  {name}", t.as_secs_f64() * 1000.0);
        }
        let slowest = timings.first().map(|t| t.0).unwrap_or_default();
        ensure!(slowest < Duration::from_secs(30), "the slowest panel took {slowest:?}");
        Ok(())
    })
    .await
    .context("measurement timed out")?
}

/// InfluxDB 1.x stores firegrid's gzip write bodies (`store.influxdb.content_encoding = "gzip"`, the default) like
/// plain ones, through the v1 API firegrid uses with `api = "v1"`.
#[tokio::test]
async fn gzip_writes_are_stored_by_influxdb_1x() -> Result<()> {
    use firegrid_ingest::store::LineStore as _;
    let influx = InfluxDb::start().await?;
    let t0 = now_ms() - 60_000;
    for encoding in ["gzip", "identity"] {
        let c = firegrid_ingest::config::InfluxConfig {
            url: influx.url(),
            api: "v1".into(),
            bucket: DATABASE.into(),
            content_encoding: encoding.into(),
            ..Default::default()
        };
        let store = firegrid_ingest::store::influx::InfluxV2::new(c.validate()?)?;
        let body: String = (0..200)
            .map(|i| format!("wire_{encoding},device_id=SM-{i:04} obscuration_db_m=0.5 {}\n", t0 + i))
            .collect();
        let r = store.write(&body).await;
        ensure!(r == firegrid_ingest::store::WriteResult::Ok, "{encoding}: {r:?}");
        let answer = influx.query(&format!("SELECT count(obscuration_db_m) FROM wire_{encoding}")).await?;
        let count = answer.records().first().and_then(|r| r.get("count").and_then(Value::as_f64));
        ensure!(count == Some(200.0), "{encoding}: {count:?} of 200 points stored");
    }
    Ok(())
}

/// `check-config --probe` names a database InfluxDB 1.x does not have; with the right one it passes. At run time a
/// write to a missing database is reported once (`store_target_missing`) and `/readyz` names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_influxdb_database_is_named_by_the_probe_and_by_readyz() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(90), async {
        let influx = InfluxDb::start().await?;
        let mqtt = Mosquitto::start().await?;
        let dir = tempfile::tempdir()?;
        let devices = fleet::devices(5);
        let reg = fleet::write_registry(dir.path(), &devices)?;
        let mut c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &influx.url(), "probe-missing-db");
        c.store.influxdb.api = "v1".into();
        c.store.influxdb.bucket = "nosuchdb".into();
        c.spool.max_bytes = 0;
        let conf = dir.path().join("firegrid.toml");
        for (bucket, want_ok) in [("nosuchdb", false), (DATABASE, true)] {
            c.store.influxdb.bucket = bucket.into();
            std::fs::write(&conf, toml::to_string(&c)?)?;
            let conf = conf.display().to_string();
            let args = ["check-config", "--probe", "--config", &conf];
            let (code, text) = support::process::run_to_status(&args, &[], Duration::from_secs(30))?;
            if want_ok {
                ensure!(code == Some(0), "{bucket}: {code:?} {text}");
            } else {
                ensure!(code == Some(1) && text.contains("database `nosuchdb` does not exist"), "{code:?} {text}");
            }
        }
        c.store.influxdb.bucket = "nosuchdb".into();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let now = now_ms();
        let msgs = devices.iter().map(|d| (fleet::topic(d), fleet::payload(d, 1, now).into_bytes())).collect();
        support::publish::publish_all(mqtt.port(), "probe-missing-db-pub", msgs).await?;
        let url = format!("http://{}/readyz", running.http_addr);
        let ready: Value = until(Duration::from_secs(30), "readyz names the missing database", || async {
            let v: Value = reqwest::get(&url).await?.json().await?;
            Ok((v["store"] == "target_missing").then_some(v))
        })
        .await?;
        let named = ready["store_missing"].as_str().unwrap_or("");
        ensure!(named.contains("database not found") && named.contains("nosuchdb"), "{ready}");
        ensure!(ready["ready"] == false, "{ready}");
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await?
}
