//! Trust in what arrives (DESIGN §5): redeliveries are the same device, seq, ts and content, so
//! replays cannot suppress an alarm; devices missing from the registry cannot raise the alarm
//! alone and cannot grow memory; an alarm older than the age limit is a late alarm to verify,
//! not a live fire; and only rule state that is not the default becomes a `rule_state` row.
//! All through the pure [`AlertCore`] with an injected clock.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use firegrid_alerting::config::{AlertingConfig, UnregisteredPolicy};
use firegrid_alerting::incident::CorrelateError;
use firegrid_alerting::incident::{Action, Class, Event, Severity, Status as IStatus, TransitionError, Verification};
use firegrid_ingest::{EnrichedReading, Kind, SiteType, SmokeValues, Status, Values};

const DAY: i64 = 86_400 * S;

fn normal(d: &Arc<firegrid_ingest::DeviceRecord>, ts: i64, seq: u64) -> EnrichedReading {
    let v = Values::Smoke(SmokeValues { obscuration_db_m: 0.01, battery_pct: Some(90.0), ..Default::default() });
    reading(d, ts, Some(seq), Status::Normal, v)
}

#[test]
fn sixteen_normal_readings_carrying_upcoming_seqs_do_not_suppress_the_real_alarm() {
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    feed(&mut core, (1..=100).map(|seq| normal(&d, T0 - 1000 * S + seq as i64 * S, seq)));
    // Someone publishes the device's next 16 counters with normal values, one even with the
    // very ts the real alarm will carry.
    let mut replays: Vec<_> = (101..=116).map(|seq| normal(&d, T0 + seq as i64, seq)).collect();
    replays.push(normal(&d, T0 + 30 * S, 101));
    feed(&mut core, replays);
    let out = feed(&mut core, [smoke_alarm(&d, T0 + 30 * S, Some(101))]);
    let opened: Vec<_> = out.audit.iter().map(|a| a.event).collect();
    assert_eq!(opened, [Event::Opened], "the real alarm opens a fire");
    assert_eq!(core.duplicates(), 1, "only the identical replay of seq 101 was a duplicate");
}

#[test]
fn the_brokers_redelivery_of_an_alarm_is_still_a_duplicate_with_or_without_ts() {
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    let alarm = smoke_alarm(&d, T0, Some(7));
    feed(&mut core, [alarm.clone(), received_at(alarm, T0 + 9 * S)]);
    assert_eq!(core.duplicates(), 1, "same seq, ts and content");
    // Without ts the reading carries its receive time, which differs on redelivery.
    let no_ts = smoke_alarm(&d, T0 + MIN, Some(8));
    let mut again = no_ts.clone();
    again.reading.ts_ms = T0 + MIN + 2 * S;
    again.reading.received_at_ms = T0 + MIN + 2 * S;
    let out = feed(&mut core, [no_ts, again]);
    assert_eq!(core.duplicates(), 2, "same seq and content within minutes of receipt");
    assert_eq!(out.evidence.len(), 1);
}

#[test]
fn an_unregistered_alarm_opens_one_unverified_medium_incident_and_no_hazard() {
    let ghost = device("sd-ghost", Kind::Smoke, "", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    let fault = SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(3.0), tamper: Some(true), ..Default::default() };
    let mut out = feed(&mut core, [unregistered(smoke_with(&ghost, T0, Status::Fault, fault))]);
    assert!(out.audit.is_empty(), "no hazard from an unregistered device: {:?}", out.audit);
    for i in 0..20 {
        out.merge(feed(&mut core, [unregistered(smoke_alarm(&ghost, T0 + (i + 1) * 10 * S, Some(i as u64)))]));
        out.merge(core.on_tick(T0 + (i + 1) * 10 * S));
    }
    let events: Vec<_> = out.audit.iter().map(|a| format!("{}:{}", a.event, a.severity)).collect();
    assert_eq!(events, ["opened:medium"], "no persistence confirmation, no escalation");
    let inc = core.correlator().active().next().unwrap();
    assert_eq!((inc.class, inc.severity), (Class::Fire, Severity::Medium));
    assert_eq!(inc.verification, Some(Verification::UnregisteredDevice));
    assert_eq!(inc.township, "500112002", "located by its topic");
    assert_eq!(core.offline_count(), 0);
}

#[test]
fn under_store_only_an_unregistered_device_raises_nothing_and_keeps_no_state() {
    let config = AlertingConfig { unregistered: UnregisteredPolicy::StoreOnly, ..AlertingConfig::default() };
    let mut core = core_with(config);
    let ghost = device("sd-ghost", Kind::Smoke, "", SiteType::Residential, false);
    let out = feed(&mut core, (0..5).map(|i| unregistered(smoke_alarm(&ghost, T0 + i * S, Some(i as u64)))));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(core.correlator().active().count(), 0);
    assert_eq!(core.detector().held(), (0, 0));
}

#[test]
fn unregistered_forest_cameras_are_never_watched_for_silence() {
    let mut core = core_with(AlertingConfig::default());
    let cams: Vec<_> =
        (0..200).map(|i| device(&format!("fr-x{i}"), Kind::ForestIr, "", SiteType::Forest, false)).collect();
    feed(&mut core, cams.iter().map(|c| unregistered(forest(c, T0, 20.0, 0, None))));
    let mut out = core.on_tick(T0 + DAY);
    out.merge(core.on_tick(T0 + 2 * DAY));
    assert!(out.audit.is_empty(), "no offline hazard: {} transitions", out.audit.len());
    assert_eq!(core.offline_count(), 0);
}

#[test]
fn a_flood_of_made_up_ids_keeps_per_device_state_bounded() {
    let config = AlertingConfig { unregistered_max_devices: 1000, ..AlertingConfig::default() };
    let mut core = core_with(config);
    for i in 0..100_000i64 {
        let d = device(&format!("sd-x{i}"), Kind::Smoke, "", SiteType::Residential, false);
        core.on_reading(&unregistered(smoke(&d, T0 + i, 0.3)), T0 + i);
        assert!(core.detector().held().1 <= 1000);
    }
}

#[test]
fn open_unverified_incidents_are_capped_and_further_unregistered_alarms_counted() {
    let config = AlertingConfig { unregistered_max_open_incidents: 3, ..AlertingConfig::default() };
    let mut core = core_with(config);
    let ghosts: Vec<_> =
        (0..5).map(|i| device(&format!("sd-g{i}"), Kind::Smoke, "", SiteType::Residential, false)).collect();
    feed(&mut core, ghosts.iter().map(|g| unregistered(smoke_alarm(g, T0, Some(1)))));
    assert_eq!(core.correlator().active().count(), 3);
    assert_eq!(core.unregistered_suppressed(), 2);
    // A registered device's fire is not affected by the limit.
    let real = device("sd-real", Kind::Smoke, "h-1", SiteType::Residential, false);
    let out = feed(&mut core, [smoke_alarm(&real, T0 + S, Some(1))]);
    assert_eq!(out.audit.iter().map(|a| format!("{}:{}", a.event, a.severity)).collect::<Vec<_>>(), ["opened:high"]);
}

#[test]
fn a_two_day_old_alarm_is_a_late_record_and_a_fresh_one_of_the_household_opens_a_live_fire() {
    let a = device("sd-a", Kind::Smoke, "h-9", SiteType::Residential, true);
    let b = device("sd-b", Kind::Smoke, "h-9", SiteType::Residential, true);
    let mut core = core_with(AlertingConfig::default());
    let out = feed(
        &mut core,
        [
            received_at(smoke_alarm(&a, T0 - 2 * DAY, Some(1)), T0),
            received_at(smoke_alarm(&b, T0 - 2 * DAY + 5 * S, Some(1)), T0 + S),
        ],
    );
    let events: Vec<_> = out.audit.iter().map(|x| format!("{}:{}", x.event, x.severity)).collect();
    assert_eq!(events, ["opened:medium"], "two late alarms of a vulnerable home: one medium record");
    let late = core.correlator().active().next().unwrap().clone();
    assert_eq!(late.verification, Some(Verification::LateAlarm));
    assert!(late.sounding_devices.is_empty(), "old readings do not say the detectors sound now");
    let out = feed(&mut core, [smoke_alarm(&a, T0 + 10 * S, Some(2))]);
    let events: Vec<_> = out.audit.iter().map(|x| format!("{}:{}", x.event, x.severity)).collect();
    assert_eq!(events, ["opened:critical"], "the fresh alarm is a live fire of its own");
    let live = out.incidents[0].clone();
    assert_ne!(live.id, late.id);
    assert_eq!(live.verification, None);
    // Late readings keep joining the late record, never the live fire.
    let out = feed(&mut core, [received_at(smoke_alarm(&b, T0 - DAY, Some(9)), T0 + 20 * S)]);
    let joined: Vec<&str> = out.incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(joined, [late.id.as_str()]);
    let mut tick = core.on_tick(T0 + 10 * MIN);
    tick.merge(core.on_tick(T0 + 20 * MIN));
    assert!(tick.audit.iter().all(|x| x.incident_id != late.id), "no timer escalates the late record");
}

#[test]
fn an_alarm_just_within_the_age_limit_is_live() {
    let a = device("sd-a", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    let out = feed(&mut core, [received_at(smoke_alarm(&a, T0, Some(1)), T0 + 300 * S)]);
    assert_eq!(out.incidents[0].verification, None);
    assert_eq!(out.incidents[0].severity, Severity::High);
}

#[test]
fn a_confirmed_unverified_incident_becomes_a_live_fire_with_the_usual_severity() {
    let old_home = device("sd-v", Kind::Smoke, "h-9", SiteType::Residential, true);
    let ghost = device("sd-ghost", Kind::Smoke, "", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    feed(
        &mut core,
        [received_at(smoke_alarm(&old_home, T0 - DAY, Some(1)), T0), unregistered(smoke_alarm(&ghost, T0, Some(1)))],
    );
    let ids: Vec<(String, Option<Verification>)> =
        core.correlator().active().map(|i| (i.id.clone(), i.verification)).collect();
    for (id, v) in ids {
        core.act(&id, Action::Ack, "station:tt-1", "going to look", T0 + MIN).unwrap();
        let err = core.act(&id, Action::OnScene, "station:tt-1", "", T0 + MIN).unwrap_err();
        assert!(matches!(err, CorrelateError::Transition(TransitionError::AwaitsVerification { .. })), "{err}");
        let out = core.act(&id, Action::Confirm, "station:tt-1", "", T0 + 2 * MIN).unwrap();
        let inc = &out.incidents[0];
        let want = if v == Some(Verification::LateAlarm) { Severity::Critical } else { Severity::High };
        assert_eq!((inc.verification, inc.status, inc.severity), (None, IStatus::Open, want), "{v:?}");
        assert_eq!(out.audit[0].event, Event::Escalated, "a rise: the responders are told in a new round");
        assert_eq!(out.audit[0].severity, want);
        assert_eq!(out.audit[0].from_status, Some(IStatus::Acknowledged));
        core.act(&id, Action::Ack, "station:ms-1", "", T0 + 3 * MIN).unwrap();
    }
}

#[test]
fn only_devices_whose_rule_state_is_not_the_default_have_rule_state_rows() {
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut core = core_with(AlertingConfig::default());
    let out = feed(&mut core, (1..=1000).map(|seq| normal(&d, T0 + seq as i64 * S, seq)));
    assert!(out.rule_state.is_empty(), "normal readings cost no row");
    let out = feed(&mut core, [smoke(&d, T0 + 2000 * S, 0.3)]);
    assert_eq!(out.rule_state.len(), 1);
    assert!(
        out.rule_state[0].1.as_deref().is_some_and(|doc| doc.contains("\"consecutive\":1")),
        "{:?}",
        out.rule_state
    );
    let out = feed(&mut core, [smoke(&d, T0 + 2010 * S, 0.01)]);
    assert_eq!(out.rule_state, [("sd-1".to_owned(), None)], "back to default: the row is deleted");
}

#[test]
fn a_core_restored_from_its_rows_continues_a_smoke_confirmation() {
    let d = device("sd-1", Kind::Smoke, "h-1", SiteType::Residential, false);
    let mut first = core_with(AlertingConfig::default());
    let rows: Vec<(String, String)> = feed(&mut first, [smoke(&d, T0, 0.3)])
        .rule_state
        .into_iter()
        .filter_map(|(id, doc)| Some((id, doc?)))
        .collect();
    let mut second = core_with(AlertingConfig::default());
    assert!(second.restore(Vec::new(), Vec::new(), rows).is_empty());
    let out = feed(&mut second, [smoke(&d, T0 + 10 * S, 0.3)]);
    assert_eq!(out.audit.iter().map(|a| a.event).collect::<Vec<_>>(), [Event::Opened]);
    let bad = second.restore(Vec::new(), Vec::new(), vec![("sd-2".into(), "{not json".into())]);
    assert_eq!(bad.len(), 1, "an undecodable row is reported, not fatal");
}
