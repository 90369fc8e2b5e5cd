//! A registry watched for silence a step at a time (issue 14: the engine watches a city's
//! registry between readings) ends exactly where watching it at once does: the same devices go
//! offline at the same ticks, on a first load and after a reload that adds and removes devices,
//! with readings evaluated between the steps.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use firegrid_alerting::config::AlertingConfig;
use firegrid_alerting::detect::Rewatch;
use firegrid_alerting::engine::AlertCore;
use firegrid_ingest::{Device, Kind, Registry, SiteType};

const HOUR: i64 = 3600 * S;

fn registry(ids: std::ops::Range<usize>) -> Arc<Registry> {
    let mut reg = Registry::default();
    for n in ids {
        reg.insert_device(Device {
            device_id: format!("sd-{n:03}"),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002003".into(),
            grid_id: "g-1".into(),
            household_id: format!("hh-{n}"),
            address: String::new(),
            lat: None,
            lon: None,
            site_type: if n % 3 == 0 { SiteType::School } else { SiteType::Residential },
            vulnerable: false,
        });
    }
    Arc::new(reg)
}

/// Watches `reg` in steps of `step` devices from `at`, a reading of `heard` evaluated between
/// the first two steps.
fn watch_in_steps(core: &mut AlertCore, reg: &Arc<Registry>, step: usize, at: i64, heard: &str) -> usize {
    let mut job = Rewatch::new(reg.clone());
    let mut steps = 1;
    let first_done = core.rewatch_step(&mut job, step, at);
    let d = reg.device(heard).unwrap();
    core.on_reading(&smoke(d, at, 0.01), at);
    if !first_done {
        while !core.rewatch_step(&mut job, step, at) {
            steps += 1;
        }
        steps += 1;
    }
    steps
}

fn watch_at_once(core: &mut AlertCore, reg: &Arc<Registry>, at: i64, heard: &str) {
    core.watch_registry(reg, at);
    core.on_reading(&smoke(reg.device(heard).unwrap(), at, 0.01), at);
}

/// Offline counts of both cores at the same ticks: they must agree.
fn offline_over_a_day(a: &mut AlertCore, b: &mut AlertCore, from: i64) -> Vec<usize> {
    let mut counts = Vec::new();
    for h in 0..=24 {
        let (oa, ob) = (a.on_tick(from + h * HOUR), b.on_tick(from + h * HOUR));
        assert_eq!(oa.audit.len(), ob.audit.len(), "hazards raised at hour {h}");
        assert_eq!(a.offline_count(), b.offline_count(), "offline at hour {h}");
        counts.push(a.offline_count());
    }
    counts
}

#[test]
fn a_registry_watched_in_steps_sends_the_same_devices_offline_as_one_watched_at_once() {
    let (mut at_once, mut stepped) = (core_with(AlertingConfig::default()), core_with(AlertingConfig::default()));
    let reg = registry(0..100);
    watch_at_once(&mut at_once, &reg, T0, "sd-090");
    assert_eq!(
        watch_in_steps(&mut stepped, &reg, 7, T0, "sd-090"),
        16,
        "15 steps of devices (the last checks 56 slots), 1 more of slots"
    );
    let counts = offline_over_a_day(&mut at_once, &mut stepped, T0);
    assert_eq!(counts.last(), Some(&100), "every device, the one heard between the steps included, goes silent");
    assert_eq!(counts.first(), Some(&0), "none before its offline delay");
}

#[test]
fn a_reload_watched_in_steps_watches_the_added_devices_like_one_watched_at_once() {
    let (mut at_once, mut stepped) = (core_with(AlertingConfig::default()), core_with(AlertingConfig::default()));
    let (first, reloaded) = (registry(0..100), registry(50..150));
    watch_at_once(&mut at_once, &first, T0, "sd-010");
    watch_at_once(&mut stepped, &first, T0, "sd-010");
    let later = T0 + 2 * HOUR;
    watch_at_once(&mut at_once, &reloaded, later, "sd-140");
    watch_in_steps(&mut stepped, &reloaded, 9, later, "sd-140");
    let counts = offline_over_a_day(&mut at_once, &mut stepped, later);
    assert_eq!(counts.last(), Some(&150), "the removed devices stay watched, the added ones are watched too");
}
