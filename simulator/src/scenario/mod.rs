//! Scenarios: fire and nuisance events injected into a fleet's readings as pure functions of
//! time, each with its ground truth. A kitchen fire spreading detector to detector, cooking
//! steam, the test button, a low battery, tampering, a device going offline, residual current
//! creeping to an electrical fire, an arc fault, a growing forest hotspot, sun glint and
//! malformed messages. Scenario timings are in real milliseconds (what firegrid's rules
//! measure); only the background heartbeat is sped up in a demo.
//!
//! Layout:
//! - [`schedule`] — leaf: the messages, scheduled readings, silences and injections a run is
//!   made of;
//! - [`truth`] — leaf: the ground-truth record of an event and what firegrid should make of it;
//! - [`plan`] — which devices each scenario of a run plays on, and when;
//! - `inject` — one scenario on its devices: the scene the builders below share;
//! - `fires`, `hazards`, `nuisances`, [`malformed`] — the builders, by what firegrid should do;
//! - `values` — the readings' values and the severities the builders expect.

mod fires;
mod hazards;
mod inject;
pub mod malformed;
mod nuisances;
pub mod plan;
pub mod schedule;
pub mod truth;
mod values;

pub use plan::{plan, PlanSpec};
pub use schedule::{Injection, Message, ScheduledReading, Silence};
pub use truth::{ExpectedClass, Severity, TruthRecord};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// Smoke spreads from the kitchen detector to the others of a home.
    KitchenFire,
    /// One reading over 0.15 dB/m from steam, then normal.
    CookingSteam,
    /// The test button: `status=test` with the alarm on.
    TestButton,
    /// A detector's battery runs low.
    LowBattery,
    /// A detector is removed from its base.
    Tamper,
    /// A device stops reporting.
    Offline,
    /// Residual current creeping 250→320 mA over 40 s and staying there.
    ResidualCurrentCreep,
    /// An arc fault.
    ArcFault,
    /// A forest hotspot growing over four minutes.
    ForestHotspot,
    /// One hot camera frame from sun glint.
    SunGlint,
    /// One message for each dead-letter reason.
    Malformed,
}

impl ScenarioKind {
    /// Every scenario, in a fixed order.
    pub const ALL: [ScenarioKind; 11] = [
        ScenarioKind::KitchenFire,
        ScenarioKind::CookingSteam,
        ScenarioKind::TestButton,
        ScenarioKind::LowBattery,
        ScenarioKind::Tamper,
        ScenarioKind::Offline,
        ScenarioKind::ResidualCurrentCreep,
        ScenarioKind::ArcFault,
        ScenarioKind::ForestHotspot,
        ScenarioKind::SunGlint,
        ScenarioKind::Malformed,
    ];

    /// The name in truth records and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::KitchenFire => "kitchen_fire",
            ScenarioKind::CookingSteam => "cooking_steam",
            ScenarioKind::TestButton => "test_button",
            ScenarioKind::LowBattery => "low_battery",
            ScenarioKind::Tamper => "tamper",
            ScenarioKind::Offline => "offline",
            ScenarioKind::ResidualCurrentCreep => "residual_current_creep",
            ScenarioKind::ArcFault => "arc_fault",
            ScenarioKind::ForestHotspot => "forest_hotspot",
            ScenarioKind::SunGlint => "sun_glint",
            ScenarioKind::Malformed => "malformed",
        }
    }
}
