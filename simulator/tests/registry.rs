//! The generated registry is what firegrid's loader accepts, and is deterministic.

use std::collections::HashSet;
use std::path::Path;

use firegrid_ingest::{Registry, Tier};
use firegrid_simulator::fleet::{generate_registry, FleetSpec};
use firegrid_simulator::fleet::{paths_in, write_registry};

#[test]
fn the_generated_registry_loads_through_the_ingest_loader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = generate_registry(&FleetSpec::default()).expect("generates");
    let paths = write_registry(&fleet, dir.path()).expect("writes");
    let reg = Registry::load(&paths).expect("loads");
    assert_eq!(reg.device_count(), fleet.devices.len());
    assert_eq!(reg.stations().len(), fleet.stations.len());
    assert_eq!(reg.grids().count(), fleet.grids.len());
    // Addresses with spaces and Chinese text survive the round trip.
    let d = &fleet.devices[0];
    let loaded = reg.device(&d.device_id).expect("first device");
    assert_eq!(loaded.address(), d.address);
    assert_eq!(loaded.household_id(), d.household_id);
    assert_eq!(loaded.lat(), d.lat);
    // Forest teams cover their townships explicitly; the others take the DESIGN §3 default.
    let forest = reg.stations().iter().find(|s| s.tier == Tier::ForestTeam).expect("a forest team");
    assert!(!forest.covers.is_empty() && forest.covers.iter().all(|c| c.len() == 9));
    let micro = reg.stations().iter().find(|s| s.tier == Tier::Micro).expect("a micro station");
    assert_eq!(micro.covers, vec![micro.community.clone()]);
    let grids: HashSet<_> = reg.grids().map(|g| g.grid_id.clone()).collect();
    assert!(reg.devices().all(|d| grids.contains(d.grid_id())));
}

#[test]
fn the_same_seed_writes_byte_identical_files() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    for dir in [a.path(), b.path()] {
        let fleet = generate_registry(&FleetSpec::default()).expect("generates");
        write_registry(&fleet, dir).expect("writes");
    }
    for name in ["devices.csv", "stations.csv", "grids.csv"] {
        let x = std::fs::read(a.path().join(name)).expect("read");
        let y = std::fs::read(b.path().join(name)).expect("read");
        assert!(x == y, "{name} differs between two runs with the same seed");
    }
}

#[test]
fn the_sample_registry_in_deploy_is_the_default_seed_output() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let fleet = generate_registry(&FleetSpec::default()).expect("generates");
    write_registry(&fleet, tmp.path()).expect("writes");
    let committed = paths_in(&deploy);
    Registry::load(&committed).expect("the committed sample registry loads");
    for name in ["devices.csv", "stations.csv", "grids.csv"] {
        let want = std::fs::read(tmp.path().join(name)).expect("read");
        let have = std::fs::read(deploy.join(name)).expect("read deploy/registry");
        assert!(
            want == have,
            "deploy/registry/{name} is stale: regenerate with `cargo run -p firegrid-simulator --example sample_registry`"
        );
    }
}

#[test]
fn a_fleet_read_back_from_its_registry_files_is_the_generated_fleet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = generate_registry(&FleetSpec::default()).expect("generates");
    let paths = write_registry(&fleet, dir.path()).expect("writes");
    let back = firegrid_simulator::Fleet::from_registry(&Registry::load(&paths).expect("loads"), fleet.seed);
    let mut devices = fleet.devices.clone();
    devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    assert_eq!(back.devices, devices);
    assert_eq!(back.grids.len(), fleet.grids.len());
    assert_eq!(back.stations.len(), fleet.stations.len());
}
