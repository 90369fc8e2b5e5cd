//! firegrid simulator: a realistic Chongqing sensor fleet generated from the real divisions
//! data, its registry files (DESIGN §3), normal readings on the wire contract (DESIGN §2),
//! fire and nuisance scenarios with their ground truth, MQTT publishers — a paced load
//! generator and a scenario runner — and the scoring of what firegrid made of a run
//! (`firegrid eval`). Generation and scoring are pure and deterministic for a seed; only
//! [`publisher`], [`run`], [`load`], [`progress`], [`cli`] and the collectors of [`eval`] do I/O.
//!
//! # Layout
//!
//! The modules follow a run from the fleet to its score:
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`fleet`] | the fleet: divisions data, generation (county → township → community), registry files |
//! | [`readings`] | a quiet fleet's readings in time order, merged with what scenarios inject; wire payloads |
//! | [`scenario`] | the scenarios, their schedule (a leaf), ground truth (a leaf) and the plan of a run |
//! | [`publisher`] | the counting MQTT publisher both commands use |
//! | [`run`] | the scenario runner: the fleet and its scenarios in real time, truth as they start |
//! | [`load`] | the load generator: readings as fast as asked |
//! | [`eval`] | scoring a run against its truth (pure), and collecting incidents and dispatches |
//! | [`progress`] | the progress bar on a terminal (none in JSON mode or off a terminal) |
//! | [`cli`] | the `firegrid simulate …` subcommands |
//! | `rng`, [`error`] | leaves: the seeded random stream, the error type |
//!
//! Dependencies point one way: `scenario::schedule`, `scenario::truth`, `readings::payload`,
//! `rng` and `error` are leaves; `readings` and `scenario` build on them and on `fleet`;
//! `run` and `load` on those; `eval` only on `scenario::truth`.

#![warn(unreachable_pub)]

pub mod cli;
pub mod error;
pub mod eval;
pub mod fleet;
pub mod load;
pub mod progress;
pub mod publisher;
pub mod readings;
mod rng;
pub mod run;
pub mod scenario;

pub use cli::SimulateCommand;
pub use error::SimError;
pub use fleet::{generate_registry, paths_in, write_registry, Fleet, FleetSpec};
pub use load::{run_load, LoadReport, LoadSpec};
pub use readings::{NormalReadings, ReadingGenerator};
pub use run::{run_scenario, run_scenario_observed, run_scenario_until, RunProgress, RunReport, RunSpec};
pub use scenario::schedule::Message;
pub use scenario::truth::{ExpectedClass, TruthRecord};
pub use scenario::ScenarioKind;
