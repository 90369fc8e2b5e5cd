//! Tests of what the correlator tells the rest of the crate only: the open-incident counts of the
//! gauges and the record of who was notified (the dispatch stage's `dispatched` transition).

use std::sync::Arc;

use firegrid_ingest::{Device, DeviceRecord, EnrichedReading, Kind, Reading, SiteType, SmokeValues, Status, Values};

use crate::config::AlertingConfig;
use crate::engine::AlertCore;
use crate::incident::{Action, Class, Event, Status as IStatus};

const T0: i64 = 1_795_917_600_000;

/// A reading of a registered residential smoke detector of household `household`.
fn reading(id: &str, household: &str, ts_ms: i64, status: Status, v: SmokeValues) -> EnrichedReading {
    let device = DeviceRecord::from(Device {
        device_id: id.to_owned(),
        kind: Kind::Smoke,
        county: "500112".to_owned(),
        township: "500112002".to_owned(),
        community: "500112002003".to_owned(),
        grid_id: "g-1".to_owned(),
        household_id: household.to_owned(),
        address: String::new(),
        lat: Some(29.72),
        lon: Some(106.63),
        site_type: SiteType::Residential,
        vulnerable: false,
    });
    EnrichedReading {
        reading: Reading {
            device_id: id.to_owned(),
            kind: Kind::Smoke,
            county: "500112".to_owned(),
            township: "500112002".to_owned(),
            ts_ms,
            received_at_ms: ts_ms,
            seq: None,
            status,
            values: Values::Smoke(v),
        },
        device: Some(Arc::new(device)),
        location_mismatch: false,
    }
}

fn alarm(id: &str, household: &str, ts_ms: i64) -> EnrichedReading {
    let v = SmokeValues { obscuration_db_m: 0.4, alarm: Some(true), ..Default::default() };
    reading(id, household, ts_ms, Status::Alarm, v)
}

fn battery_low(id: &str, ts_ms: i64) -> EnrichedReading {
    let v = SmokeValues { obscuration_db_m: 0.0, battery_pct: Some(5.0), ..Default::default() };
    reading(id, "h-9", ts_ms, Status::Normal, v)
}

fn core() -> AlertCore {
    AlertCore::new(Arc::new(AlertingConfig::default().validate().expect("the defaults are valid")))
}

/// The id of the one incident a reading changed.
fn opened(core: &mut AlertCore, r: &EnrichedReading) -> String {
    let out = core.on_reading(r, r.reading.received_at_ms);
    assert_eq!(out.incidents.len(), 1, "{out:?}");
    out.incidents[0].id.clone()
}

#[test]
fn open_incidents_are_counted_per_class_in_class_order() {
    let mut core = core();
    assert_eq!(core.correlator().open_counts(), [0; 4]);
    opened(&mut core, &alarm("sd-1", "h-1", T0));
    opened(&mut core, &alarm("sd-2", "h-2", T0));
    let hazard = opened(&mut core, &battery_low("sd-3", T0));
    assert_eq!(Class::ALL, [Class::Fire, Class::ElectricalFire, Class::ForestFire, Class::Hazard]);
    assert_eq!(core.correlator().open_counts(), [2, 0, 0, 1]);
    core.act(&hazard, Action::Ack, "grid:g-1", "", T0 + 1).expect("ack");
    core.act(&hazard, Action::Rectified, "grid:g-1", "", T0 + 2).expect("rectified");
    assert_eq!(core.correlator().open_counts(), [2, 0, 0, 0], "a closed incident is not open");
}

#[test]
fn notifying_an_open_fire_dispatches_it_once_and_records_who_was_told() {
    let mut core = core();
    let fire = opened(&mut core, &alarm("sd-1", "h-1", T0));
    let stations = ["ms-1".to_owned(), "tt-1".to_owned()];
    let out = core.notified(&fire, &stations, &["g-1".to_owned()], "dispatch", T0 + 5).expect("notified");
    let events: Vec<_> = out.audit.iter().map(|a| (a.event, a.to_status)).collect();
    assert_eq!(events, [(Event::Dispatched, IStatus::Dispatched)]);
    let inc = &out.incidents[0];
    assert_eq!(
        (inc.notified_stations.as_slice(), inc.notified_grids.as_slice()),
        (&stations[..], &["g-1".to_owned()][..])
    );
    assert_eq!(inc.updated_at_ms, T0 + 5);
    // Told again in a later round: recorded once, no second transition.
    let again = core.notified(&fire, &stations[..1], &[], "dispatch", T0 + 9).expect("notified again");
    assert!(again.audit.is_empty(), "{:?}", again.audit);
    assert_eq!(again.incidents[0].notified_stations, stations);
}

#[test]
fn notifying_a_hazard_or_an_acknowledged_fire_changes_no_status() {
    let mut core = core();
    let hazard = opened(&mut core, &battery_low("sd-3", T0));
    let out = core.notified(&hazard, &[], &["g-1".to_owned()], "dispatch", T0 + 5).expect("hazard notified");
    assert!(out.audit.is_empty(), "{:?}", out.audit);
    assert_eq!(out.incidents[0].status, IStatus::Open, "a hazard stays open when notified");
    let fire = opened(&mut core, &alarm("sd-1", "h-1", T0));
    core.act(&fire, Action::Ack, "station:ms-1", "", T0 + 1).expect("ack");
    let out = core.notified(&fire, &["tt-1".to_owned()], &[], "dispatch", T0 + 5).expect("fire notified");
    assert!(out.audit.is_empty(), "{:?}", out.audit);
    assert_eq!(out.incidents[0].status, IStatus::Acknowledged);
    assert!(core.notified("INC-none", &[], &[], "dispatch", T0).is_err(), "an unknown incident is refused");
}
