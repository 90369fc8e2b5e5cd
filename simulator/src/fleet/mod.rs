//! The sensor fleet: the devices, stations and grids of chosen Chongqing counties, as the three
//! registry files of DESIGN §3 describe them. A fleet is either generated from a seed and the
//! real divisions data, or read back from registry files ([`Fleet::from_registry`]).
//!
//! Layout:
//! - `model` — [`Fleet`]: ingest's registry rows, generated or read back;
//! - `directory` — [`DeviceDirectory`]: only what a publisher needs of each device, compact, built
//!   from a fleet or streamed from `devices.csv`;
//! - `spec` — [`FleetSpec`]: what to generate, its defaults and checks;
//! - `generate` — [`generate_registry`]: per county a district station, townships on a spiral,
//!   forest teams over the forested ones;
//! - `township` — a township's team, communities, special sites and forest cameras;
//! - `community` — a community's grids, micro station, homes, small venues and rental buildings;
//! - `divisions` — the embedded Chongqing divisions data the fleet is laid on;
//! - `place`, `names` — leaves: positions on the map, Chinese names and addresses;
//! - `files` — the fleet as `devices.csv`, `stations.csv`, `grids.csv`, through ingest's one
//!   registry writer.

mod community;
mod directory;
pub(crate) mod divisions;
mod files;
mod generate;
mod model;
mod names;
pub(crate) mod place;
mod spec;
mod township;

pub use directory::{DeviceDirectory, DeviceRef};
pub use files::{paths_in, write_registry};
pub use generate::{generate_registry, load_fleet};
pub use model::Fleet;
pub use spec::{FleetSpec, DEFAULT_COUNTIES, DEFAULT_SEED};
