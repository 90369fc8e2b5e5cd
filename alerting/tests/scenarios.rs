//! Table-driven scenarios over timed reading sequences with an injected clock (DESIGN §5 and
//! issue 4's list): each scenario feeds readings and clock ticks to the pure [`AlertCore`] and
//! checks the incidents it leaves and the transitions it emitted.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::engine::AlertCore;
use firegrid_alerting::incident::Outcome;
use firegrid_alerting::incident::{Action, Class, Event, Severity, Status as IStatus};
use firegrid_ingest::{EnrichedReading, Kind, SiteType, SmokeValues, Status};

enum Step {
    /// A reading arriving at its own timestamp.
    Read(EnrichedReading),
    /// A reading arriving again (MQTT redelivery).
    Again(EnrichedReading),
    /// The engine clock ticks at this time.
    Tick(i64),
}

struct Scenario {
    name: &'static str,
    steps: Vec<Step>,
    /// Incidents left (class, severity), sorted.
    incidents: Vec<(Class, Severity)>,
    /// Every transition emitted, in order (`event:severity`).
    events: Vec<&'static str>,
}

fn run(steps: Vec<Step>) -> (AlertCore, Outcome) {
    let settings = Arc::new(AlertingConfig::default().validate().unwrap());
    let mut core = AlertCore::new(settings);
    let mut all = Outcome::default();
    for step in steps {
        let out = match step {
            Step::Read(r) | Step::Again(r) => {
                let now = r.reading.received_at_ms;
                core.on_reading(&r, now)
            }
            Step::Tick(now) => core.on_tick(now),
        };
        all.merge(out);
    }
    (core, all)
}

fn residential(id: &str, household: &str) -> Arc<firegrid_ingest::DeviceRecord> {
    device(id, Kind::Smoke, household, SiteType::Residential, false)
}

fn scenarios() -> Vec<Scenario> {
    let a = residential("sd-a", "h-1");
    let b = residential("sd-b", "h-1");
    let old = device("sd-v", Kind::Smoke, "h-9", SiteType::Residential, true);
    let school = device("sd-s", Kind::Smoke, "", SiteType::School, false);
    let em = device("em-1", Kind::Electrical, "h-2", SiteType::Residential, false);
    let em_kitchen = device("em-k", Kind::Electrical, "h-1", SiteType::Residential, false);
    let cam = device("fr-1", Kind::ForestIr, "", SiteType::Forest, false);
    let cam2 = device("fr-2", Kind::ForestIr, "", SiteType::Forest, false);
    vec![
        Scenario {
            name: "kitchen fire with two detectors is one critical incident",
            steps: vec![
                Step::Read(smoke(&a, T0, 0.2)),
                Step::Read(smoke(&a, T0 + 10 * S, 0.35)),
                Step::Read(smoke_alarm(&b, T0 + 15 * S, Some(1))),
                Step::Read(smoke(&a, T0 + 20 * S, 0.8)),
            ],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "one detector blip below the threshold raises nothing",
            steps: vec![Step::Read(smoke(&a, T0, 0.10)), Step::Read(smoke(&a, T0 + 10 * S, 0.12))],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "cooking steam over the threshold once then normal raises nothing",
            steps: vec![
                Step::Read(smoke(&a, T0, 0.3)),
                Step::Read(smoke(&a, T0 + 10 * S, 0.05)),
                Step::Read(smoke(&a, T0 + 20 * S, 0.2)),
                Step::Read(smoke(&a, T0 + 30 * S, 0.02)),
            ],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "the test button never alarms",
            steps: (0..5)
                .map(|i| {
                    let v = SmokeValues {
                        obscuration_db_m: 3.0,
                        temperature_c: Some(80.0),
                        alarm: Some(true),
                        ..Default::default()
                    };
                    Step::Read(smoke_with(&a, T0 + i * 5 * S, Status::Test, v))
                })
                .collect(),
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "residual current creeping from 250 to 320 mA is an electrical fire",
            steps: (0..=14)
                .map(|i| {
                    let ma = (250.0 + 70.0 * i as f64 / 8.0).min(320.0);
                    Step::Read(electrical(&em, T0 + i * 5 * S, ma, 30.0))
                })
                .collect(),
            incidents: vec![(Class::ElectricalFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "residual current of 210 mA for ten minutes is a hazard, not a fire",
            steps: (0..=22).map(|i| Step::Read(electrical(&em, T0 + i * 30 * S, 210.0, 30.0))).collect(),
            incidents: vec![(Class::Hazard, Severity::Medium)],
            events: vec!["opened:medium"],
        },
        Scenario {
            name: "residual current over the alarm value for 25 s, twice, raises nothing (the window is 30 s)",
            steps: [0, 35]
                .into_iter()
                .flat_map(|start| {
                    let em = em.clone();
                    (0..=6).map(move |i| {
                        let ma = if i < 6 { 350.0 } else { 20.0 };
                        Step::Read(electrical(&em, T0 + (start + i * 5) * S, ma, 30.0))
                    })
                })
                .collect(),
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "residual current over the alarm value for exactly its 30 s window is an electrical fire",
            steps: (0..=6).map(|i| Step::Read(electrical(&em, T0 + i * 5 * S, 350.0, 30.0))).collect(),
            incidents: vec![(Class::ElectricalFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a late reading under the alarm value does not break a residual current window",
            steps: vec![
                Step::Read(electrical(&em, T0, 350.0, 30.0)),
                Step::Read(electrical(&em, T0 + 20 * S, 350.0, 30.0)),
                // Older than the newest: it does not clear the window that started at T0.
                Step::Read(electrical(&em, T0 + 5 * S, 20.0, 30.0)),
                Step::Read(electrical(&em, T0 + 30 * S, 350.0, 30.0)),
            ],
            incidents: vec![(Class::ElectricalFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a reading under the alarm value at the newest reading's own time breaks the window",
            steps: vec![
                Step::Read(electrical(&em, T0, 350.0, 30.0)),
                Step::Read(electrical(&em, T0 + 25 * S, 350.0, 30.0)),
                // Same time as the newest, not older: it counts, and the window starts again.
                Step::Read(electrical(&em, T0 + 25 * S, 20.0, 30.0)),
                Step::Read(electrical(&em, T0 + 40 * S, 350.0, 30.0)),
                Step::Read(electrical(&em, T0 + 60 * S, 350.0, 30.0)),
            ],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "a cable at 75 °C for 35 s, twice, raises nothing (the window is 40 s)",
            steps: [0, 45]
                .into_iter()
                .flat_map(|start| {
                    let em = em.clone();
                    (0..=8).map(move |i| {
                        let c = if i < 8 { 75.0 } else { 30.0 };
                        Step::Read(electrical(&em, T0 + (start + i * 5) * S, 20.0, c))
                    })
                })
                .collect(),
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "a cable at 75 °C for exactly its 40 s window is an electrical fire",
            steps: (0..=8).map(|i| Step::Read(electrical(&em, T0 + i * 5 * S, 20.0, 75.0))).collect(),
            incidents: vec![(Class::ElectricalFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a detector silent for 2.5 intervals at a time is never offline (the delay is 3)",
            steps: (0..4)
                .flat_map(|i| {
                    let at = T0 + i * 9000 * S;
                    [Step::Tick(at), Step::Read(smoke(&a, at, 0.01))]
                })
                .chain([Step::Tick(T0 + 3 * 9000 * S + 9000 * S)])
                .collect(),
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "heat of 57 °C alone, without smoke, is a fire",
            steps: vec![Step::Read(smoke_with(
                &a,
                T0,
                Status::Normal,
                SmokeValues { obscuration_db_m: 0.0, temperature_c: Some(57.0), ..Default::default() },
            ))],
            incidents: vec![(Class::Fire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "heat of 56.9 °C alone raises nothing",
            steps: vec![Step::Read(smoke_with(
                &a,
                T0,
                Status::Normal,
                SmokeValues { obscuration_db_m: 0.0, temperature_c: Some(56.9), ..Default::default() },
            ))],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "the detector's own alarm flag is a fire even with status normal",
            steps: vec![Step::Read(smoke_with(
                &a,
                T0,
                Status::Normal,
                SmokeValues { obscuration_db_m: 0.0, alarm: Some(true), ..Default::default() },
            ))],
            incidents: vec![(Class::Fire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "an alarm at an elderly care home, a hospital and an ancient town is critical at once, each",
            steps: [SiteType::ElderlyCare, SiteType::Hospital, SiteType::AncientTown]
                .into_iter()
                .enumerate()
                .map(|(i, site)| {
                    let d = device(&format!("sd-site-{i}"), Kind::Smoke, "", site, false);
                    Step::Read(smoke_alarm(&d, T0 + i as i64 * S, Some(1)))
                })
                .collect(),
            incidents: vec![(Class::Fire, Severity::Critical); 3],
            events: vec!["opened:critical"; 3],
        },
        Scenario {
            name: "hotspots of two cameras 500 m apart 29 minutes apart are one forest fire (the window is 30)",
            steps: vec![
                Step::Read(forest_at(&cam, T0, 29.800, 106.600)),
                Step::Read(forest_at(&cam2, T0 + 29 * MIN, 29.8045, 106.600)),
            ],
            incidents: vec![(Class::ForestFire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "hotspots of two cameras 500 m apart 31 minutes apart are two forest fires",
            steps: vec![
                Step::Read(forest_at(&cam, T0, 29.800, 106.600)),
                Step::Read(forest_at(&cam2, T0 + 31 * MIN, 29.8045, 106.600)),
            ],
            incidents: vec![(Class::ForestFire, Severity::High), (Class::ForestFire, Severity::High)],
            events: vec!["opened:high", "opened:high"],
        },
        Scenario {
            name: "a sun glint on a single frame raises nothing",
            steps: vec![
                Step::Read(forest(&cam, T0, 140.0, 12, None)),
                Step::Read(forest(&cam, T0 + 20 * S, 25.0, 0, None)),
                Step::Read(forest(&cam, T0 + 90 * S, 130.0, 9, None)),
            ],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "a frame is a hotspot only when hot enough and with enough hot pixels",
            steps: vec![
                // Hot enough with 3 px (4 needed), then 40 px at 79 °C (80 needed): two frames, no hotspot.
                Step::Read(forest(&cam, T0, 140.0, 3, None)),
                Step::Read(forest(&cam, T0 + 20 * S, 79.0, 40, None)),
            ],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "a hotspot frame exactly one window after the first does not confirm it",
            steps: vec![
                Step::Read(forest(&cam, T0, 140.0, 12, None)),
                Step::Read(forest(&cam, T0 + 60 * S, 140.0, 12, None)),
            ],
            incidents: vec![],
            events: vec![],
        },
        Scenario {
            name: "a persistent hotspot is a forest fire",
            steps: vec![
                Step::Read(forest(&cam, T0, 140.0, 12, None)),
                Step::Read(forest(&cam, T0 + 20 * S, 160.0, 30, Some(0.3))),
                Step::Read(forest(&cam, T0 + 40 * S, 190.0, 60, Some(0.5))),
            ],
            incidents: vec![(Class::ForestFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a hotspot with a confident smoke score alarms at once",
            steps: vec![Step::Read(forest(&cam, T0, 140.0, 12, Some(0.85)))],
            incidents: vec![(Class::ForestFire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a smoke score alone is a pre-alarm hazard to verify",
            steps: vec![
                Step::Read(forest(&cam, T0, 30.0, 0, Some(0.65))),
                Step::Read(forest(&cam, T0 + 20 * S, 30.0, 0, Some(0.7))),
            ],
            incidents: vec![(Class::Hazard, Severity::Medium)],
            events: vec!["opened:medium"],
        },
        Scenario {
            name: "hotspots of two cameras 500 m apart are one forest fire",
            steps: vec![
                Step::Read(forest_at(&cam, T0, 29.800, 106.600)),
                Step::Read(forest_at(&cam2, T0 + 5 * MIN, 29.8045, 106.600)),
            ],
            incidents: vec![(Class::ForestFire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "hotspots of two cameras 5 km apart are two forest fires",
            steps: vec![
                Step::Read(forest_at(&cam, T0, 29.800, 106.600)),
                Step::Read(forest_at(&cam2, T0 + 5 * MIN, 29.845, 106.600)),
            ],
            incidents: vec![(Class::ForestFire, Severity::High), (Class::ForestFire, Severity::High)],
            events: vec!["opened:high", "opened:high"],
        },
        Scenario {
            name: "a vulnerable household's single alarm is critical at once",
            steps: vec![Step::Read(smoke_alarm(&old, T0, Some(3)))],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:critical"],
        },
        Scenario {
            name: "a school's single alarm is critical at once",
            steps: vec![Step::Read(smoke_alarm(&school, T0, None))],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:critical"],
        },
        Scenario {
            name: "the same alarm redelivered is still one incident with one evidence",
            steps: vec![
                Step::Read(smoke_alarm(&a, T0, Some(41))),
                Step::Again(smoke_alarm(&a, T0, Some(41))),
                Step::Again(smoke_alarm(&a, T0, Some(41))),
            ],
            incidents: vec![(Class::Fire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "a repeat alarm adds evidence and never a second incident",
            steps: (0..6).map(|i| Step::Read(smoke_alarm(&a, T0 + i * 10 * S, Some(i as u64)))).collect(),
            incidents: vec![(Class::Fire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "an alarm persisting 120 s unsilenced is confirmed",
            steps: vec![
                Step::Read(smoke_alarm(&a, T0, Some(1))),
                Step::Tick(T0 + 60 * S),
                Step::Tick(T0 + 121 * S),
                Step::Tick(T0 + 180 * S),
            ],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "a silenced alarm is not confirmed by persistence",
            steps: vec![
                Step::Read(smoke_alarm(&a, T0, Some(1))),
                Step::Read(smoke_with(
                    &a,
                    T0 + 20 * S,
                    Status::Alarm,
                    SmokeValues { obscuration_db_m: 0.3, silenced: Some(true), ..Default::default() },
                )),
                Step::Tick(T0 + 200 * S),
            ],
            incidents: vec![(Class::Fire, Severity::High)],
            events: vec!["opened:high"],
        },
        Scenario {
            name: "smoke and heat together are confirmed",
            steps: vec![Step::Read(smoke_with(
                &a,
                T0,
                Status::Normal,
                SmokeValues {
                    obscuration_db_m: 0.1,
                    temperature_c: Some(62.0),
                    alarm: Some(true),
                    ..Default::default()
                },
            ))],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:critical"],
        },
        Scenario {
            name: "heat without smoke and an electrical fire of one household are one critical incident",
            steps: vec![
                Step::Read(smoke_with(
                    &a,
                    T0,
                    Status::Normal,
                    SmokeValues { obscuration_db_m: 0.0, temperature_c: Some(60.0), ..Default::default() },
                )),
                Step::Read(electrical(&em_kitchen, T0 + 5 * S, 10.0, 95.0)),
                Step::Read(electrical(&em_kitchen, T0 + 50 * S, 10.0, 99.0)),
            ],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "smoke and electrical alarms of one household are one confirmed incident",
            steps: vec![
                Step::Read(smoke_alarm(&a, T0, None)),
                Step::Read(electrical(&em_kitchen, T0 + 5 * S, 10.0, 95.0)),
                Step::Read(electrical(&em_kitchen, T0 + 50 * S, 10.0, 99.0)),
            ],
            incidents: vec![(Class::Fire, Severity::Critical)],
            events: vec!["opened:high", "escalated:critical"],
        },
        Scenario {
            name: "alarms of one household eleven minutes apart are two incidents",
            steps: vec![Step::Read(smoke_alarm(&a, T0, Some(1))), Step::Read(smoke_alarm(&b, T0 + 11 * MIN, Some(1)))],
            incidents: vec![(Class::Fire, Severity::High), (Class::Fire, Severity::High)],
            events: vec!["opened:high", "opened:high"],
        },
        Scenario {
            name: "a silent device is an offline hazard once",
            steps: vec![
                Step::Read(smoke(&a, T0, 0.01)),
                Step::Tick(T0 + 2 * 3600 * S),
                Step::Tick(T0 + 3 * 3600 * S + S),
                Step::Tick(T0 + 4 * 3600 * S),
                Step::Tick(T0 + 9 * 3600 * S),
            ],
            incidents: vec![(Class::Hazard, Severity::Low)],
            events: vec!["opened:low"],
        },
        Scenario {
            name: "low battery, tamper and fault are hazards of one device incident",
            steps: vec![
                Step::Read(smoke_with(
                    &a,
                    T0,
                    Status::Normal,
                    SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(12.0), ..Default::default() },
                )),
                Step::Read(smoke_with(
                    &a,
                    T0 + MIN,
                    Status::Fault,
                    SmokeValues {
                        obscuration_db_m: 0.0,
                        battery_pct: Some(11.0),
                        tamper: Some(true),
                        ..Default::default()
                    },
                )),
            ],
            incidents: vec![(Class::Hazard, Severity::Medium)],
            events: vec!["opened:low", "escalated:medium"],
        },
        Scenario {
            name: "a low battery then a fault of one device are one low hazard with no escalation",
            steps: vec![
                Step::Read(smoke_with(
                    &a,
                    T0,
                    Status::Normal,
                    SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(12.0), ..Default::default() },
                )),
                Step::Read(smoke_with(&a, T0 + MIN, Status::Fault, SmokeValues::default())),
            ],
            incidents: vec![(Class::Hazard, Severity::Low)],
            events: vec!["opened:low"],
        },
    ]
}

#[test]
fn every_scenario_opens_exactly_the_expected_incidents() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let (core, out) = run(s.steps);
        let mut got: Vec<(Class, Severity)> = core.correlator().active().map(|i| (i.class, i.severity)).collect();
        got.sort();
        let mut want = s.incidents.clone();
        want.sort();
        let events: Vec<String> = out.audit.iter().map(|a| format!("{}:{}", a.event, a.severity)).collect();
        if got != want || events != s.events {
            failures.push(format!(
                "{}:\n  incidents {got:?}, want {want:?}\n  events {events:?}, want {:?}",
                s.name, s.events
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_redelivered_alarm_adds_no_evidence() {
    let a = residential("sd-a", "h-1");
    let (core, out) = run(vec![
        Step::Read(smoke_alarm(&a, T0, Some(41))),
        Step::Again(smoke_alarm(&a, T0, Some(41))),
        Step::Read(smoke_alarm(&a, T0 + 10 * S, Some(42))),
    ]);
    assert_eq!(out.evidence.len(), 2);
    assert_eq!(core.duplicates(), 1);
    let inc = core.correlator().active().next().unwrap();
    assert_eq!(inc.evidence_count, 2);
}

#[test]
fn an_electrical_pre_alarm_is_raised_once_while_it_lasts() {
    let em = device("em-1", Kind::Electrical, "", SiteType::Factory, false);
    let steps = (0..60).map(|i| Step::Read(electrical(&em, T0 + i * 30 * S, 220.0, 30.0))).collect();
    let (_, out) = run(steps);
    assert_eq!(out.evidence.len(), 1, "one hazard evidence for one continuous pre-alarm");
}

#[test]
fn incident_ids_are_unique_and_numbered_per_county_and_day() {
    let devices: Vec<_> = (0..3).map(|i| residential(&format!("sd-{i}"), &format!("h-{i}"))).collect();
    let steps = devices.iter().map(|d| Step::Read(smoke_alarm(d, T0, None))).collect();
    let (core, _) = run(steps);
    let mut ids: Vec<String> = core.correlator().active().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["INC-500112-20261129-0001", "INC-500112-20261129-0002", "INC-500112-20261129-0003"]);
}

#[test]
fn a_responder_confirm_makes_a_fire_critical_once() {
    let a = residential("sd-a", "h-1");
    let (mut core, _) = run(vec![Step::Read(smoke_alarm(&a, T0, Some(1)))]);
    let id = core.correlator().active().next().unwrap().id.clone();
    let first = core.act(&id, Action::Confirm, "station:m-1", "flames seen", T0 + 30 * S).unwrap();
    assert_eq!(first.audit[0].event, Event::Escalated);
    assert_eq!(first.incidents[0].severity, Severity::Critical);
    let again = core.act(&id, Action::Confirm, "station:m-2", "", T0 + 40 * S).unwrap();
    assert!(again.audit.is_empty() && again.incidents.is_empty(), "a repeated confirm changes nothing: {again:?}");
}

#[test]
fn a_hazard_closes_only_through_acknowledged_and_rectified() {
    let a = residential("sd-a", "h-1");
    let low = SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(5.0), ..Default::default() };
    let (mut core, _) = run(vec![Step::Read(smoke_with(&a, T0, Status::Normal, low))]);
    let id = core.correlator().active().next().unwrap().id.clone();
    let err = core.act(&id, Action::Resolve, "grid:g-1", "", T0 + MIN).unwrap_err().to_string();
    assert_eq!(err, format!("incident {id} (hazard) is open: cannot resolve"));
    assert!(core.act(&id, Action::Rectified, "grid:g-1", "", T0 + MIN).is_err());
    core.act(&id, Action::Ack, "grid:g-1", "", T0 + MIN).unwrap();
    let out = core.act(&id, Action::Rectified, "grid:g-1", "battery replaced", T0 + 2 * MIN).unwrap();
    let statuses: Vec<_> = out.audit.iter().map(|a| (a.from_status, a.to_status)).collect();
    assert_eq!(statuses, [(Some(IStatus::Acknowledged), IStatus::Rectified)]);
    assert!(core.correlator().get(&id).is_none(), "a rectified hazard is closed");
}
