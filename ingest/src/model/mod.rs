//! The domain model: what a reading is once the wire contract has accepted it, and the
//! registry of devices, stations and grids it is joined with. Nothing here does I/O except
//! reading and writing the registry files; nothing here knows MQTT, JSON or line protocol (a
//! device only holds the cache in which [`crate::lineproto`] keeps its encoded tags).
//!
//! - [`kind`]: the three sensor kinds; `codes`: device ids and division codes (leaves);
//! - [`reading`]: a decoded reading, its status and typed values;
//! - [`device`], [`station`], [`grid`]: the registry's rows;
//! - [`record`], [`device_id`], `names`: a device as the registry holds it — ids inline, text
//!   interned once per registry (issue 14);
//! - [`enriched`]: a reading joined with its device;
//! - [`registry`]: the loaded registry, its hot reload and its CSV files.

pub(crate) mod codes;
pub mod device;
pub mod device_id;
pub mod enriched;
pub mod grid;
pub mod kind;
pub(crate) mod names;
pub mod reading;
pub mod record;
pub mod registry;
pub mod station;
