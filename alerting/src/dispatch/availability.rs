//! Station availability at run time (DESIGN §6): `available`, `busy` or `off_duty`, set by an
//! admin over the API or by the station itself on MQTT `firegrid/v1/status/{station_id}`. The
//! registry's `available` column is the starting value; a change here lasts until the next one
//! (or a restart). Shared, cheap to read: routing takes a snapshot per decision, and the dispatch
//! planner watches the [`Availability::generation`] to route unroutable incidents again.
//!
//! On a shared incident store (PostgreSQL) the `station_availability` table is the truth: a change
//! is written there first ([`Availability::publish`]), and every instance re-reads the table every
//! [`REFRESH`] ([`Availability::follow`]), so routing and escalation in any partition skip a
//! station marked busy through any instance. Routing itself stays free of I/O: it reads this
//! in-memory copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::engine::EngineHandle;
use crate::store::{StoreError, StoreThread};

/// How often an instance re-reads the shared availability table.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

named_enum!(
    /// A station's state for routing.
    pub enum StationStatus {
        /// Takes notifications.
        Available => "available",
        /// Out on another call: skipped by routing.
        Busy => "busy",
        /// Off duty: skipped by routing.
        OffDuty => "off_duty",
    }
);

/// A status update that cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum AvailabilityError {
    /// The body is not `{"status": "available" | "busy" | "off_duty"}`.
    #[error("status must be {{\"status\": \"available\" | \"busy\" | \"off_duty\"}}: {0}")]
    BadStatus(String),
}

/// Parses a status body `{"status": "busy"}` (other fields are ignored).
pub(crate) fn parse_status_body(body: &[u8]) -> Result<StationStatus, AvailabilityError> {
    #[derive(Deserialize)]
    struct Body {
        status: String,
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| AvailabilityError::BadStatus(e.to_string()))?;
    StationStatus::parse(&b.status)
        .ok_or_else(|| AvailabilityError::BadStatus(format!("unknown status `{}`", b.status)))
}

/// Overrides of the registry's availability, shared between routing, the API and MQTT.
#[derive(Debug, Clone, Default)]
pub struct Availability {
    overrides: Arc<RwLock<HashMap<String, StationStatus>>>,
    generation: Arc<AtomicU64>,
    /// The shared store's thread (PostgreSQL), else `None`: this process's memory only.
    shared: Option<StoreThread>,
}

impl Availability {
    /// The availability of `engine`'s instance: shared through its store when the store is
    /// PostgreSQL (loaded from the table now: blocking, call at start-up), else this process's.
    pub fn for_engine(engine: &EngineHandle) -> Result<Availability, StoreError> {
        let Some(store) = engine.shared_store() else { return Ok(Availability::default()) };
        let a = Availability { shared: Some(store.clone()), ..Availability::default() };
        if let Some(rows) = store.call_blocking(|s| s.station_availability())?? {
            a.replace(rows);
        }
        Ok(a)
    }

    /// Sets a station's status: in the shared table first when there is one (an error leaves
    /// it unchanged everywhere), then here.
    pub async fn publish(&self, station_id: &str, status: StationStatus) -> Result<(), StoreError> {
        if let Some(store) = &self.shared {
            let id = station_id.to_owned();
            store.call(move |s| s.set_station_availability(&id, status.as_str())).await??;
        }
        self.set(station_id, status);
        Ok(())
    }

    /// Re-reads the shared table every [`REFRESH`] until `shutdown` (returns at once when the
    /// availability is not shared). A failed read keeps the last copy and is logged.
    pub async fn follow(self, shutdown: CancellationToken) {
        let Some(store) = self.shared.clone() else { return };
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match store.call(|s| s.station_availability()).await {
                Ok(Ok(Some(rows))) => self.replace(rows),
                Ok(Ok(None)) => return,
                Ok(Err(e)) => tracing::warn!(event = "station_availability_read_failed", error = %e,
                    "shared station availability not re-read; the last copy stays"),
                Err(_) => return,
            }
        }
    }

    /// Replaces the copy with the table's rows (unknown statuses left out); the generation moves
    /// only when something changed.
    fn replace(&self, rows: Vec<(String, String)>) {
        let now: HashMap<String, StationStatus> =
            rows.into_iter().filter_map(|(id, st)| Some((id, StationStatus::parse(&st)?))).collect();
        let mut m = self.overrides.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *m != now {
            *m = now;
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// Sets a station's status.
    pub fn set(&self, station_id: &str, status: StationStatus) {
        let mut m = self.overrides.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert(station_id.to_owned(), status);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes so far: a different value means a status was set since it was last read.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The status set at run time, if any.
    pub fn get(&self, station_id: &str) -> Option<StationStatus> {
        self.overrides.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(station_id).copied()
    }

    /// A copy of the overrides for one routing decision.
    pub(crate) fn snapshot(&self) -> HashMap<String, StationStatus> {
        self.overrides.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_parse_and_unknown_values_are_refused() {
        assert_eq!(parse_status_body(br#"{"status":"busy","by":"x"}"#), Ok(StationStatus::Busy));
        assert_eq!(parse_status_body(br#"{"status":"off_duty"}"#), Ok(StationStatus::OffDuty));
        assert!(parse_status_body(br#"{"status":"asleep"}"#).is_err());
        assert!(parse_status_body(b"busy").is_err());
    }

    #[test]
    fn a_set_status_is_seen_by_every_clone() {
        let a = Availability::default();
        let b = a.clone();
        let before = b.generation();
        a.set("ms-1", StationStatus::Busy);
        assert_eq!(b.get("ms-1"), Some(StationStatus::Busy));
        assert_eq!(b.snapshot().len(), 1);
        assert_ne!(b.generation(), before, "every clone sees that something changed");
    }
}
