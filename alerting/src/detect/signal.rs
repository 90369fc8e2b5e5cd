//! What detection finds in a reading: a fire alarm [`Signal`] or a [`Hazard`] (隐患). Their names
//! are kept in an incident's `signals` and read by dispatchers, so they are contract.

named_enum!(
    /// A fire alarm signal.
    pub enum Signal {
        /// Smoke (the detector's alarm or sustained obscuration).
        Smoke => "smoke",
        /// Heat at a smoke detector.
        Heat => "heat",
        /// Electrical fire alarm (residual current, cable temperature, arc fault).
        Electrical => "electrical",
        /// Confirmed forest hotspot.
        Hotspot => "hotspot",
    }
);

named_enum!(
    /// A hazard (隐患): not a fire, but something the grid must rectify.
    pub enum Hazard {
        /// The device reports a fault.
        Fault => "fault",
        /// Removed from its base.
        Tamper => "tamper",
        /// Battery low.
        BatteryLow => "battery_low",
        /// Electrical residual-current pre-alarm.
        ResidualPrealarm => "residual_prealarm",
        /// Forest smoke score pre-alarm (verify).
        SmokePrealarm => "smoke_prealarm",
        /// No message for the offline delay.
        Offline => "offline",
    }
);

impl Hazard {
    /// The hazard's bit in a device's set of raised hazards.
    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}
