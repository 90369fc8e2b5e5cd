//! Writes the sample registry (`deploy/registry/`) for the default seed and counties, and
//! prints what it holds: `cargo run -p firegrid-simulator --example sample_registry [DIR]`.

use std::path::PathBuf;

use firegrid_ingest::Kind;
use firegrid_simulator::fleet::write_registry;
use firegrid_simulator::fleet::{generate_registry, FleetSpec};

fn main() -> Result<(), firegrid_simulator::SimError> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/registry"));
    let fleet = generate_registry(&FleetSpec::default())?;
    let paths = write_registry(&fleet, &dir)?;
    println!(
        "{}: {} devices ({} smoke, {} electrical, {} forest_ir), {} stations, {} grids",
        dir.display(),
        fleet.devices.len(),
        fleet.count(Kind::Smoke),
        fleet.count(Kind::Electrical),
        fleet.count(Kind::ForestIr),
        fleet.stations.len(),
        fleet.grids.len()
    );
    println!("{}\n{}\n{}", paths.devices.display(), paths.stations.display(), paths.grids.display());
    Ok(())
}
