//! firegrid alerting: fire detection rules, incident correlation and lifecycle, the durable
//! incident store and the HTTP API (DESIGN §5). Pure modules (`rules`, `correlate`, `incident`,
//! `core`, `line`) do no I/O and take an explicit clock; `store`, `engine` and `api` are the edges.

pub mod api;
pub mod auth;
pub mod config;
pub mod core;
pub mod correlate;
pub mod engine;
pub mod evidence;
pub mod incident;
pub mod line;
pub mod metrics;
pub mod outbox;
pub mod rules;
pub mod settings;
pub mod severity;
pub mod store;

pub use api::router;
pub use auth::TokenSet;
pub use config::AlertingConfig;
pub use engine::{AlertError, Engine, EngineHandle};
