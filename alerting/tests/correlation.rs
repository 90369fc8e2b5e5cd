//! Correlation's bookkeeping (DESIGN §5) through the pure [`AlertCore`] with an injected clock,
//! the cases the table of `scenarios.rs` cannot state: which incident an alarm joins after
//! another closes or after a restart, what a quiet, hushed or faulty detector does to its
//! incident's sounding devices and to persistence confirmation, when an alarm awaiting a check
//! joins an earlier one, and that acting on a hazard leaves its severity.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::engine::AlertCore;
use firegrid_alerting::incident::{Action, Class, Incident, Outcome, Severity, Verification};
use firegrid_ingest::{Kind, SiteType, SmokeValues, Status};

fn core() -> AlertCore {
    core_with(AlertingConfig::default())
}

fn events(out: &Outcome) -> Vec<String> {
    out.audit.iter().map(|a| format!("{}:{}", a.event, a.severity)).collect()
}

/// The only incident an outcome changed.
fn only(out: &Outcome) -> Incident {
    assert_eq!(out.incidents.len(), 1, "{:?}", out.incidents);
    out.incidents[0].clone()
}

/// No incident changed and no transition (rule-state rows aside).
fn quiet_outcome(out: &Outcome) -> bool {
    out.incidents.is_empty() && out.audit.is_empty()
}

fn close(core: &mut AlertCore, id: &str, at: i64) {
    core.act(id, Action::FalseAlarm, "station:ms-1", "", at).unwrap();
    assert!(core.correlator().get(id).is_none(), "{id} is closed");
}

fn quiet(d: &std::sync::Arc<firegrid_ingest::DeviceRecord>, ts: i64) -> firegrid_ingest::EnrichedReading {
    smoke(d, ts, 0.01)
}

#[test]
fn closing_the_older_incident_of_a_household_leaves_its_newer_one_joinable() {
    let (a, b) = (
        device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
        device("sd-b", Kind::Smoke, "h-1", SiteType::Residential, false),
    );
    let mut core = core();
    let older = only(&feed(&mut core, [smoke_alarm(&a, T0, Some(1))])).id;
    let newer = only(&feed(&mut core, [smoke_alarm(&b, T0 + 11 * MIN, Some(1))])).id;
    assert_ne!(older, newer, "eleven minutes apart: two incidents");
    close(&mut core, &older, T0 + 11 * MIN + S);
    let out = feed(&mut core, [smoke_alarm(&b, T0 + 12 * MIN, Some(2))]);
    assert_eq!(only(&out).id, newer);
    assert_eq!(core.correlator().get(&newer).unwrap().evidence_count, 2);
    assert_eq!(core.correlator().active().count(), 1);
}

#[test]
fn closing_one_forest_fire_leaves_the_others_joinable_by_nearby_hotspots() {
    let cams: Vec<_> =
        (1..=3).map(|i| device(&format!("fr-{i}"), Kind::ForestIr, "", SiteType::Forest, false)).collect();
    let mut core = core();
    let first = only(&feed(&mut core, [forest_at(&cams[0], T0, 29.800, 106.600)])).id;
    let second = only(&feed(&mut core, [forest_at(&cams[1], T0 + MIN, 29.845, 106.600)])).id;
    assert_ne!(first, second, "5 km apart: two forest fires");
    close(&mut core, &first, T0 + 2 * MIN);
    let out = feed(&mut core, [forest_at(&cams[2], T0 + 3 * MIN, 29.8455, 106.600)]);
    assert_eq!(only(&out).id, second, "a hotspot 50 m from the second fire joins it");
}

#[test]
fn an_alarm_that_goes_quiet_before_the_persistence_delay_is_not_confirmed() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    let id = only(&feed(&mut core, [smoke_alarm(&a, T0, Some(1))])).id;
    let out = feed(&mut core, [quiet(&a, T0 + 30 * S)]);
    assert!(only(&out).sounding_devices.is_empty());
    let tick = core.on_tick(T0 + 200 * S);
    assert!(quiet_outcome(&tick), "{tick:?}");
    assert_eq!(core.correlator().get(&id).unwrap().severity, Severity::High);
}

#[test]
fn a_fault_reading_says_nothing_about_the_alarm_so_the_detector_keeps_sounding() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    let id = only(&feed(&mut core, [smoke_alarm(&a, T0, Some(1))])).id;
    let fault = SmokeValues { obscuration_db_m: 0.0, ..Default::default() };
    feed(&mut core, [smoke_with(&a, T0 + 30 * S, Status::Fault, fault)]);
    assert_eq!(core.correlator().get(&id).unwrap().sounding_devices, ["sd-a"]);
    core.on_tick(T0 + 121 * S);
    assert_eq!(core.correlator().get(&id).unwrap().severity, Severity::Critical, "confirmed by persistence");
}

#[test]
fn closing_one_incident_leaves_another_incidents_detectors_sounding_until_they_go_quiet() {
    let (a, c) = (
        device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
        device("sd-c", Kind::Smoke, "h-2", SiteType::Residential, false),
    );
    let mut core = core();
    let closed = only(&feed(&mut core, [smoke_alarm(&a, T0, Some(1))])).id;
    let open = only(&feed(&mut core, [smoke_alarm(&c, T0 + S, Some(1))])).id;
    close(&mut core, &closed, T0 + 2 * S);
    let out = feed(&mut core, [quiet(&c, T0 + 30 * S)]);
    assert!(only(&out).sounding_devices.is_empty(), "the quiet detector stops sounding in its incident");
    assert!(quiet_outcome(&core.on_tick(T0 + 200 * S)));
    assert_eq!(core.correlator().get(&open).unwrap().severity, Severity::High);
}

#[test]
fn a_hush_without_an_alarm_silences_the_incident() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    only(&feed(&mut core, [smoke_alarm(&a, T0, Some(1))]));
    let hush = SmokeValues { obscuration_db_m: 0.0, silenced: Some(true), ..Default::default() };
    let inc = only(&feed(&mut core, [smoke_with(&a, T0 + 20 * S, Status::Normal, hush)]));
    assert!(inc.silenced && inc.sounding_devices.is_empty(), "{inc:?}");
}

#[test]
fn hushing_one_of_two_sounding_detectors_leaves_the_other_sounding() {
    let (a, b) = (
        device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
        device("sd-b", Kind::Smoke, "h-1", SiteType::Residential, false),
    );
    let mut core = core();
    feed(&mut core, [smoke_alarm(&a, T0, Some(1)), smoke_alarm(&b, T0 + S, Some(1))]);
    let hushed = SmokeValues { obscuration_db_m: 0.3, silenced: Some(true), ..Default::default() };
    let inc = only(&feed(&mut core, [smoke_with(&a, T0 + 20 * S, Status::Alarm, hushed)]));
    assert!(inc.silenced);
    assert_eq!(inc.sounding_devices, ["sd-b"]);
}

#[test]
fn a_repeat_alarm_two_minutes_after_the_first_confirms_the_fire_without_a_tick() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    let mut out = feed(&mut core, [smoke_alarm(&a, T0, Some(1)), smoke_alarm(&a, T0 + 119 * S, Some(2))]);
    assert_eq!(events(&out), ["opened:high"], "not yet at 119 s");
    out = feed(&mut core, [smoke_alarm(&a, T0 + 120 * S, Some(3))]);
    assert_eq!(events(&out), ["escalated:critical"]);
    assert!(only(&out).confirmed.is_some());
}

#[test]
fn a_fire_confirmed_by_persistence_is_left_alone_by_later_ticks() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    feed(&mut core, [smoke_alarm(&a, T0, Some(1))]);
    let confirmed = core.on_tick(T0 + 121 * S);
    assert_eq!(events(&confirmed), ["escalated:critical"]);
    let later = core.on_tick(T0 + 200 * S);
    assert!(quiet_outcome(&later), "{later:?}");
}

#[test]
fn unregistered_alarms_further_apart_than_the_household_window_are_two_unverified_incidents() {
    let ghost = device("sd-ghost", Kind::Smoke, "", SiteType::Residential, false);
    let mut core = core();
    let first = only(&feed(&mut core, [unregistered(smoke_alarm(&ghost, T0, Some(1)))])).id;
    let joined = only(&feed(&mut core, [unregistered(smoke_alarm(&ghost, T0 + 5 * MIN, Some(2)))])).id;
    assert_eq!(joined, first, "within the window: the same incident");
    let out = feed(&mut core, [unregistered(smoke_alarm(&ghost, T0 + 16 * MIN, Some(3)))]);
    assert_eq!(events(&out), ["opened:medium"], "beyond the window: a new one");
    assert_eq!(only(&out).verification, Some(Verification::UnregisteredDevice));
}

#[test]
fn acting_on_a_hazard_leaves_its_severity() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core();
    let low = SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(5.0), ..Default::default() };
    let id = only(&feed(&mut core, [smoke_with(&a, T0, Status::Normal, low)])).id;
    let out = core.act(&id, Action::Ack, "grid:g-1", "", T0 + MIN).unwrap();
    assert_eq!((only(&out).severity, out.audit[0].severity), (Severity::Low, Severity::Low));
}

#[test]
fn a_confirmed_unverified_forest_fire_is_joined_by_nearby_hotspots() {
    let (ghost, cam) = (
        device("fr-ghost", Kind::ForestIr, "", SiteType::Forest, false),
        device("fr-1", Kind::ForestIr, "", SiteType::Forest, false),
    );
    let mut core = core();
    let inc = only(&feed(&mut core, [unregistered(forest_at(&ghost, T0, 29.800, 106.600))]));
    assert_eq!((inc.class, inc.verification), (Class::ForestFire, Some(Verification::UnregisteredDevice)));
    core.act(&inc.id, Action::Confirm, "station:ft-1", "smoke seen", T0 + MIN).unwrap();
    let out = feed(&mut core, [forest_at(&cam, T0 + 2 * MIN, 29.8045, 106.600)]);
    assert_eq!(only(&out).id, inc.id, "a hotspot 500 m away joins the confirmed forest fire");
}

#[test]
fn a_core_restored_with_its_incidents_and_counters_joins_them_and_numbers_on() {
    let (a, c) = (
        device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
        device("sd-c", Kind::Smoke, "h-2", SiteType::Residential, false),
    );
    let mut first = core();
    let out = feed(&mut first, [smoke_alarm(&a, T0, Some(1)), smoke_alarm(&c, T0 + S, Some(1))]);
    let open = out.incidents[0].clone();
    let closed = only(&first.act(&out.incidents[1].id, Action::FalseAlarm, "station:ms-1", "", T0 + 2 * S).unwrap());
    let mut second = core();
    second.restore(vec![open.clone(), closed.clone()], out.counters.clone(), Vec::new());
    assert!(second.correlator().get(&closed.id).is_none(), "a closed incident is not resumed");
    let joined = only(&feed(&mut second, [smoke_alarm(&a, T0 + MIN, Some(2))]));
    assert_eq!((joined.id, joined.evidence_count), (open.id, 2));
    let d = device("sd-d", Kind::Smoke, "h-3", SiteType::Residential, false);
    assert_eq!(only(&feed(&mut second, [smoke_alarm(&d, T0 + MIN, Some(1))])).id, "INC-500112-20261129-0003");
}

#[test]
fn a_hotspot_beside_an_open_house_fire_is_a_forest_fire_of_its_own() {
    // The house fire is located (29.72, 106.63); the camera's hotspot is 11 m away.
    let (home, cam) = (
        device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false),
        device("fr-1", Kind::ForestIr, "", SiteType::Forest, false),
    );
    let mut core = core();
    let house = only(&feed(&mut core, [smoke_alarm(&home, T0, Some(1))]));
    let out = feed(&mut core, [forest_at(&cam, T0 + MIN, 29.7201, 106.63)]);
    let forest = only(&out);
    assert_ne!(forest.id, house.id, "only forest fires are joined by distance");
    assert_eq!(forest.class, Class::ForestFire);
}
