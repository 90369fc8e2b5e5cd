//! A registry of real Chongqing divisions in 渝北区 for the routing and escalation tests:
//! 双龙湖街道 (urban, 五星路社区 and 龙昌街社区 with micro stations), 玉峰山镇 (rural, one micro
//! station at 石坪社区 covering only its community), 龙兴镇 (its 迎龙社区 micro station lies 1 km
//! from 玉峰山镇's 环山村) and 统景镇 (far north-east: no micro station within 15 km, a forest team).
//! Coordinates are approximate WGS-84 positions of the places.

#![allow(dead_code)]

use firegrid_alerting::detect::Signal;
use firegrid_alerting::incident::{Class, Incident, IncidentSignal, Severity, Status};
use firegrid_ingest::{RegistryPaths, SharedRegistry, SiteType};

pub const STATIONS: &str = "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url
ds-500112,渝北区消防救援站,district,500112,,,29.7180,106.6312,,true,
tt-500112002,双龙湖街道专职消防队,township_team,500112,500112002,,29.7250,106.6360,,true,
tt-500112129,玉峰山镇专职消防队,township_team,500112,500112129,,29.7050,106.7350,,true,
tt-500112133,统景镇专职消防队,township_team,500112,500112133,,29.8800,106.8800,,true,
ms-500112002001,五星路社区微型消防站,micro,500112,500112002,500112002001,29.7205,106.6302,,true,
ms-500112002002,龙昌街社区微型消防站,micro,500112,500112002,500112002002,29.7230,106.6350,,true,
ms-500112129001,石坪社区微型消防站,micro,500112,500112129,500112129001,29.7000,106.7450,,true,
ms-500112131001,迎龙社区微型消防站,micro,500112,500112131,500112131001,29.6900,106.7900,,true,
ft-500112133,统景镇森林消防队,forest_team,500112,500112133,,29.8850,106.8900,,true,
";

pub const GRIDS: &str = "grid_id,community,manager,phone,webhook_url
500112002001-g1,500112002001,王芳,13800000001,
500112129203-g1,500112129203,李强,13800000002,
";

/// The fixture as a shared registry (files written under `dir`).
pub fn registry(dir: &std::path::Path) -> SharedRegistry {
    registry_from(dir, STATIONS, GRIDS)
}

/// A registry from the given stations and grids files (no devices).
pub fn registry_from(dir: &std::path::Path, stations: &str, grids: &str) -> SharedRegistry {
    let paths = RegistryPaths {
        devices: dir.join("devices.csv"),
        stations: dir.join("stations.csv"),
        grids: dir.join("grids.csv"),
    };
    std::fs::write(
        &paths.devices,
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n",
    )
    .expect("devices.csv");
    std::fs::write(&paths.stations, stations).expect("stations.csv");
    std::fs::write(&paths.grids, grids).expect("grids.csv");
    SharedRegistry::load(paths).expect("fixture registry loads")
}

/// An incident at a place.
pub fn incident(
    class: Class,
    severity: Severity,
    township: &str,
    community: &str,
    grid: &str,
    at: Option<(f64, f64)>,
) -> Incident {
    Incident {
        id: format!("INC-500112-20261129-{:04}", community.len() + township.len()),
        class,
        severity,
        status: Status::Open,
        correlation_key: "hh:h1".into(),
        county: "500112".into(),
        township: township.into(),
        community: community.into(),
        grid_id: grid.into(),
        household_id: "h1".into(),
        address: "3 栋 2 单元 502 室".into(),
        site_type: Some(SiteType::Residential),
        vulnerable: false,
        lat: at.map(|p| p.0),
        lon: at.map(|p| p.1),
        devices: vec!["sd-1".into()],
        alarm_devices: vec!["sd-1".into()],
        sounding_devices: vec!["sd-1".into()],
        signals: vec![IncidentSignal::Alarm(Signal::Smoke)],
        confirmed: None,
        confirmed_by: None,
        silenced: false,
        opened_at_ms: 1_795_935_417_000,
        updated_at_ms: 1_795_935_417_000,
        first_alarm_ms: 1_795_935_417_000,
        last_alarm_ms: 1_795_935_417_000,
        evidence_count: 1,
        notified_stations: vec![],
        notified_grids: vec![],
        summary: String::new(),
        verification: None,
    }
}

/// A high fire in a home of 五星路社区, 双龙湖街道.
pub fn wuxinglu_fire() -> Incident {
    incident(Class::Fire, Severity::High, "500112002", "500112002001", "500112002001-g1", Some((29.7210, 106.6310)))
}
