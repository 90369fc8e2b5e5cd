//! firegrid simulator: a realistic Chongqing sensor fleet generated from the real divisions
//! data, its registry files (DESIGN §3), normal readings on the wire contract (DESIGN §2),
//! fire and nuisance scenarios with their ground truth, and MQTT publishers — a paced load
//! generator and a scenario runner. Generation is pure and deterministic for a seed; only
//! [`load`], [`run`] and [`cli`] do I/O.

pub mod cli;
pub mod divisions;
pub mod error;
pub mod eval;
pub mod eval_collect;
pub mod eval_report;
pub mod fleet;
pub mod geo;
pub mod load;
pub mod malformed;
pub mod mqtt;
pub mod names;
pub mod payload;
pub mod plan;
pub mod readings;
pub mod registry_files;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod truth;

pub use cli::SimulateCommand;
pub use error::SimError;
pub use fleet::{generate_registry, Fleet, FleetSpec};
pub use load::{run_load, LoadReport, LoadSpec};
pub use readings::{Message, ReadingGenerator};
pub use run::{run_scenario, RunReport, RunSpec};
pub use truth::TruthRecord;
