//! Detection (DESIGN §5) as pure code: readings and an explicit clock in, assessments out.
//!
//! - [`signal`]: what can be found — fire alarm signals and hazards (leaf).
//! - [`rules`]: one rule per sensor kind (smoke, electrical, forest camera).
//! - `detector`: the stage — per-device rule state, redelivery memory, offline tracking — fed one
//!   reading at a time; `state` is what it keeps per device and persists as `rule_state` rows.
//! - `dedup` (redeliveries), `generations` (bounded state of unregistered ids), `watch` (registered devices: state and silence),
//!   `rewatch` (a reloaded registry watched in steps).
//!
//! None of it does I/O or reads a wall clock.

mod assessment;
mod dedup;
mod detector;
mod generations;
mod rewatch;
pub(crate) mod rules;
pub(crate) mod signal;
mod state;
mod watch;

pub(crate) use assessment::{Assessment, Verdict};
pub use detector::Detector;
pub(crate) use detector::{DeviceRef, RowChange};
pub use rewatch::Rewatch;
pub use signal::{Hazard, Signal};
