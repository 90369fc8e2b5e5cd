//! Builders shared by the integration tests: registered devices and readings of each kind.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use firegrid_ingest::reading::{
    ElectricalValues, EnrichedReading, ForestIrValues, Kind, Reading, SmokeValues, Status, Values,
};
use firegrid_ingest::registry::{Device, SiteType};

/// 2026-11-29 02:00 UTC (10:00 in Chongqing).
pub const T0: i64 = 1_795_917_600_000;
pub const S: i64 = 1000;
pub const MIN: i64 = 60 * S;

pub fn device(id: &str, kind: Kind, household: &str, site: SiteType, vulnerable: bool) -> Arc<Device> {
    located(id, kind, household, site, vulnerable, 29.72, 106.63)
}

pub fn located(
    id: &str,
    kind: Kind,
    household: &str,
    site: SiteType,
    vulnerable: bool,
    lat: f64,
    lon: f64,
) -> Arc<Device> {
    Arc::new(Device {
        device_id: id.to_owned(),
        kind,
        county: "500112".to_owned(),
        township: "500112002".to_owned(),
        community: "500112002003".to_owned(),
        grid_id: "g-1".to_owned(),
        household_id: household.to_owned(),
        address: "五星路 3 栋 2 单元 502 室".to_owned(),
        lat: Some(lat),
        lon: Some(lon),
        site_type: site,
        vulnerable,
        line_prefix: String::new(),
    })
}

pub fn reading(d: &Arc<Device>, ts_ms: i64, seq: Option<u64>, status: Status, values: Values) -> EnrichedReading {
    EnrichedReading {
        reading: Reading {
            device_id: d.device_id.clone(),
            kind: d.kind,
            county: d.county.clone(),
            township: d.township.clone(),
            ts_ms,
            received_at_ms: ts_ms,
            seq,
            status,
            values,
        },
        device: Some(d.clone()),
        location_mismatch: false,
    }
}

pub fn smoke(d: &Arc<Device>, ts_ms: i64, obscuration: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::Smoke(SmokeValues { obscuration_db_m: obscuration, ..Default::default() }),
    )
}

pub fn smoke_with(d: &Arc<Device>, ts_ms: i64, status: Status, v: SmokeValues) -> EnrichedReading {
    reading(d, ts_ms, None, status, Values::Smoke(v))
}

pub fn smoke_alarm(d: &Arc<Device>, ts_ms: i64, seq: Option<u64>) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        seq,
        Status::Alarm,
        Values::Smoke(SmokeValues { obscuration_db_m: 0.4, alarm: Some(true), ..Default::default() }),
    )
}

pub fn electrical(d: &Arc<Device>, ts_ms: i64, residual_ma: f64, cable_c: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::Electrical(ElectricalValues {
            residual_current_ma: residual_ma,
            cable_temp_c: vec![cable_c, 25.0],
            ..Default::default()
        }),
    )
}

pub fn forest(
    d: &Arc<Device>,
    ts_ms: i64,
    max_temp_c: f64,
    hotspot_px: u32,
    smoke_score: Option<f64>,
) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::ForestIr(ForestIrValues { max_temp_c, hotspot_px, smoke_score, ..Default::default() }),
    )
}

pub fn forest_at(d: &Arc<Device>, ts_ms: i64, lat: f64, lon: f64) -> EnrichedReading {
    reading(
        d,
        ts_ms,
        None,
        Status::Normal,
        Values::ForestIr(ForestIrValues {
            max_temp_c: 150.0,
            hotspot_px: 40,
            smoke_score: Some(0.9),
            lat: Some(lat),
            lon: Some(lon),
            ..Default::default()
        }),
    )
}
