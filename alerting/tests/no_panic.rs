//! Property: no sequence of readings, ticks and actions panics the rules or the correlation,
//! whatever the values (extremes, NaN, out-of-order and duplicate timestamps), and the
//! invariants hold: severity never falls, closed incidents are not active, and an incident
//! awaiting verification (unregistered device, late alarm) is never above `medium`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::engine::AlertCore;
use firegrid_alerting::incident::{Action, Severity};
use firegrid_ingest::{ElectricalValues, ForestIrValues, Kind, SiteType, SmokeValues, Status, Values};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Read { dev: usize, dt: i64, seq: Option<u64>, status: u8, a: f64, b: f64, c: f64, flag: bool, known: bool },
    Tick(i64),
    Act { pick: usize, action: usize },
}

fn num() -> impl Strategy<Value = f64> {
    prop_oneof![-50.0..2000.0f64, Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), Just(1e300), 0.0..1.0f64]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            (0..6usize, -600_000..120_000i64, proptest::option::of(0..5u64), 0..4u8),
            (num(), num(), num(), any::<bool>(), proptest::bool::weighted(0.8)),
        )
            .prop_map(|((dev, dt, seq, status), (a, b, c, flag, known))| Op::Read {
                dev, dt, seq, status, a, b, c, flag, known
            }),
        1 => (0..20_000_000i64).prop_map(Op::Tick),
        1 => (0..8usize, 0..7usize).prop_map(|(pick, action)| Op::Act { pick, action }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_reading_sequence_panics_the_engine_core(ops in proptest::collection::vec(op(), 1..120)) {
        let devices = [
            device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
            device("sd-b", Kind::Smoke, "h-1", SiteType::School, true),
            device("em-1", Kind::Electrical, "h-1", SiteType::Residential, false),
            device("em-2", Kind::Electrical, "", SiteType::Factory, false),
            device("fr-1", Kind::ForestIr, "", SiteType::Forest, false),
            device("fr-2", Kind::ForestIr, "", SiteType::Forest, false),
        ];
        let settings = Arc::new(AlertingConfig::default().validate().unwrap());
        let mut core = AlertCore::new(settings);
        let mut now = T0;
        let mut seen: HashMap<String, Severity> = HashMap::new();
        for op in ops {
            let out = match op {
                Op::Read { dev, dt, seq, status, a, b, c, flag, known } => {
                    let d = &devices[dev];
                    now += dt.abs();
                    let status = [Status::Normal, Status::Alarm, Status::Fault, Status::Test][status as usize];
                    let values = match d.kind() {
                        Kind::Smoke => Values::Smoke(SmokeValues {
                            obscuration_db_m: a, temperature_c: Some(b), alarm: Some(flag), battery_pct: Some(c),
                            tamper: Some(!flag), silenced: Some(flag && c > 0.5),
                        }),
                        Kind::Electrical => Values::Electrical(ElectricalValues {
                            residual_current_ma: a, cable_temp_c: vec![b, c], arc_fault: Some(flag), ..Default::default()
                        }),
                        Kind::ForestIr => Values::ForestIr(ForestIrValues {
                            max_temp_c: a, hotspot_px: b.abs().min(1e7) as u32, smoke_score: Some(c),
                            lat: flag.then_some(29.8 + c / 1000.0), lon: flag.then_some(106.6), ..Default::default()
                        }),
                    };
                    let mut r = reading(d, now + dt, seq, status, values);
                    r.reading.received_at_ms = now;
                    if !known {
                        r.device = None;
                    }
                    core.on_reading(&r, now)
                }
                Op::Tick(dt) => {
                    now += dt;
                    core.on_tick(now)
                }
                Op::Act { pick, action } => {
                    let ids: Vec<String> = core.correlator().active().map(|i| i.id.clone()).collect();
                    if ids.is_empty() {
                        continue;
                    }
                    let id = &ids[pick % ids.len()];
                    let action = Action::ALL[action % Action::ALL.len()];
                    match core.act(id, action, "dispatcher:test", "", now) {
                        Ok(o) => o,
                        Err(_) => continue,
                    }
                }
            };
            for inc in &out.incidents {
                if let Some(prev) = seen.get(&inc.id) {
                    prop_assert!(inc.severity >= *prev, "severity of {} fell", inc.id);
                }
                seen.insert(inc.id.clone(), inc.severity);
                prop_assert!(inc.verification.is_none() || inc.severity <= Severity::Medium, "{} unverified above medium", inc.id);
                prop_assert_eq!(core.correlator().get(&inc.id).is_none(), inc.status.is_terminal());
            }
        }
    }
}
