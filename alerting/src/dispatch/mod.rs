//! Dispatch (DESIGN §6, 城乡一体): from an incident's transitions to notified responders and back.
//!
//! - Planning, pure, on the engine's task: [`DispatchPlanner`] (the engine's [`crate::engine::Dispatcher`])
//!   routes each transition with a [`StationPicker`] over a registry snapshot and the stations'
//!   [`Availability`] (`routing`, `place`), keeps the escalation timers (`escalation`, and
//!   `overdue` for what happens when they fall due) and turns a round into messages and their
//!   outbox rows (`message`, with the Chinese sentence of `summary_zh` and `division_names`).
//! - Delivery, from the durable outbox: `deliver` drains it over the channels of `notify` (MQTT
//!   with PUBACK tracking, signed webhooks, the console's server-sent events).
//! - Control: `control` applies acknowledgements and station status arriving over MQTT.
//! - [`DispatchStage`] assembles them for the binary; `config` is `[dispatch]`; `metrics` the
//!   `firegrid_dispatch*` series.

mod availability;
mod config;
mod control;
mod deliver;
mod division_names;
mod escalation;
mod message;
mod metrics;
mod notify;
mod overdue;
mod place;
mod planner;
mod routing;
mod stage;
pub(crate) mod summary_zh;

pub(crate) use availability::parse_status_body;
pub use availability::{Availability, StationStatus};
pub use config::{DispatchConfig, DispatchSettings};
pub use control::{Control, Refusal};
pub use escalation::{Escalation, Slot};
pub use metrics::DispatchMetrics;
pub use notify::sse::{SseHub, SseItem};
pub use planner::{DispatchError, DispatchPlanner};
pub use routing::{Route, StationPicker};
pub use stage::{DispatchStage, StageError};
