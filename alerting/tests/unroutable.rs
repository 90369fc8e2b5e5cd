//! Incidents with no recipient (DESIGN §6) through the dispatch planner with an injected clock:
//! an incident whose route finds nobody at any tier is unroutable — counted once, kept in its
//! state and the gauge — and routed again on the first tick after availability or the registry
//! changes.

mod dispatch_fixture;

use dispatch_fixture::{incident, registry_from, GRIDS, STATIONS};
use firegrid_alerting::dispatch::DispatchMetrics;
use firegrid_alerting::dispatch::DispatchPlanner;
use firegrid_alerting::dispatch::DispatchSettings;
use firegrid_alerting::dispatch::Escalation;
use firegrid_alerting::dispatch::{Availability, StationStatus};
use firegrid_alerting::engine::{DispatchPlan, Dispatcher};
use firegrid_alerting::incident::{Action, Channel, Class, Event, Incident, Severity};
use firegrid_ingest::SharedRegistry;

const T0: i64 = 1_795_935_417_000;

/// The fixture's stations, every one of them off duty in the registry.
fn all_off_duty() -> String {
    STATIONS.replace(",true,", ",false,")
}

/// A high fire in 五星路社区 with no grid manager.
fn gridless_fire() -> Incident {
    incident(Class::Fire, Severity::High, "500112002", "500112002001", "", Some((29.7210, 106.6310)))
}

fn planner(reg: &SharedRegistry) -> (DispatchPlanner, Availability, DispatchMetrics) {
    let avail = Availability::default();
    let metrics = DispatchMetrics::unregistered().expect("metrics");
    let d = DispatchPlanner::new(reg.clone(), avail.clone(), DispatchSettings::default()).with_metrics(metrics.clone());
    (d, avail, metrics)
}

fn open(d: &mut DispatchPlanner, inc: &Incident, at: i64) -> DispatchPlan {
    d.plan(&inc.audit(Event::Opened, None, "engine", "", at), inc, at)
}

fn counted(m: &DispatchMetrics, class: &str) -> (u64, i64) {
    (m.unroutable_total.with_label_values(&[class]).get(), m.unroutable.with_label_values(&[class]).get())
}

/// `(target, role)` of the MQTT rows of a plan.
fn mqtt(p: &DispatchPlan) -> Vec<(String, String)> {
    p.outbox
        .iter()
        .filter(|o| o.channel == Channel::Mqtt)
        .map(|o| (o.recipient.target(), o.role.as_str().to_owned()))
        .collect()
}

#[test]
fn an_incident_with_no_recipient_is_counted_once_and_routed_when_a_station_becomes_available() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry_from(dir.path(), &all_off_duty(), GRIDS);
    let (mut d, avail, metrics) = planner(&reg);
    let inc = gridless_fire();

    let plan = open(&mut d, &inc, T0);
    assert!(plan.outbox.is_empty() && plan.stations.is_empty(), "nobody to notify: {plan:?}");
    let state: Escalation =
        serde_json::from_str(plan.state.as_deref().expect("the state is persisted")).expect("state");
    assert_eq!(state.unroutable_since_ms, Some(T0), "the store keeps it, for the banner and a restart");
    assert_eq!(d.unroutable(), vec![(inc.id.clone(), T0)]);
    assert_eq!(counted(&metrics, "fire"), (1, 1));

    // The first tick tries again (nothing changed since the routing, so nothing comes of it); later ticks wait.
    assert!(d.tick(T0 + 1_000).is_empty());
    assert!(d.tick(T0 + 2_000).is_empty());
    // A severity rise routes again and still finds nobody: counted once.
    let mut worse = inc.clone();
    worse.severity = Severity::Critical;
    let again = d.plan(&worse.audit(Event::Escalated, None, "engine", "", T0 + 2_500), &worse, T0 + 2_500);
    assert!(again.outbox.is_empty());
    assert_eq!(counted(&metrics, "fire"), (1, 1));

    avail.set("ms-500112002001", StationStatus::Available);
    let plans = d.tick(T0 + 3_000);
    assert_eq!(plans.len(), 1, "{plans:?}");
    let (id, p) = &plans[0];
    assert_eq!(id, &inc.id);
    assert_eq!(mqtt(p), vec![("ms-500112002001".to_owned(), "respond".to_owned())]);
    assert_eq!(p.stations, vec!["ms-500112002001"], "the station may now act on the incident");
    assert!(p.outbox.iter().all(|o| o.idempotency_key.contains(":respond:1/")), "the first round: seq 1");
    assert!(d.unroutable().is_empty());
    assert_eq!(counted(&metrics, "fire"), (1, 0));
    assert!(d.tick(T0 + 4_000).is_empty(), "routed once");
}

#[test]
fn a_registry_reload_that_adds_a_station_routes_an_unroutable_incident() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry_from(dir.path(), &all_off_duty(), GRIDS);
    let (mut d, _, metrics) = planner(&reg);
    let inc = gridless_fire();
    open(&mut d, &inc, T0);
    assert!(d.tick(T0 + 1_000).is_empty());

    let added = format!(
        "{}ms-500112002009,新增社区微型消防站,micro,500112,500112002,500112002001,29.7208,106.6305,,true,\n",
        all_off_duty()
    );
    std::fs::write(dir.path().join("stations.csv"), added).expect("stations.csv");
    reg.reload().expect("the registry reloads");
    let plans = d.tick(T0 + 2_000);
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(mqtt(&plans[0].1), vec![("ms-500112002009".to_owned(), "respond".to_owned())]);
    assert_eq!(counted(&metrics, "fire"), (1, 0));
}

#[test]
fn an_unroutable_incident_that_closes_leaves_the_gauge_and_is_not_routed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry_from(dir.path(), &all_off_duty(), GRIDS);
    let (mut d, avail, metrics) = planner(&reg);
    let mut inc = gridless_fire();
    open(&mut d, &inc, T0);
    let audit = inc.apply(Action::FalseAlarm, "dispatcher:duty", "", T0 + 500).expect("legal");
    d.plan(&audit, &inc, T0 + 500);
    assert_eq!(counted(&metrics, "fire"), (1, 0));
    avail.set("ms-500112002001", StationStatus::Available);
    assert!(d.tick(T0 + 1_000).is_empty());
}

#[test]
fn a_notified_incident_whose_severity_rises_with_nobody_new_to_tell_is_not_unroutable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = registry_from(dir.path(), STATIONS, GRIDS);
    let (mut d, avail, metrics) = planner(&reg);
    let inc = gridless_fire();
    assert!(!open(&mut d, &inc, T0).outbox.is_empty());
    for s in reg.snapshot().stations() {
        avail.set(&s.station_id, StationStatus::Busy);
    }
    let mut worse = inc.clone();
    worse.severity = Severity::Critical;
    let p = d.plan(&worse.audit(Event::Escalated, None, "engine", "", T0 + 1_000), &worse, T0 + 1_000);
    assert!(p.outbox.is_empty());
    assert!(d.unroutable().is_empty());
    assert_eq!(counted(&metrics, "fire"), (0, 0));
}
