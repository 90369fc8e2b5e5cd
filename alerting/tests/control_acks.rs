//! Acknowledgements over MQTT ([`Control::handle`], what the consumer hands every message of
//! `firegrid/v1/ack/…`) against a running engine: the same role × action table as the HTTP API
//! decides, cell by cell (refusals are dead-letter reasons `not_notified` and `forbidden` with the
//! reason text), a note over 2 KiB is `note_too_long` and never stored, and a repeated ack changes
//! nothing. (tests/embedded_broker.rs sends acks through a real broker.)
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod permission_cells;

use common::*;
use firegrid_alerting::dispatch::Availability;
use firegrid_alerting::dispatch::{Control, Refusal};
use firegrid_alerting::incident::Action;
use permission_cells::{Expect, Who};

fn control(e: &Running) -> Control {
    Control {
        handle: e.handle.clone(),
        registry: empty_registry(),
        availability: Availability::default(),
        prefix: "firegrid/v1".to_owned(),
    }
}

fn ack(id: &str, action: Action, note: &str) -> Vec<u8> {
    serde_json::json!({ "incident_id": id, "action": action.as_str(), "by": "值班员", "note": note })
        .to_string()
        .into_bytes()
}

/// Every cell of the table for the callers that acknowledge over MQTT (stations and grid
/// managers; admin and dispatcher tokens act over HTTP only).
#[tokio::test]
async fn every_cell_of_the_role_action_table_over_mqtt_acks() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
    let control = control(&e);
    let (mut n, mut wrong) = (0, Vec::new());
    for who in permission_cells::EVERYONE {
        let Some(topic) = who.ack_topic() else { continue };
        for hazard in [false, true] {
            for action in permission_cells::ACTIONS {
                n += 1;
                let id = permission_cells::incident(&mut e, n, hazard, action).await;
                if let Err(why) = check_cell(&control, &mut e, &who, &topic, hazard, action, &id).await {
                    wrong.push(why);
                }
            }
        }
    }
    assert!(n >= 60, "{n} cells");
    assert!(wrong.is_empty(), "{} of {n} cells wrong:\n{}", wrong.len(), wrong.join("\n"));
    e.stop().await;
}

async fn check_cell(
    control: &Control,
    e: &mut Running,
    who: &Who,
    topic: &str,
    hazard: bool,
    action: Action,
    id: &str,
) -> Result<(), String> {
    let cell = format!("{} {action} on a {}", who.actor(), if hazard { "hazard" } else { "fire" });
    let before = permission_cells::state(e, id).await;
    let got = control.handle(topic, &ack(id, action, "cell")).await;
    let after = permission_cells::state(e, id).await;
    permission_cells::drain(e);
    let expect = permission_cells::expect(who, hazard, action);
    let ok = match (&got, expect) {
        (Ok(_), Expect::Done) => after.1 == before.1 + 1,
        (Err(r), Expect::Illegal) => r.reason() == "illegal_transition" && after == before,
        (Err(r @ Refusal::Forbidden(why)), Expect::Forbidden) => {
            r.reason() == "forbidden" && why.contains(&who.actor()) && after == before
        }
        (Err(r @ Refusal::NotNotified(why)), Expect::NotNotified) => {
            r.reason() == "not_notified" && why.contains(id) && after == before
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{cell}: expected {expect:?}, got {got:?} (status/audit {before:?} -> {after:?})"))
    }
}

#[tokio::test]
async fn a_grid_managers_false_alarm_of_a_fire_is_a_forbidden_dead_letter_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
    let id = permission_cells::incident(&mut e, 1, false, Action::FalseAlarm).await;
    let got = control(&e).handle("firegrid/v1/ack/grid/g-1", &ack(&id, Action::FalseAlarm, "")).await;
    let Err(refusal) = got else { panic!("refused: {got:?}") };
    assert_eq!(refusal.reason(), "forbidden");
    assert!(
        refusal.to_string().contains("grid:g-1 was notified of this fire to verify, which allows confirm only"),
        "{refusal}"
    );
    assert_eq!(permission_cells::state(&e, &id).await.0.as_str(), "dispatched");
    e.stop().await;
}

#[tokio::test]
async fn a_note_over_two_kilobytes_is_a_note_too_long_dead_letter_and_a_repeated_ack_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start(dir.path());
    let control = control(&e);
    let id = permission_cells::incident(&mut e, 1, false, Action::Ack).await;
    let before = permission_cells::state(&e, &id).await;
    let got = control.handle("firegrid/v1/ack/m-1", &ack(&id, Action::Ack, &"长".repeat(700))).await;
    assert!(matches!(&got, Err(r) if r.reason() == "note_too_long"), "{got:?}");
    assert_eq!(permission_cells::state(&e, &id).await, before, "a refused note is never stored");

    control.handle("firegrid/v1/ack/m-1", &ack(&id, Action::Ack, "出动")).await.unwrap();
    assert!(e.lines.try_recv().is_ok(), "the ack is a transition");
    let acked = permission_cells::state(&e, &id).await;
    let again = control.handle("firegrid/v1/ack/m-1", &ack(&id, Action::Ack, "出动")).await;
    assert!(again.as_ref().is_ok_and(|what| what.ends_with("now acknowledged")), "{again:?}");
    assert_eq!(permission_cells::state(&e, &id).await, acked, "no second audit entry");
    assert!(e.lines.try_recv().is_err(), "no second fire_incident line");
    e.stop().await;
}
