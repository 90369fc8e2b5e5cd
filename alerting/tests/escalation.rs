//! Escalation timers with an injected clock (DESIGN §6), through the dispatch planner: every
//! plan and tick takes `now_ms`, so time is whatever the test says.

mod dispatch_fixture;

use dispatch_fixture::{registry, wuxinglu_fire};
use firegrid_alerting::detect::Hazard;
use firegrid_alerting::dispatch::DispatchPlanner;
use firegrid_alerting::dispatch::{Availability, StationStatus};
use firegrid_alerting::dispatch::{DispatchConfig, DispatchSettings};
use firegrid_alerting::engine::{DispatchPlan, Dispatcher};
use firegrid_alerting::incident::{Action, Channel, Class, Event, Incident, IncidentSignal, Severity};

const T0: i64 = 1_795_935_417_000;

fn planner(dir: &std::path::Path) -> (DispatchPlanner, Availability) {
    let avail = Availability::default();
    (DispatchPlanner::new(registry(dir), avail.clone(), DispatchSettings::default()), avail)
}

/// Opens `inc` at `at` and returns the plan.
fn open(d: &mut DispatchPlanner, inc: &Incident, at: i64) -> DispatchPlan {
    let audit = inc.audit(Event::Opened, None, "engine", "", at);
    d.plan(&audit, inc, at)
}

fn act(d: &mut DispatchPlanner, inc: &mut Incident, action: Action, at: i64) -> DispatchPlan {
    let audit = inc.apply(action, "station:x", "", at).expect("legal transition");
    d.plan(&audit, inc, at)
}

/// `(target, role, seq)` of the MQTT rows of plans.
fn sent(plans: &[(String, DispatchPlan)]) -> Vec<(String, String, String)> {
    plans
        .iter()
        .flat_map(|(_, p)| p.outbox.iter())
        .filter(|o| o.channel == Channel::Mqtt)
        .map(|o| {
            let seq = o.idempotency_key.trim_end_matches("/mqtt").rsplit(':').next().unwrap_or("").to_owned();
            (o.recipient.target(), o.role.as_str().to_owned(), seq)
        })
        .collect()
}

fn one(target: &str, role: &str, seq: u32) -> Vec<(String, String, String)> {
    vec![(target.to_owned(), role.to_owned(), seq.to_string())]
}

#[test]
fn an_unacknowledged_respond_goes_to_the_next_station_of_the_tier_after_sixty_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let inc = wuxinglu_fire();
    let first = open(&mut d, &inc, T0);
    assert_eq!(sent(&[(inc.id.clone(), first)])[0], ("ms-500112002001".into(), "respond".into(), "1".into()));
    assert!(d.tick(T0 + 59_999).is_empty(), "not before the deadline");
    let next = d.tick(T0 + 60_000);
    assert_eq!(sent(&next), one("ms-500112002002", "respond", 2));
    assert_eq!(next[0].1.stations, vec!["ms-500112002002"], "the new station may act on the incident");
    assert!(d.tick(T0 + 60_001).is_empty(), "the slot is re-armed, not fired again");
}

#[test]
fn when_the_tier_has_no_one_left_the_respond_climbs_to_the_township_team_then_the_district() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, avail) = planner(dir.path());
    for s in ["ms-500112002002", "ms-500112129001", "ms-500112131001"] {
        avail.set(s, StationStatus::OffDuty);
    }
    let inc = wuxinglu_fire();
    open(&mut d, &inc, T0);
    assert_eq!(sent(&d.tick(T0 + 60_000)), one("tt-500112002", "respond", 2));
    avail.set("tt-500112129", StationStatus::Busy);
    avail.set("tt-500112133", StationStatus::Busy);
    assert_eq!(sent(&d.tick(T0 + 120_000)), one("ds-500112", "respond", 3));
    let last = d.tick(T0 + 180_000);
    assert!(sent(&last).is_empty(), "nobody is left: the slot is dropped, not retried forever");
    assert!(d.tick(T0 + 240_000).is_empty());
}

#[test]
fn an_acknowledgement_just_before_the_deadline_prevents_the_escalation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let mut inc = wuxinglu_fire();
    open(&mut d, &inc, T0);
    act(&mut d, &mut inc, Action::Dispatched, T0);
    let p = act(&mut d, &mut inc, Action::Ack, T0 + 59_999);
    assert!(p.outbox.is_empty() && p.state.is_some(), "the acknowledgement is persisted with the timer state");
    assert!(d.tick(T0 + 60_000).is_empty());
    assert!(d.tick(T0 + 61_000).is_empty());
}

#[test]
fn acknowledged_but_not_on_scene_in_three_minutes_brings_in_the_township_team() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let mut inc = wuxinglu_fire();
    open(&mut d, &inc, T0);
    act(&mut d, &mut inc, Action::Ack, T0 + 30_000);
    assert!(d.tick(T0 + 30_000 + 179_999).is_empty());
    assert_eq!(sent(&d.tick(T0 + 30_000 + 180_000)), one("tt-500112002", "respond", 2));
    assert!(d.tick(T0 + 1_000_000).is_empty(), "once");
}

#[test]
fn on_scene_in_time_means_no_township_team() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let mut inc = wuxinglu_fire();
    open(&mut d, &inc, T0);
    act(&mut d, &mut inc, Action::Ack, T0 + 10_000);
    act(&mut d, &mut inc, Action::OnScene, T0 + 100_000);
    assert!(d.tick(T0 + 1_000_000).is_empty());
}

#[test]
fn a_hazard_unacknowledged_for_a_day_goes_to_the_township_team() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let mut inc = wuxinglu_fire();
    inc.class = Class::Hazard;
    inc.severity = Severity::Medium;
    inc.signals = vec![IncidentSignal::Hazard(Hazard::Fault)];
    open(&mut d, &inc, T0);
    assert!(d.tick(T0 + 86_399_999).is_empty());
    assert_eq!(sent(&d.tick(T0 + 86_400_000)), one("tt-500112002", "rectify", 2));
    assert!(d.tick(T0 + 3 * 86_400_000).is_empty(), "once");
}

#[test]
fn a_severity_rise_renotifies_everyone_in_a_new_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut d, _) = planner(dir.path());
    let mut inc = wuxinglu_fire();
    open(&mut d, &inc, T0);
    let p = act(&mut d, &mut inc, Action::Confirm, T0 + 5_000);
    let got = sent(&[(inc.id.clone(), p)]);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|(_, _, seq)| seq == "2"));
    assert!(got.contains(&("ds-500112".into(), "forward_119".into(), "2".into())));
}

/// The fixture's stations and `n` more micro stations of 双龙湖街道, all within 2 km of 五星路社区.
fn crowded_stations(n: usize) -> String {
    let mut stations = dispatch_fixture::STATIONS.to_owned();
    for i in 0..n {
        let (lat, lon) = (29.7210 + 0.0005 * i as f64, 106.6310 + 0.0003 * i as f64);
        stations.push_str(&format!(
            "ms-extra-{i:02},微型消防站{i},micro,500112,500112002,500112002{:03},{lat:.4},{lon:.4},,true,\n",
            100 + i
        ));
    }
    stations
}

/// The tier of a fixture station, by its id's prefix.
fn tier_of(station: &str) -> &'static str {
    match station.split('-').next() {
        Some("ms") => "micro",
        Some("tt") => "township_team",
        Some("ds") => "district",
        _ => "other",
    }
}

#[test]
fn an_unanswered_fire_climbs_to_the_township_team_and_the_district_and_then_stops_paging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dispatch_fixture::registry_from(dir.path(), &crowded_stations(30), dispatch_fixture::GRIDS);
    let settings = DispatchConfig::default().validate().expect("defaults");
    let mut d = DispatchPlanner::new(reg, Availability::default(), settings);
    let inc = wuxinglu_fire();
    let first = open(&mut d, &inc, T0);
    let mut rows = first.outbox.len();
    let mut paged = Vec::new();
    // Three hours of ticks, one a minute, nobody acknowledging.
    for minute in 1..=180 {
        let plans = d.tick(T0 + minute * 60_000);
        rows += plans.iter().map(|(_, p)| p.outbox.len()).sum::<usize>();
        paged.extend(sent(&plans).into_iter().map(|(target, _, _)| (minute, target)));
    }
    let tiers: Vec<(i64, &str)> = paged.iter().map(|(m, s)| (*m, tier_of(s))).collect();
    // Two more of the 32 micro stations in range (the default), then the township teams within
    // 15 km (统景镇's is 30 km away), then the district station; one a minute.
    assert_eq!(
        tiers,
        [(1, "micro"), (2, "micro"), (3, "township_team"), (4, "township_team"), (5, "district")],
        "{paged:?}"
    );
    assert_eq!(paged[2].1, "tt-500112002", "the nearest township team first");
    assert!(d.state(&inc.id).expect("state").slots.is_empty(), "the slot is dropped: nothing is due any more");
    // The first round (micro station and grid manager, MQTT and SSE each) and five escalations.
    assert_eq!(rows, first.outbox.len() + 5 * 2, "outbox rows stop growing");

    let none = DispatchConfig { max_escalations: 0, ..DispatchConfig::default() }.validate().expect("valid");
    let reg = dispatch_fixture::registry_from(dir.path(), &crowded_stations(30), dispatch_fixture::GRIDS);
    let mut d = DispatchPlanner::new(reg, Availability::default(), none);
    open(&mut d, &inc, T0);
    assert_eq!(sent(&d.tick(T0 + 60_000)), one("tt-500112002", "respond", 2), "0: straight to the tier above");
}
