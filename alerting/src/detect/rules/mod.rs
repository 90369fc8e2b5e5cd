//! The detection rule of each sensor kind (DESIGN §5): [`smoke`] (GB 20517), [`electrical`]
//! (GB 14287, GB 50116) and [`forest_ir`] (林下红外烟火监控). A rule reads one non-test reading and
//! the device's state of its kind, and adds what it finds to the reading's
//! [`Assessment`](super::Assessment): fire alarm signals, and hazards whose edges the detector
//! keeps. Pure: the caller keeps the state per device.

pub(crate) mod electrical;
pub(crate) mod forest_ir;
pub(crate) mod smoke;
