//! The routing table of DESIGN §6 over a registry of real Chongqing divisions (渝北区).

mod dispatch_fixture;

use std::collections::HashMap;

use dispatch_fixture::{incident, registry, registry_from, wuxinglu_fire, GRIDS, STATIONS};
use firegrid_alerting::detect::{Hazard, Signal};
use firegrid_alerting::dispatch::StationStatus;
use firegrid_alerting::dispatch::{Route, StationPicker};
use firegrid_alerting::incident::{Class, Incident, IncidentSignal, Severity, Verification};
use firegrid_ingest::geo::distance_m;

fn route_with(inc: &Incident, busy: &[&str]) -> Vec<(String, String)> {
    route_in(STATIONS, inc, busy)
}

/// The routes of `inc` over the fixture's grids and the stations file `stations`, `busy` ones busy.
fn route_in(stations: &str, inc: &Incident, busy: &[&str]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry_from(dir.path(), stations, GRIDS).snapshot();
    let avail: HashMap<String, StationStatus> = busy.iter().map(|s| ((*s).to_owned(), StationStatus::Busy)).collect();
    let picker = StationPicker { registry: &reg, availability: &avail, max_distance_km: 15.0 };
    picker.route(inc).into_iter().map(|r: Route| (r.recipient.target(), r.role.as_str().to_owned())).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[test]
fn a_fire_in_a_covered_community_goes_to_its_micro_station_and_grid_manager() {
    assert_eq!(
        route_with(&wuxinglu_fire(), &[]),
        pairs(&[("ms-500112002001", "respond"), ("grid:500112002001-g1", "verify")])
    );
}

#[test]
fn an_uncovered_village_gets_the_nearest_micro_station_across_the_township_boundary() {
    // 环山村 of 玉峰山镇: its township's only micro station covers 石坪社区 alone; 迎龙社区's, in 龙兴镇, is nearer.
    let inc =
        incident(Class::Fire, Severity::High, "500112129", "500112129203", "500112129203-g1", Some((29.690, 106.780)));
    assert!(distance_m(29.690, 106.780, 29.69, 106.79) < distance_m(29.690, 106.780, 29.70, 106.745));
    assert_eq!(route_with(&inc, &[]), pairs(&[("ms-500112131001", "respond"), ("grid:500112129203-g1", "verify")]));
}

#[test]
fn a_busy_covering_station_is_skipped_for_the_nearest_available_one() {
    assert_eq!(
        route_with(&wuxinglu_fire(), &["ms-500112002001"]),
        pairs(&[("ms-500112002002", "respond"), ("grid:500112002001-g1", "verify")])
    );
}

#[test]
fn with_no_micro_station_within_range_the_township_team_responds() {
    // A village of 统景镇, some 30 km from the nearest micro station.
    let inc = incident(Class::Fire, Severity::High, "500112133", "500112133201", "", Some((29.900, 106.900)));
    assert_eq!(route_with(&inc, &[]), pairs(&[("tt-500112133", "respond")]));
}

#[test]
fn a_critical_fire_in_a_vulnerable_home_brings_micro_township_team_and_district() {
    let mut inc = wuxinglu_fire();
    inc.severity = Severity::Critical;
    inc.vulnerable = true;
    assert_eq!(
        route_with(&inc, &[]),
        pairs(&[
            ("ms-500112002001", "respond"),
            ("grid:500112002001-g1", "verify"),
            ("tt-500112002", "respond"),
            ("ds-500112", "forward_119"),
        ])
    );
}

#[test]
fn a_forest_fire_goes_to_the_forest_team_the_township_team_and_the_district() {
    let mut inc = incident(Class::ForestFire, Severity::Critical, "500112133", "", "", Some((29.895, 106.905)));
    inc.signals = vec![IncidentSignal::Alarm(Signal::Hotspot)];
    assert_eq!(
        route_with(&inc, &[]),
        pairs(&[("ft-500112133", "respond"), ("tt-500112133", "respond"), ("ds-500112", "forward_119")])
    );
}

#[test]
fn an_electrical_fire_is_routed_as_a_fire_and_the_grid_manager_also_rectifies() {
    let mut inc = wuxinglu_fire();
    inc.class = Class::ElectricalFire;
    assert_eq!(
        route_with(&inc, &[]),
        pairs(&[
            ("ms-500112002001", "respond"),
            ("grid:500112002001-g1", "verify"),
            ("grid:500112002001-g1", "rectify")
        ])
    );
}

#[test]
fn a_hazard_stays_in_the_grid() {
    let mut inc = wuxinglu_fire();
    inc.class = Class::Hazard;
    inc.severity = Severity::Medium;
    inc.signals = vec![IncidentSignal::Hazard(Hazard::BatteryLow)];
    assert_eq!(route_with(&inc, &[]), pairs(&[("grid:500112002001-g1", "rectify")]));
}

#[test]
fn an_unregistered_device_routes_by_its_topic_township() {
    // Known only by the topic: county 500112, township 玉峰山镇; no community, grid or coordinates.
    let inc = incident(Class::Fire, Severity::High, "500112129", "", "", None);
    assert_eq!(route_with(&inc, &[]), pairs(&[("ms-500112129001", "respond")]));
    let mut critical = inc.clone();
    critical.severity = Severity::Critical;
    assert_eq!(
        route_with(&critical, &[]),
        pairs(&[("ms-500112129001", "respond"), ("tt-500112129", "respond"), ("ds-500112", "forward_119")])
    );
}

#[test]
fn unavailable_stations_are_skipped_all_the_way_up_the_tiers() {
    let inc = wuxinglu_fire();
    let all_micro = ["ms-500112002001", "ms-500112002002", "ms-500112129001", "ms-500112131001"];
    assert_eq!(route_with(&inc, &all_micro), pairs(&[("tt-500112002", "respond"), ("grid:500112002001-g1", "verify")]));
}

#[test]
fn a_critical_fire_with_no_township_team_in_range_has_the_district_station_respond() {
    // Every township team off duty: the critical fire's second responder comes from the tier above.
    let mut inc = wuxinglu_fire();
    inc.severity = Severity::Critical;
    let teams = ["tt-500112002", "tt-500112129", "tt-500112133"];
    assert_eq!(
        route_with(&inc, &teams),
        pairs(&[
            ("ms-500112002001", "respond"),
            ("grid:500112002001-g1", "verify"),
            ("ds-500112", "respond"),
            ("ds-500112", "forward_119"),
        ])
    );
}

#[test]
fn a_forest_fire_with_no_forest_team_available_goes_up_to_the_district_station() {
    let mut inc = incident(Class::ForestFire, Severity::Critical, "500112133", "", "", Some((29.895, 106.905)));
    inc.signals = vec![IncidentSignal::Alarm(Signal::Hotspot)];
    assert_eq!(
        route_with(&inc, &["ft-500112133"]),
        pairs(&[("ds-500112", "respond"), ("tt-500112133", "respond"), ("ds-500112", "forward_119")])
    );
}

#[test]
fn with_no_micro_station_and_no_township_team_in_range_a_fire_goes_to_the_district_station() {
    // A village of 统景镇 with its township team off duty: micro → township_team → district.
    let inc = incident(Class::Fire, Severity::High, "500112133", "500112133201", "", Some((29.900, 106.900)));
    assert_eq!(route_with(&inc, &["tt-500112133"]), pairs(&[("ds-500112", "respond")]));
}

#[test]
fn with_nothing_available_at_any_tier_and_no_grid_a_fire_has_no_recipient() {
    let inc = incident(Class::Fire, Severity::Critical, "500112133", "500112133201", "", Some((29.900, 106.900)));
    let dir = tempfile::tempdir().expect("tempdir");
    let everyone: Vec<String> =
        registry(dir.path()).snapshot().stations().iter().map(|s| s.station_id.clone()).collect();
    let everyone: Vec<&str> = everyone.iter().map(String::as_str).collect();
    assert_eq!(route_with(&inc, &everyone), pairs(&[]));
    // With a grid manager the incident still has a recipient.
    let mut with_grid = inc.clone();
    with_grid.grid_id = "500112129203-g1".into();
    assert_eq!(route_with(&with_grid, &everyone), pairs(&[("grid:500112129203-g1", "verify")]));
}

#[test]
fn an_unregistered_devices_alarm_goes_only_to_its_topic_townships_team_as_verify() {
    let mut inc = incident(Class::Fire, Severity::Medium, "500112129", "", "", None);
    inc.verification = Some(Verification::UnregisteredDevice);
    assert_eq!(route_with(&inc, &[]), pairs(&[("tt-500112129", "verify")]));
    // Its team busy: the nearest available township team checks instead; still verify only.
    assert_eq!(route_with(&inc, &["tt-500112129"]), pairs(&[("tt-500112002", "verify")]));
    let mut forest = incident(Class::ForestFire, Severity::Medium, "500112133", "", "", Some((29.895, 106.905)));
    forest.verification = Some(Verification::UnregisteredDevice);
    assert_eq!(route_with(&forest, &[]), pairs(&[("tt-500112133", "verify")]));
}

#[test]
fn a_late_alarm_goes_only_to_the_grid_manager_as_verify_else_the_township_team() {
    let mut inc = wuxinglu_fire();
    inc.severity = Severity::Medium;
    inc.vulnerable = true;
    inc.verification = Some(Verification::LateAlarm);
    assert_eq!(route_with(&inc, &[]), pairs(&[("grid:500112002001-g1", "verify")]));
    inc.grid_id.clear();
    assert_eq!(route_with(&inc, &[]), pairs(&[("tt-500112002", "verify")]));
}

#[test]
fn a_station_covering_the_community_is_chosen_over_a_nearer_one_that_does_not() {
    // A fire in 五星路社区 a few metres from 龙昌街社区's micro station: 五星路's own station covers
    // the community and is taken although it is farther.
    let inc = incident(
        Class::Fire,
        Severity::High,
        "500112002",
        "500112002001",
        "500112002001-g1",
        Some((29.7231, 106.6351)),
    );
    let (covering, nearer) = ((29.7205, 106.6302), (29.7230, 106.6350));
    assert!(distance_m(29.7231, 106.6351, nearer.0, nearer.1) < distance_m(29.7231, 106.6351, covering.0, covering.1));
    assert_eq!(route_with(&inc, &[]), pairs(&[("ms-500112002001", "respond"), ("grid:500112002001-g1", "verify")]));
}

#[test]
fn a_forest_fire_with_the_district_station_already_responding_brings_another_district_station_not_the_same_twice() {
    // Forest team and every township team off duty: the forest slot climbs to 渝北区's district
    // station; the township-team slot, climbing too, must take a different one (江北区's).
    let stations = format!("{STATIONS}ds-500105,江北区消防救援站,district,500105,,,29.6066,106.5663,,true,\n");
    let mut inc = incident(Class::ForestFire, Severity::Critical, "500112133", "", "", Some((29.895, 106.905)));
    inc.signals = vec![IncidentSignal::Alarm(Signal::Hotspot)];
    let off = ["ft-500112133", "tt-500112002", "tt-500112129", "tt-500112133"];
    assert_eq!(
        route_in(&stations, &inc, &off),
        pairs(&[("ds-500112", "respond"), ("ds-500105", "respond"), ("ds-500112", "forward_119")])
    );
}
