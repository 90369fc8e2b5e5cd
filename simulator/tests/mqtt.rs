//! The load generator and the scenario runner against a minimal MQTT 3.1.1 broker on the
//! loopback interface: what they report is what the broker received.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use firegrid_ingest::Kind;
use firegrid_simulator::fleet::FleetSpec;
use firegrid_simulator::load::{run_load, LoadSpec};
use firegrid_simulator::run::{run_scenario, RunSpec};
use firegrid_simulator::scenario::malformed::REASONS;
use firegrid_simulator::scenario::truth::parse_records;
use firegrid_simulator::scenario::ScenarioKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A broker that accepts connections, acks CONNECT, PUBLISH (QoS 1) and PINGREQ, and records
/// every publish.
async fn broker() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received: Received = Arc::default();
    let r = received.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, r.clone()));
        }
    });
    (port, received)
}

async fn serve(mut sock: TcpStream, received: Received) {
    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        loop {
            // Fixed header: type/flags byte, then the variable-length remaining length.
            let (mut len, mut mult, mut i) = (0usize, 1usize, 1usize);
            let complete = loop {
                let Some(&b) = buf.get(i) else { break false };
                len += (b & 0x7f) as usize * mult;
                mult *= 128;
                i += 1;
                if b & 0x80 == 0 {
                    break true;
                }
            };
            if !complete || buf.len() < i + len {
                break;
            }
            let head = buf[0];
            let body = buf[i..i + len].to_vec();
            buf.drain(..i + len);
            match head >> 4 {
                1 => out.extend_from_slice(&[0x20, 0x02, 0x00, 0x00]),
                3 => {
                    let qos = (head >> 1) & 0x03;
                    let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
                    let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
                    let mut p = 2 + tlen;
                    if qos > 0 {
                        out.extend_from_slice(&[0x40, 0x02, body[p], body[p + 1]]);
                        p += 2;
                    }
                    received.lock().expect("lock").push((topic, body[p..].to_vec()));
                }
                12 => out.extend_from_slice(&[0xd0, 0x00]),
                14 => return,
                _ => {}
            }
        }
        if !out.is_empty() && sock.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn small_fleet() -> FleetSpec {
    FleetSpec { counties: vec!["500103".into()], ..FleetSpec::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_load_sends_the_asked_total_within_five_percent_of_the_asked_rate() {
    let (port, received) = broker().await;
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
    let report = run_load(&spec).await.expect("load runs");
    assert_eq!(report.sent, 4000);
    assert_eq!(report.errors, 0);
    assert!((report.rate / 2000.0 - 1.0).abs() < 0.05, "rate {:.1}/s", report.rate);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().expect("lock");
    assert_eq!(got.len(), 4000);
    let (topic, payload) = &got[0];
    assert!(firegrid_ingest::wire::topic::parse("firegrid/v1", topic).is_ok(), "{topic}");
    let v: serde_json::Value = serde_json::from_slice(payload).expect("json");
    assert!(v["values"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaced_qos_1_load_is_acknowledged_in_full_and_stops_at_its_total() {
    let (port, received) = broker().await;
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
    let report = run_load(&spec).await.expect("load runs");
    assert_eq!((report.sent, report.errors), (3000, 0));
    assert_eq!(received.lock().expect("lock").len(), 3000);
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
async fn a_scenario_run_publishes_readings_and_injections_and_writes_their_truth() {
    let (port, received) = broker().await;
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().expect("lock");
    assert_eq!(got.len() as u64, report.sent);
    // Background readings of every kind, and the arc fault's own readings.
    for kind in [Kind::Smoke, Kind::Electrical] {
        assert!(got.iter().any(|(t, _)| t.contains(&format!("/{}/", kind.as_str()))), "{kind:?}");
    }
    let arc = &records[0].devices[0];
    assert!(got.iter().any(|(t, p)| t.ends_with(arc) && String::from_utf8_lossy(p).contains("\"arc_fault\":true")));
    assert!(got.iter().any(|(t, _)| t.contains("/gas/")), "the bad_topic message");
}
