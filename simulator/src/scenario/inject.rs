//! One scenario on its devices: the [`Event`] (which scenario, on which devices, when, under
//! which id), and the scene the builders of `fires`, `hazards`, `nuisances` and `malformed`
//! fill in — the readings they schedule, the normal readings they hold back and the truth
//! record they start from. Pure: the same event on the same fleet gives the same injection.

use firegrid_ingest::Status;

use firegrid_ingest::Device;

use crate::fleet::Fleet;
use crate::readings::payload::WireValues;
use crate::rng::SimRng;
use crate::scenario::schedule::{Injection, ScheduledReading, Silence};
use crate::scenario::truth::{ExpectedClass, TruthRecord};
use crate::scenario::{fires, hazards, malformed, nuisances, ScenarioKind};

/// A scenario placed on devices at a time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// Which scenario.
    pub(crate) kind: ScenarioKind,
    /// Its devices: a household's detectors for a kitchen fire, else one device.
    pub(crate) devices: Vec<usize>,
    /// When it starts, epoch ms.
    pub(crate) start_ms: i64,
    /// Its id in the truth, e.g. `ev-0003`.
    pub(crate) id: String,
}

/// What a scenario builder works on: the event, its first device, a random stream of its own,
/// the room temperature and battery level of the place, and the injection being built.
pub(super) struct Scene<'a> {
    pub(super) fleet: &'a Fleet,
    pub(super) event: &'a Event,
    /// Index of the event's first device.
    pub(super) first: usize,
    /// The event's first device.
    pub(super) dev: &'a Device,
    pub(super) rng: SimRng,
    /// Room temperature, °C.
    pub(super) room: f64,
    /// Battery level of the detectors, percent.
    pub(super) battery: f64,
    pub(super) inj: Injection,
}

impl Scene<'_> {
    /// `event.start_ms`.
    pub(super) fn start(&self) -> i64 {
        self.event.start_ms
    }

    /// Schedules a reading of `device`.
    pub(super) fn read(&mut self, at_ms: i64, device: usize, status: Status, values: WireValues) {
        self.inj.readings.push(ScheduledReading { at_ms, device, status, values });
    }

    /// Holds back `device`'s normal readings in `[from_ms, until_ms)`.
    pub(super) fn silence(&mut self, device: usize, from_ms: i64, until_ms: i64) {
        self.inj.silences.push(Silence { device, from_ms, until_ms });
    }

    /// A truth record of the event's first device: nothing expected, ending as it starts.
    pub(super) fn truth(&self, what: &str) -> TruthRecord {
        self.record(&self.event.id, what, &self.event.devices[..1], self.start())
    }

    /// A truth record `id` of `devices` starting at `start`, nothing expected yet.
    pub(super) fn record(&self, id: &str, what: &str, devices: &[usize], start: i64) -> TruthRecord {
        let fleet = self.fleet;
        let first = devices.first().and_then(|&i| fleet.devices.get(i));
        let field = |f: fn(&Device) -> &str| first.map(|d| f(d).to_owned()).unwrap_or_default();
        TruthRecord {
            id: id.to_owned(),
            scenario: self.event.kind.as_str().to_owned(),
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
}

/// Builds one scenario on its devices (malformed messages build their topics under `prefix`).
/// Pure: the same arguments give the same injection; an event without a device of the fleet
/// injects nothing.
pub(crate) fn inject(fleet: &Fleet, event: &Event, prefix: &str) -> Injection {
    let mut rng = SimRng::derive(fleet.seed, &event.id);
    let Some(&first) = event.devices.first() else { return Injection::default() };
    let Some(dev) = fleet.devices.get(first) else { return Injection::default() };
    let room = rng.range(21.0, 26.0);
    let battery = rng.int(40, 95) as f64;
    let mut scene = Scene { fleet, event, first, dev, rng, room, battery, inj: Injection::default() };
    let truth = match event.kind {
        ScenarioKind::KitchenFire => fires::kitchen_fire(&mut scene),
        ScenarioKind::ResidualCurrentCreep => fires::residual_current_creep(&mut scene),
        ScenarioKind::ArcFault => fires::arc_fault(&mut scene),
        ScenarioKind::ForestHotspot => fires::forest_hotspot(&mut scene),
        ScenarioKind::LowBattery => hazards::low_battery(&mut scene),
        ScenarioKind::Tamper => hazards::tamper(&mut scene),
        ScenarioKind::Offline => hazards::offline(&mut scene),
        ScenarioKind::CookingSteam => nuisances::cooking_steam(&mut scene),
        ScenarioKind::TestButton => nuisances::test_button(&mut scene),
        ScenarioKind::SunGlint => nuisances::sun_glint(&mut scene),
        ScenarioKind::Malformed => {
            malformed::messages(&mut scene, prefix);
            return scene.inj;
        }
    };
    scene.inj.truth.push(truth);
    scene.inj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, FleetSpec};
    use crate::readings::{Intervals, ReadingGenerator};
    use crate::scenario::malformed::REASONS;
    use crate::scenario::plan::{plan, PlanSpec};
    use crate::scenario::truth::Severity;
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
        assert_eq!(plan, crate::scenario::plan::plan(&f, &spec(ScenarioKind::ALL.to_vec())), "deterministic");
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
        let reasons: Vec<_> = inj.truth.iter().filter_map(|t| t.deadletter_reason).collect();
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
