//! The load generator and the scenario runner against a real mosquitto on the loopback
//! interface: what they report is what a subscriber of the broker received.

use std::time::Duration;

use anyhow::{ensure, Result};

use firegrid_ingest::Kind;
use firegrid_simulator::fleet::FleetSpec;
use firegrid_simulator::load::{run_load, LoadSpec};
use firegrid_simulator::run::{run_scenario, RunSpec};
use firegrid_simulator::scenario::malformed::REASONS;
use firegrid_simulator::scenario::truth::parse_records;
use firegrid_simulator::scenario::ScenarioKind;
use support::watch::DispatchWatch;
use support::Mosquitto;

mod support;

/// The topics the simulator publishes under (and the harness's markers).
const ALL: &str = "firegrid/v1/#";
/// How long QoS 0 messages may take to reach the subscriber after the load reports them sent.
const ARRIVAL: Duration = Duration::from_secs(10);

/// A real mosquitto and a subscriber to everything the simulator publishes there.
async fn broker() -> Result<(Mosquitto, DispatchWatch)> {
    let broker = Mosquitto::start().await?;
    let watch = DispatchWatch::start(broker.port(), ALL).await?;
    Ok((broker, watch))
}

fn small_fleet() -> FleetSpec {
    FleetSpec { counties: vec!["500103".into()], ..FleetSpec::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_load_sends_the_asked_total_within_five_percent_of_the_asked_rate() -> Result<()> {
    let (mqtt, mut watch) = broker().await?;
    let port = mqtt.port();
    let spec = LoadSpec {
        host: "127.0.0.1".into(),
        port,
        rate: Some(2000.0),
        total: Some(4000),
        duration: Some(Duration::from_secs(30)),
        qos: 0,
        fleet: small_fleet(),
        ..LoadSpec::default()
    };
    let report = run_load(&spec).await?;
    assert_eq!(report.sent, 4000);
    assert_eq!(report.errors, 0);
    assert!((report.rate / 2000.0 - 1.0).abs() < 0.05, "rate {:.1}/s", report.rate);
    // QoS 0: "sent" means written to the socket, so wait for the arrivals, then a marker shows
    // nothing more was on its way.
    watch.until_raw(ARRIVAL, |got| got.len() >= 4000).await?;
    watch.sync().await?;
    let got = &watch.raw;
    assert_eq!(got.len(), 4000);
    for (topic, payload) in got {
        assert!(firegrid_ingest::wire::topic::parse("firegrid/v1", topic).is_ok(), "{topic}");
        let v: serde_json::Value = serde_json::from_slice(payload)?;
        ensure!(v["values"].is_object(), "{v}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaced_qos_1_load_is_acknowledged_in_full_and_stops_at_its_total() -> Result<()> {
    let (mqtt, mut watch) = broker().await?;
    let port = mqtt.port();
    let spec = LoadSpec {
        host: "127.0.0.1".into(),
        port,
        rate: None,
        total: Some(3000),
        duration: None,
        qos: 1,
        fleet: small_fleet(),
        ..LoadSpec::default()
    };
    let report = run_load(&spec).await?;
    assert_eq!((report.sent, report.errors), (3000, 0));
    // Acknowledged means the broker accepted every message before run_load returned: a marker
    // published now arrives after all of them, with no wait for the count.
    watch.sync().await?;
    assert_eq!(watch.raw.len(), 3000);
    let distinct: std::collections::BTreeSet<&[u8]> = watch.raw.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(distinct.len(), 3000, "every reading once, none twice");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_against_no_broker_fails_with_a_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let spec = LoadSpec { port, total: Some(1), fleet: small_fleet(), ..LoadSpec::default() };
    let err = run_load(&spec).await.expect_err("no broker");
    assert!(err.to_string().contains(&format!("cannot connect to 127.0.0.1:{port}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_run_publishes_readings_and_injections_and_writes_their_truth() -> Result<()> {
    let (mqtt, mut watch) = broker().await?;
    let port = mqtt.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = dir.path().join("truth.jsonl");
    let spec = RunSpec {
        port,
        fleet: small_fleet(),
        speedup: 600.0,
        duration: Duration::from_secs(6),
        scenarios: vec![ScenarioKind::ArcFault, ScenarioKind::Malformed],
        every: Some(Duration::from_millis(2000)),
        truth_path: Some(truth.clone()),
        ..RunSpec::default()
    };
    let report = run_scenario(&spec).await.expect("runs");
    assert_eq!(report.errors, 0);
    let records = parse_records(&std::fs::read_to_string(&truth).expect("truth")).expect("jsonl");
    assert_eq!(records, report.truth);
    let scenarios: Vec<&str> = records.iter().map(|r| r.scenario.as_str()).collect();
    assert_eq!(scenarios.first(), Some(&"arc_fault"), "{scenarios:?}");
    assert_eq!(records.iter().filter(|r| r.deadletter_reason.is_some()).count(), REASONS.len());
    // QoS 1 (the scenario runner's default): every message was acknowledged before the report.
    watch.sync().await?;
    let got = &watch.raw;
    assert_eq!(got.len() as u64, report.sent);
    // Background readings of every kind, and the arc fault's own readings.
    for kind in [Kind::Smoke, Kind::Electrical] {
        assert!(got.iter().any(|(t, _)| t.contains(&format!("/{}/", kind.as_str()))), "{kind:?}");
    }
    let arc = &records[0].devices[0];
    assert!(got.iter().any(|(t, p)| t.ends_with(arc) && String::from_utf8_lossy(p).contains("\"arc_fault\":true")));
    assert!(got.iter().any(|(t, _)| t.contains("/gas/")), "the bad_topic message");
    Ok(())
}
