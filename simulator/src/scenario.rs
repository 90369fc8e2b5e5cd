//! Scenarios: fire and nuisance events injected into a fleet's readings as pure functions of
//! time, each with its ground truth. A kitchen fire spreading detector to detector, cooking
//! steam, the test button, a low battery, tampering, a device going offline, residual current
//! creeping to an electrical fire, an arc fault, a growing forest hotspot, sun glint and
//! malformed messages. Scenario timings are in real milliseconds (what firegrid's rules
//! measure); only the background heartbeat is sped up in a demo.

use firegrid_ingest::reading::{Kind, Status};
use firegrid_ingest::registry::SiteType;

use crate::fleet::{Fleet, FleetDevice};
use crate::geo::offset;
use crate::malformed::{malformed, REASONS};
use crate::payload::{round, ElectricalValues, ForestIrValues, SmokeValues, WireValues};
use crate::readings::{Message, ScheduledReading};
use crate::rng::SimRng;
use crate::truth::{ExpectedClass, Severity, TruthRecord};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// Smoke spreads from the kitchen detector to the others of a home.
    KitchenFire,
    /// One reading over 0.15 dB/m from steam, then normal.
    CookingSteam,
    /// The test button: `status=test` with the alarm on.
    TestButton,
    /// A detector's battery runs low.
    LowBattery,
    /// A detector is removed from its base.
    Tamper,
    /// A device stops reporting.
    Offline,
    /// Residual current creeping 250→320 mA over 40 s and staying there.
    ResidualCurrentCreep,
    /// An arc fault.
    ArcFault,
    /// A forest hotspot growing over four minutes.
    ForestHotspot,
    /// One hot camera frame from sun glint.
    SunGlint,
    /// One message for each dead-letter reason.
    Malformed,
}

impl ScenarioKind {
    /// Every scenario, in a fixed order.
    pub const ALL: [ScenarioKind; 11] = [
        ScenarioKind::KitchenFire,
        ScenarioKind::CookingSteam,
        ScenarioKind::TestButton,
        ScenarioKind::LowBattery,
        ScenarioKind::Tamper,
        ScenarioKind::Offline,
        ScenarioKind::ResidualCurrentCreep,
        ScenarioKind::ArcFault,
        ScenarioKind::ForestHotspot,
        ScenarioKind::SunGlint,
        ScenarioKind::Malformed,
    ];

    /// The name in truth records and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::KitchenFire => "kitchen_fire",
            ScenarioKind::CookingSteam => "cooking_steam",
            ScenarioKind::TestButton => "test_button",
            ScenarioKind::LowBattery => "low_battery",
            ScenarioKind::Tamper => "tamper",
            ScenarioKind::Offline => "offline",
            ScenarioKind::ResidualCurrentCreep => "residual_current_creep",
            ScenarioKind::ArcFault => "arc_fault",
            ScenarioKind::ForestHotspot => "forest_hotspot",
            ScenarioKind::SunGlint => "sun_glint",
            ScenarioKind::Malformed => "malformed",
        }
    }
}

/// A window in which a device sends no normal readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// Device index.
    pub device: usize,
    /// From, epoch ms (inclusive).
    pub from_ms: i64,
    /// Until, epoch ms (exclusive).
    pub until_ms: i64,
}

/// What one scenario adds to a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Injection {
    /// Ground truth (one record; one per reason for malformed input).
    pub truth: Vec<TruthRecord>,
    /// Device readings to add.
    pub readings: Vec<ScheduledReading>,
    /// Raw messages to add (malformed input).
    pub raw: Vec<Message>,
    /// Normal readings to suppress.
    pub silences: Vec<Silence>,
}

/// How firegrid expects each kind to report (DESIGN §5 offline defaults), for the time an
/// offline device should be noticed: 3 × this.
pub fn expected_interval_ms(kind: Kind) -> i64 {
    match kind {
        Kind::Smoke => 3_600_000,
        Kind::Electrical => 300_000,
        Kind::ForestIr => 60_000,
    }
}

/// The severity a single-device fire alarm reaches: `critical` for a vulnerable household or
/// a sensitive site, else `high` (DESIGN §5).
pub fn single_device_severity(d: &FleetDevice) -> Severity {
    let sensitive =
        matches!(d.site_type, SiteType::ElderlyCare | SiteType::School | SiteType::Hospital | SiteType::AncientTown);
    if d.vulnerable || sensitive {
        Severity::Critical
    } else {
        Severity::High
    }
}

fn record(id: &str, kind: ScenarioKind, what: &str, fleet: &Fleet, devices: &[usize], start: i64) -> TruthRecord {
    let first = devices.first().and_then(|&i| fleet.devices.get(i));
    let field = |f: fn(&FleetDevice) -> &str| first.map(|d| f(d).to_owned()).unwrap_or_default();
    TruthRecord {
        id: id.to_owned(),
        scenario: kind.as_str().to_owned(),
        what: what.to_owned(),
        devices: devices.iter().filter_map(|&i| fleet.devices.get(i)).map(|d| d.device_id.clone()).collect(),
        household: field(|d| &d.household_id),
        county: field(|d| &d.county),
        township: field(|d| &d.township),
        community: field(|d| &d.community),
        grid_id: field(|d| &d.grid_id),
        site_type: field(|d| d.site_type.as_str()),
        vulnerable: first.is_some_and(|d| d.vulnerable),
        start_ts: start,
        end_ts: start,
        expected_class: ExpectedClass::None,
        expected_severity: None,
        deadletter_reason: None,
    }
}

fn smoke(obscuration: f64, temp: f64, alarm: bool, battery: f64) -> WireValues {
    WireValues::Smoke(SmokeValues {
        obscuration_db_m: round(obscuration.clamp(0.0, 20.0), 3),
        temperature_c: Some(round(temp, 1)),
        alarm: Some(alarm),
        battery_pct: Some(battery),
        tamper: None,
        silenced: None,
    })
}

fn electrical(residual: f64, cable: f64, arc: bool) -> WireValues {
    WireValues::Electrical(ElectricalValues {
        residual_current_ma: round(residual, 1),
        cable_temp_c: vec![round(cable, 1), round(cable - 2.5, 1)],
        current_a: Some(18.5),
        voltage_v: Some(219.0),
        arc_fault: Some(arc),
    })
}

fn forest(max_temp: f64, px: u32, smoke_score: f64, at: Option<(f64, f64)>, ambient: f64) -> WireValues {
    WireValues::ForestIr(ForestIrValues {
        max_temp_c: round(max_temp, 1),
        hotspot_px: px,
        smoke_score: Some(round(smoke_score.clamp(0.0, 1.0), 2)),
        lat: at.map(|a| round(a.0, 6)),
        lon: at.map(|a| round(a.1, 6)),
        ambient_c: Some(round(ambient, 1)),
    })
}

fn reading(at_ms: i64, device: usize, status: Status, values: WireValues) -> ScheduledReading {
    ScheduledReading { at_ms, device, status, values }
}

/// Builds one scenario on the given devices (a household's detectors for a kitchen fire, else
/// one device) starting at `start`. Pure: the same arguments give the same injection.
pub fn inject(kind: ScenarioKind, fleet: &Fleet, devices: &[usize], start: i64, id: &str, prefix: &str) -> Injection {
    let mut rng = SimRng::derive(fleet.seed, id);
    let mut inj = Injection::default();
    let Some(&first) = devices.first() else { return inj };
    let Some(dev) = fleet.devices.get(first) else { return inj };
    let mut truth = record(id, kind, "", fleet, &devices[..1], start);
    let room = rng.range(21.0, 26.0);
    let battery = rng.int(40, 95) as f64;
    match kind {
        ScenarioKind::KitchenFire => {
            // Obscuration grows exponentially from the kitchen detector (about 45 s to the
            // 0.15 dB/m alarm level); each further detector sees the smoke 35–45 s later.
            let mut delay = 0;
            for &d in devices {
                for k in 0..=30i64 {
                    let t = k * 5_000 - delay;
                    if t < 0 {
                        continue;
                    }
                    let ts = t as f64 / 1000.0;
                    let obs = (0.03 * (ts / 28.0).exp()).min(6.0) + rng.normal(0.0, 0.002);
                    let temp = (room + 0.35 * ts).min(90.0);
                    let alarm = obs >= 0.15 || temp >= 57.0;
                    let status = if alarm { Status::Alarm } else { Status::Normal };
                    inj.readings.push(reading(start + k * 5_000, d, status, smoke(obs, temp, alarm, battery)));
                }
                delay += rng.int(35_000, 45_000) as i64;
                // A detector in thick smoke sends no quiet heartbeat in between.
                inj.silences.push(Silence { device: d, from_ms: start, until_ms: start + 600_000 });
            }
            truth = record(id, kind, "kitchen fire spreading detector to detector", fleet, devices, start);
            truth.end_ts = start + 150_000;
            truth.expected_class = ExpectedClass::Fire;
            truth.expected_severity =
                Some(if devices.len() >= 2 { Severity::Critical } else { single_device_severity(dev) });
        }
        ScenarioKind::CookingSteam => {
            let peak = rng.range(0.16, 0.3);
            inj.readings.push(reading(start, first, Status::Normal, smoke(peak, room + 3.0, false, battery)));
            inj.readings.push(reading(start + 15_000, first, Status::Normal, smoke(0.03, room + 1.0, false, battery)));
            truth.what = "cooking steam: one reading over 0.15 dB/m, then normal".into();
            truth.end_ts = start + 15_000;
        }
        ScenarioKind::TestButton => {
            inj.readings.push(reading(start, first, Status::Test, smoke(0.9, room, true, battery)));
            inj.readings.push(reading(start + 10_000, first, Status::Normal, smoke(0.02, room, false, battery)));
            truth.what = "test button pressed".into();
            truth.end_ts = start + 10_000;
        }
        ScenarioKind::LowBattery => {
            for (k, pct) in [12.0, 11.0].into_iter().enumerate() {
                let at = start + k as i64 * 60_000;
                inj.readings.push(reading(at, first, Status::Normal, smoke(0.025, room, false, pct)));
            }
            inj.silences.push(Silence { device: first, from_ms: start, until_ms: start + 6 * 3_600_000 });
            truth.what = "battery low (12 %)".into();
            truth.end_ts = start + 60_000;
            truth.expected_class = ExpectedClass::Hazard;
            truth.expected_severity = Some(Severity::Low);
        }
        ScenarioKind::Tamper => {
            for k in 0..2 {
                let mut v = smoke(0.01, room, false, battery);
                if let WireValues::Smoke(s) = &mut v {
                    s.tamper = Some(true);
                }
                inj.readings.push(reading(start + k * 30_000, first, Status::Fault, v));
            }
            inj.silences.push(Silence { device: first, from_ms: start, until_ms: start + 6 * 3_600_000 });
            truth.what = "detector removed from its base".into();
            truth.end_ts = start + 30_000;
            truth.expected_class = ExpectedClass::Hazard;
            truth.expected_severity = Some(Severity::Medium);
        }
        ScenarioKind::Offline => {
            inj.silences.push(Silence { device: first, from_ms: start, until_ms: i64::MAX });
            truth.what = "device stops reporting".into();
            truth.end_ts = start + 3 * expected_interval_ms(dev.kind);
            truth.expected_class = ExpectedClass::Hazard;
            truth.expected_severity = Some(Severity::Low);
        }
        ScenarioKind::ResidualCurrentCreep => {
            // 250→320 mA over 40 s, held 40 s (≥ 300 mA for about 50 s), then the breaker trips.
            for k in 0..=41i64 {
                let t = k as f64 * 2.0;
                let ma = if t <= 40.0 { 250.0 + 70.0 * t / 40.0 } else { 320.0 + rng.range(0.0, 12.0) };
                let ma = if t > 80.0 { rng.range(20.0, 40.0) } else { ma + rng.normal(0.0, 1.5) };
                inj.readings.push(reading(
                    start + k * 2_000,
                    first,
                    Status::Normal,
                    electrical(ma, 38.0 + t / 10.0, false),
                ));
            }
            inj.silences.push(Silence { device: first, from_ms: start - 60_000, until_ms: start + 90_000 });
            truth.what = "residual current creeping 250→320 mA over 40 s, held, then tripped".into();
            truth.end_ts = start + 82_000;
            truth.expected_class = ExpectedClass::ElectricalFire;
            truth.expected_severity = Some(single_device_severity(dev));
        }
        ScenarioKind::ArcFault => {
            for k in 0..3i64 {
                let arc = k < 2;
                let status = if arc { Status::Alarm } else { Status::Normal };
                inj.readings.push(reading(
                    start + k * 2_000,
                    first,
                    status,
                    electrical(rng.range(20.0, 60.0), 41.0, arc),
                ));
            }
            truth.what = "arc fault".into();
            truth.end_ts = start + 4_000;
            truth.expected_class = ExpectedClass::ElectricalFire;
            truth.expected_severity = Some(single_device_severity(dev));
        }
        ScenarioKind::ForestHotspot => {
            let at = offset(dev.lat, dev.lon, rng.range(0.2, 0.6), rng.range(0.0, std::f64::consts::TAU));
            let ambient = rng.range(15.0, 28.0);
            for k in 0..=24i64 {
                let f = k as f64 / 24.0;
                let max_temp = ambient + 15.0 + 420.0 * f.powf(1.5);
                let px = (2.0 + 600.0 * f * f) as u32;
                let score = 0.25 + 0.7 * f;
                inj.readings.push(reading(
                    start + k * 10_000,
                    first,
                    Status::Normal,
                    forest(max_temp, px, score, Some(at), ambient),
                ));
            }
            inj.silences.push(Silence { device: first, from_ms: start, until_ms: start + 250_000 });
            truth.what = "forest hotspot growing over 4 minutes".into();
            truth.end_ts = start + 240_000;
            truth.expected_class = ExpectedClass::ForestFire;
            truth.expected_severity = Some(Severity::Critical);
        }
        ScenarioKind::SunGlint => {
            let ambient = rng.range(20.0, 30.0);
            let glint = forest(rng.range(85.0, 110.0), rng.int(4, 9) as u32, 0.03, None, ambient);
            inj.readings.push(reading(start, first, Status::Normal, glint));
            truth.what = "sun glint: one hot frame".into();
        }
        ScenarioKind::Malformed => {
            inj.truth.clear();
            for (k, reason) in REASONS.iter().enumerate() {
                let at = start + k as i64 * 250;
                if let Some(m) = malformed(reason, prefix, dev, at) {
                    inj.raw.push(m);
                }
                let mut t = record(
                    &format!("{id}.{}", k + 1),
                    kind,
                    &format!("malformed message: {reason}"),
                    fleet,
                    &devices[..1],
                    at,
                );
                t.deadletter_reason = Some((*reason).to_owned());
                inj.truth.push(t);
            }
            return inj;
        }
    }
    inj.truth.push(truth);
    inj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, FleetSpec};
    use crate::plan::{plan, PlanSpec};
    use crate::readings::{Intervals, ReadingGenerator};
    use serde_json::Value;

    const START: i64 = 1_795_930_000_000;

    fn fleet() -> Fleet {
        generate_registry(&FleetSpec::default()).expect("fleet")
    }

    fn spec(kinds: Vec<ScenarioKind>) -> PlanSpec {
        PlanSpec {
            seed: 9,
            start_ms: START,
            duration_ms: 600_000,
            kinds,
            every_ms: None,
            prefix: "firegrid/v1".into(),
            lead_ms: None,
        }
    }

    fn values(r: &ScheduledReading) -> Value {
        serde_json::to_value(&r.values).expect("values")
    }

    #[test]
    fn a_plan_runs_each_scenario_once_on_its_own_devices_with_its_expected_outcome() {
        let f = fleet();
        let plan = plan(&f, &spec(ScenarioKind::ALL.to_vec()));
        assert_eq!(plan.len(), ScenarioKind::ALL.len());
        let mut households = std::collections::HashSet::new();
        for inj in &plan {
            let t = &inj.truth[0];
            let key = if t.household.is_empty() { t.devices[0].clone() } else { t.household.clone() };
            assert!(households.insert(key), "{} reuses a household", t.scenario);
            assert!(t.start_ts >= START + 20_000 && t.start_ts < START + 360_000);
            let (class, severity) = (t.expected_class, t.expected_severity);
            match t.scenario.as_str() {
                "kitchen_fire" => assert_eq!((class, severity), (ExpectedClass::Fire, Some(Severity::Critical))),
                "cooking_steam" | "test_button" | "sun_glint" | "malformed" => {
                    assert_eq!((class, severity), (ExpectedClass::None, None), "{}", t.scenario)
                }
                "low_battery" | "offline" => {
                    assert_eq!((class, severity), (ExpectedClass::Hazard, Some(Severity::Low)))
                }
                "tamper" => assert_eq!((class, severity), (ExpectedClass::Hazard, Some(Severity::Medium))),
                "residual_current_creep" | "arc_fault" => {
                    assert_eq!(class, ExpectedClass::ElectricalFire);
                    assert!(matches!(severity, Some(Severity::High | Severity::Critical)));
                }
                "forest_hotspot" => assert_eq!(class, ExpectedClass::ForestFire),
                other => panic!("unexpected scenario {other}"),
            }
        }
        assert_eq!(plan, crate::plan::plan(&f, &spec(ScenarioKind::ALL.to_vec())), "deterministic");
    }

    #[test]
    fn a_kitchen_fire_spreads_from_detector_to_detector() {
        let f = fleet();
        let inj = &plan(&f, &spec(vec![ScenarioKind::KitchenFire]))[0];
        assert!(inj.truth[0].devices.len() >= 2);
        let mut first_alarm = Vec::new();
        for dev in inj.readings.iter().map(|r| r.device).collect::<std::collections::BTreeSet<_>>() {
            let rs: Vec<_> = inj.readings.iter().filter(|r| r.device == dev).collect();
            let alarm = rs.iter().position(|r| values(r)["obscuration_db_m"].as_f64().unwrap_or(0.0) >= 0.15);
            let i = alarm.expect("each detector reaches the alarm level");
            assert!(rs[i..].iter().all(|r| r.status == Status::Alarm), "alarm holds once smoke is thick");
            first_alarm.push(rs[i].at_ms);
        }
        first_alarm.sort_unstable();
        assert!(first_alarm[1] - first_alarm[0] >= 30_000, "the smoke takes time to spread");
    }

    #[test]
    fn nuisances_stay_below_the_alarm_rules() {
        let f = fleet();
        let plan = plan(&f, &spec(vec![ScenarioKind::CookingSteam, ScenarioKind::TestButton, ScenarioKind::SunGlint]));
        let steam: Vec<f64> =
            plan[0].readings.iter().map(|r| values(r)["obscuration_db_m"].as_f64().unwrap_or(0.0)).collect();
        assert_eq!(steam.iter().filter(|&&o| o >= 0.15).count(), 1);
        assert!(plan[1].readings.iter().any(|r| r.status == Status::Test));
        assert!(plan[1].readings.iter().all(|r| r.status != Status::Alarm));
        let hot = plan[2].readings.iter().filter(|r| values(r)["max_temp_c"].as_f64().unwrap_or(0.0) >= 80.0).count();
        assert_eq!(hot, 1, "one hot frame");
    }

    #[test]
    fn residual_current_creeps_from_250_to_320_ma_and_is_sustained_over_300_for_30_s() {
        let f = fleet();
        let inj = &plan(&f, &spec(vec![ScenarioKind::ResidualCurrentCreep]))[0];
        let series: Vec<(i64, f64)> = inj
            .readings
            .iter()
            .map(|r| (r.at_ms - inj.truth[0].start_ts, values(r)["residual_current_ma"].as_f64().unwrap_or(0.0)))
            .collect();
        assert!((series[0].1 - 250.0).abs() < 6.0);
        let at_40 = series.iter().find(|(t, _)| *t == 40_000).expect("40 s").1;
        assert!((at_40 - 320.0).abs() < 6.0, "{at_40}");
        let over: Vec<i64> = series.iter().filter(|(_, ma)| *ma >= 300.0).map(|(t, _)| *t).collect();
        assert!(over.last().copied().unwrap_or(0) - over[0] >= 30_000);
    }

    #[test]
    fn a_forest_hotspot_is_hot_on_two_frames_within_a_minute_and_grows() {
        let f = fleet();
        let inj = &plan(&f, &spec(vec![ScenarioKind::ForestHotspot]))[0];
        let hot: Vec<i64> = inj
            .readings
            .iter()
            .filter(|r| {
                let v = values(r);
                v["max_temp_c"].as_f64().unwrap_or(0.0) >= 80.0 && v["hotspot_px"].as_u64().unwrap_or(0) >= 4
            })
            .map(|r| r.at_ms)
            .collect();
        assert!(hot.len() >= 2 && hot[1] - hot[0] <= 60_000);
        let px: Vec<u64> = inj.readings.iter().map(|r| values(r)["hotspot_px"].as_u64().unwrap_or(0)).collect();
        assert!(px.windows(2).all(|w| w[1] >= w[0]));
        assert!(values(&inj.readings[0])["lat"].is_number());
    }

    #[test]
    fn malformed_input_records_one_truth_line_per_dead_letter_reason() {
        let f = fleet();
        let inj = &plan(&f, &spec(vec![ScenarioKind::Malformed]))[0];
        let reasons: Vec<_> = inj.truth.iter().filter_map(|t| t.deadletter_reason.as_deref()).collect();
        assert_eq!(reasons, REASONS);
        assert_eq!(inj.raw.len(), REASONS.len());
        assert!(inj.truth.iter().all(|t| t.expected_class == ExpectedClass::None));
    }

    #[test]
    fn an_offline_device_sends_nothing_after_it_drops_out() {
        let f = fleet();
        let inj = &plan(&f, &spec(vec![ScenarioKind::Offline]))[0];
        let device_id = &inj.truth[0].devices[0];
        let idx = f.devices.iter().position(|d| &d.device_id == device_id).expect("device");
        let mut g = ReadingGenerator::new(&f, 1, START, "p", Intervals::default());
        g.inject(inj);
        let from = inj.truth[0].start_ts;
        let mut before = 0;
        while let Some(m) = g.next_until(START + 900_000) {
            if m.device == Some(idx) {
                assert!(m.at_ms < from, "a reading after going offline");
                before += 1;
            }
        }
        assert!(before > 0);
    }

    #[test]
    fn injected_readings_are_merged_in_time_order_with_their_own_seq() {
        let f = fleet();
        let plan = plan(&f, &spec(ScenarioKind::ALL.to_vec()));
        let mut g = ReadingGenerator::new(&f, 1, START, "firegrid/v1", Intervals::default());
        for inj in &plan {
            g.inject(inj);
        }
        let want: usize = plan.iter().map(|i| i.readings.len() + i.raw.len()).sum();
        let mut seen = 0;
        let mut last = i64::MIN;
        let mut seqs: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        while let Some(m) = g.next_until(START + 700_000) {
            assert!(m.at_ms >= last);
            last = m.at_ms;
            let injected =
                plan.iter().flat_map(|i| &i.readings).any(|r| Some(r.device) == m.device && r.at_ms == m.at_ms)
                    || plan.iter().flat_map(|i| &i.raw).any(|r| r.topic == m.topic && r.at_ms == m.at_ms);
            seen += usize::from(injected);
            if let (Some(_), Ok(v)) = (m.device, serde_json::from_slice::<Value>(&m.payload)) {
                if let Some(seq) = v["seq"].as_u64() {
                    if let Some(prev) = seqs.insert(m.topic.clone(), seq) {
                        assert_eq!(seq, prev + 1, "{}", m.topic);
                    }
                }
            }
        }
        assert!(seen >= want, "{seen} of {want} injected messages came out");
    }
}
