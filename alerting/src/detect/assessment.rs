//! What the rules make of one reading: the [`Verdict`] of the detector, and for a reading that is
//! not a redelivery its [`Assessment`] — fire alarm signals (level: repeated while the condition
//! holds), hazards newly raised (edge: once until the condition clears), and whether the device
//! is quiet again or was hushed.

use super::signal::{Hazard, Signal};

/// What the rules found in one reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Assessment {
    /// Fire alarm signals, with the reason each was raised.
    pub(crate) alarms: Vec<(Signal, String)>,
    /// Hazards newly raised by this reading, with the reason.
    pub(crate) hazards: Vec<(Hazard, String)>,
    /// The reading says the device is quiet again (normal, no alarm condition).
    pub(crate) quiet: bool,
    /// Hush was pressed on the device.
    pub(crate) silenced: bool,
}

impl Assessment {
    /// Nothing to correlate.
    pub(crate) fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.hazards.is_empty()
    }
}

/// Result of feeding one reading to the detector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// A redelivery of a reading already evaluated: ignore it.
    Duplicate,
    /// The reading was evaluated.
    Assessed(Assessment),
}
