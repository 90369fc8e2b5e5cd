//! Station availability at run time (DESIGN §6): `available`, `busy` or `off_duty`, set by an
//! admin over the API or by the station itself on MQTT `firegrid/v1/status/{station_id}`. The
//! registry's `available` column is the starting value; a change here lasts until the next one
//! (or a restart). Shared, cheap to read: routing takes a snapshot per decision, and the dispatch
//! planner watches the [`Availability::generation`] to route unroutable incidents again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

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
}

impl Availability {
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
