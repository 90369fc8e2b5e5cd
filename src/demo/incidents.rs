//! The demo's incidents (`incidents.sqlite3`) kept to a bounded size. The demo is a simulation
//! with no dispatcher: nobody closes what its fires, faults and hazards open, and the store keeps
//! an open incident — its evidence, audit trail and outbox — until someone does. So the demo
//! itself plays that part, in the open:
//!
//! - an incident still active [`CLOSE_AFTER`] after it opened is closed by the actor
//!   [`ACTOR`] through the engine, like any responder's action — the way the lifecycle allows
//!   (`ack`, `on_scene`, `resolve` for a fire; `ack`, `rectified` for a hazard; `false_alarm` for
//!   one that still awaits a person's check) — each step in its audit trail with a note saying
//!   why. A newcomer has a quarter of an hour to handle one in the console first;
//! - incidents closed more than [`KEEP_CLOSED`] ago are deleted with their rows
//!   ([`SqliteStore::prune_closed`]): six hours, about what the readings' 1 GiB cap holds, so an
//!   incident's evidence readings are still there while it is.
//!
//! The file then holds about [`KEEP_CLOSED`] + [`CLOSE_AFTER`] of incidents, each with a bounded
//! number of notifications (`dispatch.max_escalations`). Not for a real deployment: there,
//! incidents are closed by the people who handle them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use firegrid_alerting::incident::{Action, Class, Incident, Status};
use firegrid_alerting::store::{IncidentFilter, SqliteStore};
use firegrid_alerting::{AlertError, EngineHandle};
use tokio_util::sync::CancellationToken;

/// An incident nobody closed this long after it opened is closed by the demo.
pub(crate) const CLOSE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Closed incidents are deleted this long after they closed.
pub(crate) const KEEP_CLOSED: Duration = Duration::from_secs(6 * 3600);
/// How often the demo closes and deletes.
const EVERY: Duration = Duration::from_secs(60);
/// The name the demo's closes carry in the audit trail.
pub(crate) const ACTOR: &str = "demo";
/// The statuses of an incident still active.
const ACTIVE: [Status; 4] = [Status::Open, Status::Dispatched, Status::Acknowledged, Status::OnScene];

/// Why one round of housekeeping stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HousekeepingError {
    /// The engine refused or could not answer.
    #[error("alert engine: {0}")]
    Engine(#[from] AlertError),
    /// The incident file could not be pruned.
    #[error("pruning closed incidents: {0}")]
    Prune(#[from] firegrid_alerting::store::StoreError),
    /// The pruning thread ended abnormally.
    #[error("pruning closed incidents: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Incidents the demo closed.
    pub(crate) closed: usize,
    /// Closed incidents deleted.
    pub(crate) deleted: usize,
}

/// How long incidents stay: open before the demo closes them, closed before they are deleted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ages {
    /// See [`CLOSE_AFTER`].
    pub(crate) close_after: Duration,
    /// See [`KEEP_CLOSED`].
    pub(crate) keep_closed: Duration,
}

impl Default for Ages {
    fn default() -> Self {
        Ages { close_after: CLOSE_AFTER, keep_closed: KEEP_CLOSED }
    }
}

/// The actions that take `inc` to a closed status, in order, as the lifecycle allows them.
pub(crate) fn closing_actions(inc: &Incident) -> Vec<Action> {
    use Action as A;
    match (inc.class, inc.status) {
        (_, s) if s.is_terminal() => Vec::new(),
        (Class::Hazard, Status::Acknowledged) => vec![A::Rectified],
        (Class::Hazard, _) => vec![A::Ack, A::Rectified],
        // Nobody checked it: it is closed as the unverified alarm it is.
        _ if inc.verification.is_some() => vec![A::FalseAlarm],
        (_, Status::Open | Status::Dispatched) => vec![A::Ack, A::OnScene, A::Resolve],
        (_, Status::Acknowledged) => vec![A::OnScene, A::Resolve],
        _ => vec![A::Resolve],
    }
}

/// Closes the incidents active [`Ages::close_after`] after they opened, as of `now_ms`, then
/// deletes those closed before `now_ms - keep_closed` from `data_dir`'s incident file.
pub(crate) async fn sweep(
    engine: &EngineHandle,
    data_dir: &Path,
    ages: Ages,
    now_ms: i64,
) -> Result<Swept, HousekeepingError> {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let note = format!(
        "closed by firegrid demo {} min after it opened: the simulation has no dispatcher",
        ages.close_after.as_secs() / 60
    );
    let mut closed = 0;
    for status in ACTIVE {
        let filter = IncidentFilter { status: Some(status), limit: 100_000, ..IncidentFilter::default() };
        for inc in engine.list(filter).await? {
            if inc.opened_at_ms > now_ms.saturating_sub(ms(ages.close_after)) {
                continue;
            }
            match close(engine, &inc, &note).await {
                Ok(()) => closed += 1,
                // Someone acted on it meanwhile, or the lifecycle refused: the next sweep sees
                // it again, and the pruning below still runs.
                Err(AlertError::Transition(e)) => {
                    tracing::warn!(event = "demo_incident_close_refused", incident = %inc.id, error = %e);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let (dir, before_ms) = (data_dir.to_owned(), now_ms.saturating_sub(ms(ages.keep_closed)));
    let deleted = tokio::task::spawn_blocking(move || SqliteStore::open(&dir)?.prune_closed(before_ms)).await??;
    Ok(Swept { closed, deleted })
}

/// Takes `inc` to a closed status as [`ACTOR`], one audited action after the other.
async fn close(engine: &EngineHandle, inc: &Incident, note: &str) -> Result<(), AlertError> {
    for action in closing_actions(inc) {
        engine.act(&inc.id, action, ACTOR, note).await?;
    }
    Ok(())
}

/// Sweeps now and every minute until `stop`.
pub(crate) async fn keep_bounded(engine: EngineHandle, data_dir: PathBuf, stop: CancellationToken) {
    loop {
        match sweep(&engine, &data_dir, Ages::default(), firegrid_ingest::clock::now_ms()).await {
            Ok(Swept { closed: 0, deleted: 0 }) => {}
            Ok(s) => tracing::info!(event = "demo_incidents_swept", closed = s.closed, deleted = s.deleted),
            Err(e) => tracing::warn!(event = "demo_incidents_sweep_failed", error = %e),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use firegrid_alerting::dispatch::{Availability, DispatchPlanner, DispatchSettings};
    use firegrid_alerting::{AlertingConfig, Engine};
    use firegrid_ingest::{
        AlertInput, Device, DeviceRecord, EnrichedReading, Kind, Reading, RegistryPaths, SharedRegistry, SiteType,
        SmokeValues, Values,
    };
    use tokio::sync::mpsc;

    use super::*;

    /// A registry of one micro station and one grid in 双龙湖街道 (no devices: readings carry theirs).
    fn registry(dir: &Path) -> SharedRegistry {
        let paths = RegistryPaths { devices: dir.join("d.csv"), stations: dir.join("s.csv"), grids: dir.join("g.csv") };
        let files = [
            (
                &paths.devices,
                "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n",
            ),
            (
                &paths.stations,
                "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n\
                 ms-1,五星路社区微型消防站,micro,500112,500112002,500112002001,29.72,106.63,,true,\n\
                 tt-1,双龙湖街道专职消防队,township_team,500112,500112002,,29.725,106.636,,true,\n",
            ),
            (&paths.grids, "grid_id,community,manager,phone,webhook_url\ng-1,500112002001,王芳,13800000001,\n"),
        ];
        for (path, text) in files {
            std::fs::write(path, text).unwrap();
        }
        SharedRegistry::load(paths).unwrap()
    }

    /// A smoke alarm of a detector in household `h` (registered when `registered`, else known by
    /// its topic only: the incident then awaits a person's check).
    fn alarm(h: usize, registered: bool) -> AlertInput {
        let device = DeviceRecord::from(Device {
            device_id: format!("sd-{h}"),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002001".into(),
            grid_id: "g-1".into(),
            household_id: format!("h-{h}"),
            address: format!("五星路 {h} 栋"),
            lat: Some(29.7205),
            lon: Some(106.6302),
            site_type: SiteType::Residential,
            vulnerable: false,
        });
        let now = firegrid_ingest::now_ms();
        let reading = Reading {
            device_id: format!("sd-{h}"),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            ts_ms: now,
            received_at_ms: now,
            seq: Some(1),
            status: firegrid_ingest::Status::Alarm,
            values: Values::Smoke(SmokeValues { obscuration_db_m: 0.4, alarm: Some(true), ..Default::default() }),
        };
        let device = registered.then(|| Arc::new(device));
        AlertInput { reading: EnrichedReading { reading, device, location_mismatch: false }, ack: None }
    }

    /// Rows of each table of the incident file.
    fn rows(dir: &Path) -> Vec<(&'static str, i64)> {
        let conn = rusqlite::Connection::open(firegrid_alerting::store::db_path(dir)).unwrap();
        ["incidents", "evidence", "audit", "outbox", "dispatch_state"]
            .into_iter()
            .map(|t| (t, conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap()))
            .collect()
    }

    /// Waits (at most 10 s) until `n` incidents are active.
    async fn wait_for_incidents(engine: &EngineHandle, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let active = || async {
            let list = engine.list(IncidentFilter::default()).await.unwrap();
            list.iter().filter(|i| !i.status.is_terminal()).count()
        };
        while active().await < n {
            assert!(std::time::Instant::now() < deadline, "{n} active incidents within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn the_demo_closes_what_nobody_handles_as_itself_and_its_incident_file_stops_growing() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path());
        let settings = AlertingConfig::default().validate().unwrap();
        let mut engine = Engine::open(settings, reg.clone(), dir.path(), &prometheus::Registry::new()).unwrap();
        engine.set_dispatcher(DispatchPlanner::new(reg, Availability::default(), DispatchSettings::default()));
        let handle = engine.handle();
        let (readings, readings_rx) = mpsc::channel(64);
        let (lines, mut lines_rx) = mpsc::channel(64);
        tokio::spawn(async move { while lines_rx.recv().await.is_some() {} });
        let stop = CancellationToken::new();
        let task = tokio::spawn(engine.run(readings_rx, lines, stop.clone()));
        // The clock of the sweep: an hour ahead of what the engine wrote.
        let hour_ahead = || firegrid_ingest::now_ms() + 3_600_000;

        // A fire and an unverified alarm; kept a day once closed: the trail shows who closed them.
        readings.send(alarm(0, true)).await.unwrap();
        readings.send(alarm(1, false)).await.unwrap();
        wait_for_incidents(&handle, 2).await;
        let keep = Ages { close_after: Duration::from_secs(1800), keep_closed: Duration::from_secs(86_400) };
        assert_eq!(sweep(&handle, dir.path(), keep, hour_ahead()).await.unwrap(), Swept { closed: 2, deleted: 0 });
        for inc in handle.list(IncidentFilter::default()).await.unwrap() {
            assert!(inc.status.is_terminal(), "{} is {}", inc.id, inc.status);
            let record = handle.get(&inc.id).await.unwrap().unwrap();
            let last = record.audit.last().unwrap();
            assert_eq!(last.actor, ACTOR);
            assert!(last.note.contains("the simulation has no dispatcher"), "{}", last.note);
        }

        // Round after round of new incidents: each sweep leaves the file as empty as before.
        let short = Ages { close_after: Duration::from_secs(1800), keep_closed: Duration::from_secs(600) };
        for round in 1..=5 {
            for h in 0..4 {
                readings.send(alarm(10 * round + h, h != 3)).await.unwrap();
            }
            wait_for_incidents(&handle, 4).await;
            let swept = sweep(&handle, dir.path(), short, hour_ahead()).await.unwrap();
            assert_eq!(swept.closed, 4, "round {round}");
            let left: Vec<_> = rows(dir.path()).into_iter().filter(|(_, n)| *n > 0).collect();
            assert!(left.is_empty(), "round {round}: nothing of a closed incident stays: {left:?}");
        }
        stop.cancel();
        task.await.unwrap().unwrap();
    }
}
