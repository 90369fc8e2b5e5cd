//! The role × action table of DESIGN §6 as the tests expect it, written out cell by cell (not
//! computed from `permissions.rs`), and incidents to try each cell on: every cell gets a fresh
//! incident, notified the way the dispatch stage notifies (outbox rows with their roles) and
//! brought to a status where the action is legal when the lifecycle allows it at all.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use firegrid_alerting::incident::{Action, Status};
use firegrid_alerting::incident::{Channel, NotifyRole, OutboxEntry, Recipient};
use firegrid_ingest::{now_ms, Kind, SiteType, SmokeValues, Status as ReadingStatus};

use crate::common::{device, smoke_alarm, smoke_with, Running};

/// A caller of the table: its token, its token role and subject.
#[derive(Debug, Clone, Copy)]
pub struct Who {
    pub token: &'static str,
    pub role: &'static str,
    pub subject: &'static str,
}

impl Who {
    /// `role:subject`, the audit trail's actor.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role, self.subject)
    }

    /// Its acknowledgement topic under `firegrid/v1` (stations and grid managers only).
    pub fn ack_topic(&self) -> Option<String> {
        match self.role {
            "station" => Some(format!("firegrid/v1/ack/{}", self.subject)),
            "grid" => Some(format!("firegrid/v1/ack/grid/{}", self.subject)),
            _ => None,
        }
    }
}

pub const ADMIN: Who = Who { token: "admin-0123456789abcdef", role: "admin", subject: "ops" };
pub const DISPATCHER: Who = Who { token: "dispatch-0123456789abcdef", role: "dispatcher", subject: "duty" };
/// Notified of every fire to `respond`.
pub const MICRO: Who = Who { token: "station-m1-0123456789abcdef", role: "station", subject: "m-1" };
/// Notified of every fire to `forward_119`.
pub const DISTRICT: Who = Who { token: "station-d1-0123456789abcdef", role: "station", subject: "d-1" };
/// Notified of every fire to `verify` and of every hazard to `rectify`.
pub const GRID: Who = Who { token: "grid-g1-0123456789abcdef", role: "grid", subject: "g-1" };
/// Notified of every hazard to `rectify` (the township team a hazard escalates to).
pub const TEAM: Who = Who { token: "station-t1-0123456789abcdef", role: "station", subject: "t-1" };
/// Notified of nothing.
pub const OTHER: Who = Who { token: "station-m2-0123456789abcdef", role: "station", subject: "m-2" };

pub const EVERYONE: [Who; 7] = [ADMIN, DISPATCHER, MICRO, DISTRICT, GRID, TEAM, OTHER];
pub const ACTIONS: [Action; 6] =
    [Action::Ack, Action::OnScene, Action::Resolve, Action::FalseAlarm, Action::Confirm, Action::Rectified];

/// The tokens file of these callers.
pub fn tokens_csv() -> String {
    let mut s = String::from("token,role,subject\n");
    for w in EVERYONE {
        s.push_str(&format!("{},{},{}\n", w.token, w.role, w.subject));
    }
    s
}

/// What the table lets `who` do on a fire (`hazard = false`) or a hazard; `None` = it was not
/// notified of it.
pub fn allowed(who: &Who, hazard: bool) -> Option<Vec<Action>> {
    use Action as A;
    let all = ACTIONS.to_vec();
    match (who.subject, hazard) {
        ("ops" | "duty", _) => Some(all),
        ("m-1", false) => Some(vec![A::Ack, A::OnScene, A::Resolve, A::FalseAlarm, A::Confirm]),
        ("d-1", false) => Some(vec![]),
        ("g-1", false) => Some(vec![A::Confirm]),
        ("g-1" | "t-1", true) => Some(vec![A::Ack, A::Rectified]),
        _ => None,
    }
}

/// Whether the lifecycle allows `action` on an incident made by [`incident`] for it.
pub fn lifecycle_allows(hazard: bool, action: Action) -> bool {
    if hazard {
        matches!(action, Action::Ack | Action::Rectified)
    } else {
        action != Action::Rectified
    }
}

/// The expected outcome of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Applied.
    Done,
    /// Allowed by the table, refused by the lifecycle.
    Illegal,
    /// Refused: allowed nothing of the sort.
    Forbidden,
    /// Refused: not notified.
    NotNotified,
}

pub fn expect(who: &Who, hazard: bool, action: Action) -> Expect {
    match allowed(who, hazard) {
        None => Expect::NotNotified,
        Some(ok) if !ok.contains(&action) => Expect::Forbidden,
        Some(_) if lifecycle_allows(hazard, action) => Expect::Done,
        Some(_) => Expect::Illegal,
    }
}

fn row(id: &str, target: &str, role: &str) -> OutboxEntry {
    OutboxEntry {
        idempotency_key: format!("{id}:{target}:{role}:1/sse"),
        incident_id: id.to_owned(),
        recipient: Recipient::from_target(target),
        role: NotifyRole::parse(role).unwrap(),
        channel: Channel::Sse,
        tier: None,
        seq: 1,
        received_at_ms: None,
        payload: "{}".to_owned(),
        created_at_ms: now_ms(),
        next_attempt_ms: now_ms(),
        attempts: 0,
    }
}

/// Opens incident number `n` (a fire or a hazard), notifies it the way the dispatch stage does and
/// brings it to the status `action` needs (`resolve` and `rectified` follow an `ack`); returns its id.
pub async fn incident(e: &mut Running, n: usize, hazard: bool, action: Action) -> String {
    let d = device(&format!("sd-{n}"), Kind::Smoke, &format!("h-{n}"), SiteType::Residential, false);
    let reading = if hazard {
        let low = SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(5.0), ..Default::default() };
        smoke_with(&d, now_ms(), ReadingStatus::Normal, low)
    } else {
        smoke_alarm(&d, now_ms(), Some(1))
    };
    let line = e.line_after(reading).await;
    let id = line.split("incident_id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (stations, grids, rows) = if hazard {
        (vec!["t-1".into()], vec!["g-1".into()], vec![row(&id, "grid:g-1", "rectify"), row(&id, "t-1", "rectify")])
    } else {
        let rows = vec![row(&id, "m-1", "respond"), row(&id, "d-1", "forward_119"), row(&id, "grid:g-1", "verify")];
        (vec!["m-1".into(), "d-1".into()], vec!["g-1".into()], rows)
    };
    e.handle.record_notified(&id, stations, grids, rows).await.unwrap();
    if matches!(action, Action::Resolve | Action::Rectified) {
        e.handle.act(&id, Action::Ack, "dispatcher:prep", "").await.unwrap();
    }
    drain(e);
    id
}

/// Drops the `fire_incident` lines emitted so far.
pub fn drain(e: &mut Running) {
    while e.lines.try_recv().is_ok() {}
}

/// The incident's status and number of audit entries.
pub async fn state(e: &Running, id: &str) -> (Status, usize) {
    let rec = e.handle.get(id).await.unwrap().unwrap();
    (rec.incident.status, rec.audit.len())
}
