//! How a reading maps onto an incident: its [`Class`], the correlation key of the incident it
//! joins — the household (`hh:`), else the device (`dev:`); hazards per device (`hz:`); alarms
//! awaiting verification under their own prefix (`unreg:`, `late:`) so they never share a key with
//! live ones — and its position. Pure.

use firegrid_ingest::{ElectricalValues, EnrichedReading, ForestIrValues, Kind, SmokeValues, Values};

use super::model::{Class, Verification};

/// The class of a fire alarm of a device of `kind`.
pub(super) fn class_of(kind: Kind) -> Class {
    match kind {
        Kind::Smoke => Class::Fire,
        Kind::Electrical => Class::ElectricalFire,
        Kind::ForestIr => Class::ForestFire,
    }
}

/// The correlation key of a fire alarm: the household, else the device.
pub(super) fn fire_key(er: &EnrichedReading) -> String {
    match er.device.as_deref() {
        Some(d) if !d.household_id().is_empty() && er.reading.kind != Kind::ForestIr => {
            format!("hh:{}", d.household_id())
        }
        _ => device_key(er),
    }
}

/// The correlation key of the device's own incident.
pub(super) fn device_key(er: &EnrichedReading) -> String {
    format!("dev:{}", er.reading.device_id)
}

/// The correlation key of the device's hazard incident.
pub(super) fn hazard_key(er: &EnrichedReading) -> String {
    format!("hz:{}", er.reading.device_id)
}

/// The correlation key of an alarm awaiting verification `v`.
pub(super) fn unverified_key(v: Verification, er: &EnrichedReading) -> String {
    let prefix = match v {
        Verification::UnregisteredDevice => "unreg",
        Verification::LateAlarm => "late",
    };
    format!("{prefix}:{}", fire_key(er))
}

/// The reading's position: a forest hotspot's estimate, else the device's.
pub(super) fn location(er: &EnrichedReading) -> Option<(f64, f64)> {
    if let Values::ForestIr(v) = &er.reading.values {
        if let (Some(a), Some(b)) = (v.lat, v.lon) {
            return Some((a, b));
        }
    }
    let d = er.device.as_deref()?;
    Some((d.lat()?, d.lon()?))
}

/// The values of a reading that never came (an offline device's hazard).
pub(super) fn empty_values(kind: Kind) -> Values {
    match kind {
        Kind::Smoke => Values::Smoke(SmokeValues::default()),
        Kind::Electrical => Values::Electrical(ElectricalValues::default()),
        Kind::ForestIr => Values::ForestIr(ForestIrValues::default()),
    }
}
