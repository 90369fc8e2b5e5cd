//! Detection (DESIGN §5) as pure code: readings and an explicit clock in, [`Assessment`]s out.
//! [`Detector`] keeps the small per-device state the rules need (consecutive counts, sustain
//! windows, hotspot frames, hazard edges, the redelivery memory) and the offline tracker. Each
//! kind's rule lives in its own module; none of them does I/O or reads a wall clock.

pub mod dedup;
pub mod detector;
pub mod electrical;
pub mod forest_ir;
pub mod lru;
pub mod offline;
pub mod smoke;
pub mod state;

use std::sync::Arc;

use firegrid_ingest::Device;
use firegrid_ingest::{EnrichedReading, Kind};

pub use detector::{Detector, RowChange};

/// A fire alarm signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Smoke (the detector's alarm or sustained obscuration).
    Smoke,
    /// Heat at a smoke detector.
    Heat,
    /// Electrical fire alarm (residual current, cable temperature, arc fault).
    Electrical,
    /// Confirmed forest hotspot.
    Hotspot,
}

impl Signal {
    /// The name kept in an incident's signals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Smoke => "smoke",
            Signal::Heat => "heat",
            Signal::Electrical => "electrical",
            Signal::Hotspot => "hotspot",
        }
    }
}

/// A hazard (隐患): not a fire, but something the grid must rectify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hazard {
    /// The device reports a fault.
    Fault,
    /// Removed from its base.
    Tamper,
    /// Battery low.
    BatteryLow,
    /// Electrical residual-current pre-alarm.
    ResidualPrealarm,
    /// Forest smoke score pre-alarm (verify).
    SmokePrealarm,
    /// No message for the offline delay.
    Offline,
}

impl Hazard {
    /// The name kept in an incident's signals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hazard::Fault => "fault",
            Hazard::Tamper => "tamper",
            Hazard::BatteryLow => "battery_low",
            Hazard::ResidualPrealarm => "residual_prealarm",
            Hazard::SmokePrealarm => "smoke_prealarm",
            Hazard::Offline => "offline",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What the rules found in one reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Fire alarm signals, with the reason each was raised (level: repeated while the condition holds).
    pub alarms: Vec<(Signal, String)>,
    /// Hazards newly raised by this reading (edge: once until the condition clears).
    pub hazards: Vec<(Hazard, String)>,
    /// The reading says the device is quiet again (normal, no alarm condition).
    pub quiet: bool,
    /// Hush was pressed on the device.
    pub silenced: bool,
}

impl Assessment {
    /// Nothing to correlate.
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.hazards.is_empty()
    }
}

/// What the offline tracker remembers of a device, to raise its hazard without a reading.
#[derive(Debug, Clone)]
pub struct DeviceRef {
    /// Device id.
    pub device_id: String,
    /// Kind.
    pub kind: Kind,
    /// County (registry's, else topic's).
    pub county: String,
    /// Township (registry's, else topic's).
    pub township: String,
    /// The registry entry, when registered.
    pub device: Option<Arc<Device>>,
}

/// Result of feeding one reading to the [`Detector`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A redelivery of a reading already evaluated: ignore it.
    Duplicate,
    /// The reading was evaluated.
    Assessed(Assessment),
}

pub(crate) fn device_ref(er: &EnrichedReading) -> DeviceRef {
    DeviceRef {
        device_id: er.reading.device_id.clone(),
        kind: er.reading.kind,
        county: er.county().to_owned(),
        township: er.township().to_owned(),
        device: er.device.clone(),
    }
}

pub(crate) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offline_after_ms(rules: &crate::config::KindRules, kind: Kind) -> i64 {
    ms(match kind {
        Kind::Smoke => rules.smoke.offline_after,
        Kind::Electrical => rules.electrical.offline_after,
        Kind::ForestIr => rules.forest_ir.offline_after,
    })
}

/// Milliseconds of a duration, saturating (rules compare reading timestamps in ms).
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    ms(d)
}
