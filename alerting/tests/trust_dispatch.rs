//! Unverified incidents through the real dispatch planner and a registry of 渝北区 (DESIGN §6):
//! a late alarm and an unregistered device's alarm go out only as `verify` — never `respond` or
//! `forward_119` — until a person confirms them, while fresh alarms of the same household are
//! dispatched as usual; a verifier's acknowledgement arms no fire timer.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod dispatch_fixture;

use std::path::Path;

use common::*;
use firegrid_alerting::dispatch::Availability;
use firegrid_alerting::dispatch::DispatchPlanner;
use firegrid_alerting::dispatch::DispatchSettings;
use firegrid_alerting::engine::Dispatcher;
use firegrid_alerting::incident::{Action, Channel, Event, Severity, Verification};
use firegrid_alerting::store::{IncidentFilter, IncidentStore};
use firegrid_alerting::AlertingConfig;
use firegrid_ingest::{now_ms, Kind, SharedRegistry, SiteType};

const DAY: i64 = 86_400_000;

fn start_dispatching(data: &Path, reg: &SharedRegistry) -> Running {
    start_full(data, AlertingConfig::default(), reg.clone(), |engine| {
        let d = DispatchPlanner::open(reg.clone(), Availability::default(), DispatchSettings::default(), data).unwrap();
        engine.set_dispatcher(d);
    })
}

/// `(incident, target, role, round)` of every MQTT notification enqueued, sorted.
fn notifications(data: &Path) -> Vec<(String, String, String, String)> {
    let store = IncidentStore::open(data).unwrap();
    let mut rows: Vec<_> = store
        .due_outbox(i64::MAX, 1000)
        .unwrap()
        .into_iter()
        .filter(|o| o.channel == Channel::Mqtt)
        .map(|o| {
            let round = o.idempotency_key.trim_end_matches("/mqtt").rsplit(':').next().unwrap_or("").to_owned();
            (o.incident_id, o.recipient.target(), o.role.as_str().to_owned(), round)
        })
        .collect();
    rows.sort();
    rows
}

/// A smoke detector of a vulnerable home in 五星路社区 (grid 500112002001-g1).
fn wuxinglu(id: &str) -> std::sync::Arc<firegrid_ingest::DeviceRecord> {
    let mut d = device(id, Kind::Smoke, "hh-502", SiteType::Residential, true).to_device();
    d.community = "500112002001".into();
    d.grid_id = "500112002001-g1".into();
    d.lat = Some(29.7210);
    d.lon = Some(106.6310);
    std::sync::Arc::new(d.into())
}

/// Waits until the engine has `n` incidents and returns them.
async fn incidents(e: &Running, n: usize) -> Vec<firegrid_alerting::incident::Incident> {
    for _ in 0..200 {
        let list = e.handle.list(IncidentFilter::default()).await.unwrap();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} incidents within 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_of_one_household_two_days_old_and_fresh_only_the_fresh_ones_dispatch_as_a_fire() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let reg = dispatch_fixture::registry(dir.path());
    let e = start_dispatching(&data, &reg);
    let (a, b) = (wuxinglu("sd-a"), wuxinglu("sd-b"));
    let now = now_ms();
    for r in [
        received_at(smoke_alarm(&a, now - 2 * DAY, Some(1)), now),
        received_at(smoke_alarm(&b, now - 2 * DAY + 3000, Some(1)), now),
    ] {
        e.readings.send(r).await.unwrap();
    }
    let late = incidents(&e, 1).await.remove(0);
    for r in [smoke_alarm(&a, now, Some(2)), smoke_alarm(&b, now + 2000, Some(2))] {
        e.readings.send(r).await.unwrap();
    }
    let list = incidents(&e, 2).await;
    e.stop().await;
    let live = list.iter().find(|i| i.id != late.id).unwrap();
    assert_eq!((late.verification, late.severity), (Some(Verification::LateAlarm), Severity::Medium));
    assert!(late.summary.contains("late_alarm"), "{}", late.summary);
    assert_eq!((live.verification, live.severity), (None, Severity::Critical));
    let sent = notifications(&data);
    let of = |id: &str| sent.iter().filter(|n| n.0 == id).map(|n| (n.1.as_str(), n.2.as_str())).collect::<Vec<_>>();
    assert_eq!(of(&late.id), [("grid:500112002001-g1", "verify")], "the grid manager checks the late alarm");
    assert_eq!(
        of(&live.id),
        [
            ("ds-500112", "forward_119"),
            ("grid:500112002001-g1", "verify"),
            ("ms-500112002001", "respond"),
            ("tt-500112002", "respond")
        ],
        "the fresh alarms are a critical fire of the vulnerable home"
    );
    let store = IncidentStore::open(&data).unwrap();
    let (rows, _) = store.dispatch_log(&late.id).unwrap();
    let msg: serde_json::Value = serde_json::from_str(&rows[0].entry.payload).unwrap();
    assert_eq!(msg["role"], "verify");
    assert_eq!(msg["verification"], "late_alarm");
    assert!(msg["summary_zh"].as_str().unwrap().contains("待核实（迟到报警"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_alarm_goes_to_the_township_team_as_verify_until_confirmed_then_as_a_fire() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let reg = dispatch_fixture::registry(dir.path());
    let e = start_dispatching(&data, &reg);
    let ghost = device("sd-made-up", Kind::Smoke, "", SiteType::Residential, false);
    e.readings.send(unregistered(smoke_alarm(&ghost, now_ms(), Some(1)))).await.unwrap();
    let inc = incidents(&e, 1).await.remove(0);
    assert_eq!((inc.verification, inc.severity), (Some(Verification::UnregisteredDevice), Severity::Medium));
    let wait_for = |n: usize| {
        let data = data.clone();
        async move {
            for _ in 0..200 {
                if notifications(&data).len() >= n {
                    return notifications(&data);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            notifications(&data)
        }
    };
    let first = wait_for(1).await;
    assert_eq!(first, [(inc.id.clone(), "tt-500112002".into(), "verify".into(), "1".into())]);
    let msg = IncidentStore::open(&data).unwrap().dispatch_log(&inc.id).unwrap().0.remove(0).entry.payload;
    assert!(msg.contains("未登记烟感报警，待核实"), "{msg}");
    // The township team looks, acknowledges and confirms: a live single-device fire, routed by the
    // topic's township in a new round.
    e.handle.act(&inc.id, Action::Ack, "station:tt-500112002", "").await.unwrap();
    let confirmed = e.handle.act(&inc.id, Action::Confirm, "station:tt-500112002", "smoke seen").await.unwrap();
    assert_eq!((confirmed.verification, confirmed.severity), (None, Severity::High));
    let all = wait_for(2).await;
    let round2: Vec<_> = all.iter().filter(|n| n.3 == "2").map(|n| (n.1.as_str(), n.2.as_str())).collect();
    assert_eq!(round2.len(), 1, "{all:?}");
    assert_eq!(round2[0].1, "respond");
    assert!(round2[0].0.starts_with("ms-500112002"), "a micro station near the township: {round2:?}");
    // The responder's own acknowledgement is legal: the fire lifecycle started afresh.
    let acked = e.handle.act(&inc.id, Action::Ack, &format!("station:{}", round2[0].0), "").await.unwrap();
    assert_eq!(acked.status, firegrid_alerting::incident::Status::Acknowledged);
    e.stop().await;
}

#[test]
fn a_verifiers_acknowledgement_arms_no_fire_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = DispatchPlanner::new(
        dispatch_fixture::registry(dir.path()),
        Availability::default(),
        DispatchSettings::default(),
    );
    let mut inc = dispatch_fixture::wuxinglu_fire();
    inc.severity = Severity::Medium;
    inc.verification = Some(Verification::LateAlarm);
    let t0 = 1_795_935_417_000;
    let opened = d.plan(&inc.audit(Event::Opened, None, "engine", "", t0), &inc, t0);
    let roles: Vec<_> = opened.outbox.iter().map(|o| (o.recipient.target(), o.role.as_str())).collect();
    assert!(roles.iter().all(|(t, r)| (t.as_str(), *r) == ("grid:500112002001-g1", "verify")), "{roles:?}");
    let ack = inc.apply(Action::Ack, "grid:500112002001-g1", "", t0 + 1000).unwrap();
    d.plan(&ack, &inc, t0 + 1000);
    for minutes in [1, 3, 5, 60, 24 * 60 + 1] {
        assert!(d.tick(t0 + minutes * 60_000).is_empty(), "nothing is due {minutes} min later");
    }
    assert!(d.state(&inc.id).is_some_and(|s| s.acked_at_ms.is_none() && s.on_scene_due_ms.is_none()));
}
