//! Everything the simulator publishes is judged by firegrid's own decoder and enrichment against
//! the fleet's registry (DESIGN §2): normal readings and scenario readings are accepted, each
//! malformed message is refused for exactly the reason its ground truth names.

use firegrid_ingest::pipeline::enrich::Enricher;
use firegrid_ingest::wire::payload::Limits;
use firegrid_ingest::{Reason, Registry, Status, Values};
use firegrid_simulator::fleet::write_registry;
use firegrid_simulator::fleet::{generate_registry, Fleet, FleetSpec};
use firegrid_simulator::readings::{Intervals, ReadingGenerator};
use firegrid_simulator::scenario::plan::{plan, PlanSpec};
use firegrid_simulator::scenario::ScenarioKind;

const P: &str = "firegrid/v1";
const START: i64 = 1_795_930_000_000;

/// The fleet's registry as firegrid loads it from the files the simulator writes.
fn registry(fleet: &Fleet) -> Registry {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = write_registry(fleet, dir.path()).expect("registry files");
    Registry::load(&paths).expect("the simulator's registry loads")
}

fn judge(
    reg: &Registry,
    topic_str: &str,
    payload: &[u8],
    received_at: i64,
) -> Result<firegrid_ingest::Reading, Reason> {
    Enricher { prefix: P, limits: &Limits::default() }
        .process(topic_str.as_bytes(), payload, received_at, reg)
        .map(|er| er.reading)
        .map_err(|r| r.reason)
}

#[test]
fn every_generated_reading_is_accepted_by_the_ingest_decoder() {
    let fleet = generate_registry(&FleetSpec::default()).expect("fleet");
    let spec = PlanSpec {
        lead_ms: None,
        seed: 1,
        start_ms: START,
        duration_ms: 600_000,
        kinds: ScenarioKind::ALL.iter().copied().filter(|k| *k != ScenarioKind::Malformed).collect(),
        every_ms: None,
        prefix: P.into(),
    };
    let reg = registry(&fleet);
    let injections = plan(&fleet, &spec);
    let mut gen = ReadingGenerator::new(&fleet, 1, START, P, Intervals::default());
    for inj in &injections {
        gen.inject(inj);
    }
    let (mut n, mut alarms, mut tests) = (0, 0, 0);
    while let Some(m) = gen.next_until(START + 700_000) {
        let reading = judge(&reg, &m.topic, &m.payload, m.at_ms)
            .unwrap_or_else(|r| panic!("{} {} refused: {r:?}", m.topic, String::from_utf8_lossy(&m.payload)));
        assert_eq!(reading.ts_ms, m.at_ms);
        alarms += usize::from(reading.status == Status::Alarm);
        tests += usize::from(reading.status == Status::Test);
        if let Values::Smoke(v) = &reading.values {
            assert!(v.obscuration_db_m >= 0.0);
        }
        n += 1;
    }
    assert!(n > 10_000, "{n}");
    assert!(alarms > 0 && tests > 0);
}

#[test]
fn each_malformed_message_is_refused_for_the_reason_in_its_truth() {
    let fleet = generate_registry(&FleetSpec::default()).expect("fleet");
    let spec = PlanSpec {
        lead_ms: None,
        seed: 2,
        start_ms: START,
        duration_ms: 60_000,
        kinds: vec![ScenarioKind::Malformed],
        every_ms: None,
        prefix: P.into(),
    };
    let reg = registry(&fleet);
    let inj = &plan(&fleet, &spec)[0];
    assert_eq!(inj.raw.len(), inj.truth.len());
    for (m, t) in inj.raw.iter().zip(&inj.truth) {
        let got = judge(&reg, &m.topic, &m.payload, m.at_ms).expect_err("must be refused");
        assert_eq!(Some(got), t.deadletter_reason, "{}", t.what);
    }
}
