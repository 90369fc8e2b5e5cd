//! A test fleet: a registry written to files, readings of all three kinds with known values,
//! malformed messages covering every dead-letter reason, a firegrid configuration for the harness
//! servers, and what the store holds of it.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use firegrid_ingest::{Device, Kind, RegistryPaths, Tier};

use super::registry;

/// One device of the test fleet.
#[derive(Debug, Clone)]
pub struct TestDevice {
    pub id: String,
    pub kind: &'static str,
    pub county: &'static str,
    pub township: String,
    pub community: String,
    pub grid: String,
    pub registered: bool,
}

/// `n` devices over two counties, every tenth one left out of the registry.
pub fn devices(n: usize) -> Vec<TestDevice> {
    (0..n)
        .map(|i| {
            let kind = ["smoke", "smoke", "smoke", "electrical", "forest_ir"][i % 5];
            let county = if i % 2 == 0 { "500112" } else { "500238" };
            let township = format!("{county}{:03}", 100 + i % 7);
            let community = format!("{township}{:03}", 200 + i % 5);
            TestDevice {
                id: format!("{}-{i:05}", &kind[..2]),
                kind,
                county,
                township,
                grid: format!("网格 {community},{}", i % 3),
                community,
                registered: i % 10 != 9,
            }
        })
        .collect()
}

/// Writes the registered devices (each its own household, at an address with a comma), the
/// district station of 渝北区 and no grid into `dir`.
pub fn write_registry(dir: &Path, devices: &[TestDevice]) -> Result<RegistryPaths> {
    write_registry_by(dir, devices, |d| format!("h-{}", d.id))
}

/// [`write_registry`], with each device's household given by `household`.
pub fn write_registry_by(
    dir: &Path,
    devices: &[TestDevice],
    household: impl Fn(&TestDevice) -> String,
) -> Result<RegistryPaths> {
    let mut rows = Vec::new();
    for dev in devices.iter().filter(|d| d.registered) {
        let kind = Kind::parse(dev.kind).with_context(|| format!("kind {}", dev.kind))?;
        rows.push(Device {
            kind,
            county: dev.county.to_owned(),
            township: dev.township.clone(),
            community: dev.community.clone(),
            grid_id: dev.grid.clone(),
            address: "五星路 3栋,2单元".to_owned(),
            lat: Some(29.7),
            lon: Some(106.6),
            ..registry::detector(&dev.id, &household(dev))
        });
    }
    let district = registry::station("d-500112", "渝北区消防救援站", Tier::District, ("", ""), (29.7, 106.6));
    registry::write(dir, &rows, &[district], &[])
}

/// A firegrid configuration for the harness servers: the broker and store URLs, a fixed client
/// id, fast reconnects and retries, the registry files, `dir/tokens.csv`, `dir/data` and an HTTP
/// port chosen by the OS. Tests change what they need on the returned value.
pub fn harness_config(
    dir: &Path,
    reg: &RegistryPaths,
    mqtt_url: &str,
    store_url: &str,
    client_id: &str,
) -> firegrid::Config {
    let mut c = firegrid::Config::default();
    c.mqtt.url = mqtt_url.to_owned();
    c.mqtt.client_id = client_id.to_owned();
    c.mqtt.reconnect_max_ms = 500;
    c.store.influxdb.url = store_url.to_owned();
    c.store.influxdb.retry_max_ms = 500;
    c.registry.devices = reg.devices.display().to_string();
    c.registry.stations = reg.stations.display().to_string();
    c.registry.grids = reg.grids.display().to_string();
    c.api.tokens_file = dir.join("tokens.csv").display().to_string();
    c.http.listen = "127.0.0.1:0".into();
    c.data.dir = dir.join("data").display().to_string();
    c
}

/// The topic of a device's readings.
pub fn topic(dev: &TestDevice) -> String {
    format!("firegrid/v1/{}/{}/{}/{}", dev.county, dev.township, dev.kind, dev.id)
}

/// The first field's value this reading carries (checked back from the store).
pub fn primary_value(dev: &TestDevice, seq: u64) -> f64 {
    match dev.kind {
        "smoke" => (seq % 50) as f64 / 1000.0,
        "electrical" => 10.0 + (seq % 90) as f64,
        _ => 15.0 + (seq % 20) as f64 / 2.0,
    }
}

/// The measurement + field name of [`primary_value`] as VictoriaMetrics names it.
pub fn primary_metric(kind: &str) -> &'static str {
    match kind {
        "smoke" => "smoke_obscuration_db_m",
        "electrical" => "electrical_residual_current_ma",
        _ => "forest_ir_max_temp_c",
    }
}

/// A valid payload for reading `seq` of `dev`, measured at `ts_ms`.
pub fn payload(dev: &TestDevice, seq: u64, ts_ms: i64) -> String {
    let v = primary_value(dev, seq);
    match dev.kind {
        "smoke" => format!(
            r#"{{"ts":{ts_ms},"seq":{seq},"status":"normal","values":{{"obscuration_db_m":{v},"temperature_c":22.5,"battery_pct":88,"alarm":false}}}}"#
        ),
        "electrical" => format!(
            r#"{{"ts":{ts_ms},"seq":{seq},"values":{{"residual_current_ma":{v},"cable_temp_c":[30.5,31.5],"voltage_v":221}}}}"#
        ),
        _ => format!(
            r#"{{"ts":"{}","seq":{seq},"values":{{"max_temp_c":{v},"hotspot_px":0,"smoke_score":0.01}}}}"#,
            rfc3339(ts_ms)
        ),
    }
}

fn rfc3339(ts_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000).expect("valid time");
    t.format(&time::format_description::well_known::Rfc3339).expect("formats")
}

/// Malformed messages: (topic, payload, expected reason), several per reason.
pub fn malformed(now_ms: i64) -> Vec<(String, Vec<u8>, &'static str)> {
    let t = "firegrid/v1/500112/500112100/smoke/bad-1";
    let e = "firegrid/v1/500112/500112100/electrical/bad-2";
    let mut out: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    for i in 0..7 {
        let ok = format!(r#"{{"values":{{"obscuration_db_m":0.{i}}}}}"#).into_bytes();
        out.push((format!("firegrid/v1/5001/500112100/smoke/b{i}"), ok.clone(), "bad_topic"));
        out.push((t.into(), vec![b'{', 0xff, 0xfe, b'0' + i], "not_utf8"));
        out.push((t.into(), format!("{{\"values\":{i}").into_bytes(), "not_json"));
        out.push((
            t.into(),
            format!(r#"{{"values":{{"obscuration_db_m":0.1}},"pad":"{}"}}"#, "x".repeat(5000 + i as usize))
                .into_bytes(),
            "too_large",
        ));
        out.push((t.into(), format!(r#"{{"seq":{i}}}"#).into_bytes(), "missing_field"));
        out.push((
            e.into(),
            format!(r#"{{"values":{{"residual_current_ma":"{i}","cable_temp_c":[1]}}}}"#).into_bytes(),
            "wrong_type",
        ));
        out.push((t.into(), format!(r#"{{"values":{{"obscuration_db_m":2{i}.5}}}}"#).into_bytes(), "out_of_range"));
        out.push((
            t.into(),
            format!(r#"{{"ts":{},"values":{{"obscuration_db_m":0.1}}}}"#, now_ms + 3_600_000 + i64::from(i))
                .into_bytes(),
            "bad_timestamp",
        ));
    }
    out.push(("firegrid/v1/500112/500112100/gas/x".into(), b"{}".to_vec(), "bad_topic"));
    out.push((t.into(), br#"{"status":"burning","values":{"obscuration_db_m":0.1}}"#.to_vec(), "out_of_range"));
    out
}

/// Distinct (device_id, seq) pairs stored, read from the `*_seq` series.
pub async fn stored_pairs(vm: &super::VictoriaMetrics) -> Result<BTreeSet<(String, u64)>> {
    let mut out = BTreeSet::new();
    for s in vm.export(r#"{__name__=~"(smoke|electrical|forest_ir)_seq"}"#).await? {
        let dev = s.label("device_id").unwrap_or_default().to_owned();
        for v in &s.values {
            out.insert((dev.clone(), *v as u64));
        }
    }
    Ok(out)
}
