//! firegrid alerting: fire detection, incident correlation and lifecycle, the durable incident
//! store, 城乡一体 dispatch and the HTTP API with the dispatcher console (DESIGN §5, §6, §7).
//!
//! # Layout
//!
//! The folders follow the pipeline of DESIGN §1; arrows point at what a module uses.
//!
//! ```text
//! readings ─► detect ─► incident ─► engine ─► dispatch ─► stations, grid managers, console
//!              (rules)   (correlate)  (store)   (route, escalate, deliver)
//!                                       ▲          │
//!                  http (API, console) ─┘          └─ acks and status over MQTT (control)
//! ```
//!
//! - [`detect`]: the rules per sensor kind and the per-device state they keep (pure).
//! - [`incident`]: the incident model, lifecycle, evidence, notifications, correlation and
//!   severity (pure).
//! - [`engine`]: [`Engine`] runs detect → correlate with the store and the dispatch planner;
//!   [`engine::AlertCore`] is the same pipeline without I/O; [`EngineHandle`] reaches a running one.
//! - [`forward`]: actions taken on an instance that does not lead the incident's partition,
//!   carried through the shared store to the owning leader (DESIGN §9).
//! - [`partition`]: alert partitions — the lease state machine, the lease in PostgreSQL, the
//!   leader guard the dispatch loop asks before each send.
//! - [`store`]: the SQLite incident store, its schema and migrations, and its thread.
//! - [`dispatch`]: routing ([`dispatch::StationPicker`]), escalation, the outbox's delivery over
//!   MQTT, webhooks and server-sent events, MQTT acknowledgements, assembled as [`DispatchStage`].
//! - [`http`]: one router for the API and the console, one `Caller` extractor; `/api/v1` routes are
//!   added through one table that the OpenAPI document (`/api/v1/openapi.json`) is checked against.
//! - [`access`]: API tokens, the role × action table, private secret files.
//! - [`config`]: the `[alerting]` table, validated once into [`AlertSettings`] (`[dispatch]` is
//!   [`DispatchConfig`]).
//! - Leaves used across the folders: `settings` (the validated values), `clock`, `geo`,
//!   `named_enum` and `by_name` (enums whose names are contract, and serde by name).
//!
//! Pure modules take an explicit clock and do no I/O; `store`, `engine`, `dispatch::{deliver,
//! notify, control}` and `http` are the edges.
//!
//! # Wiring
//!
//! The binary validates the `[alerting]` table once ([`AlertingConfig::validate`]), opens the
//! engine, builds the dispatch stage beside it, serves the stage's router, and spawns the stage
//! once its MQTT client exists:
//!
//! ```no_run
//! # async fn wire(
//! #     config: firegrid_alerting::AlertingConfig,
//! #     dispatch: firegrid_alerting::DispatchSettings,
//! #     registry: firegrid_ingest::SharedRegistry,
//! #     metrics: &prometheus::Registry,
//! #     tokens_file: &std::path::Path,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use firegrid_alerting::{DispatchStage, Engine, TokenSet};
//! let settings = config.validate()?;
//! let mut engine = Engine::open(settings, registry, std::path::Path::new("firegrid-data"), metrics)?;
//! let stage = DispatchStage::new(dispatch, &mut engine, "firegrid/v1", metrics)?;
//! let api: axum::Router = stage.router(engine.handle(), TokenSet::load(tokens_file)?);
//! let (readings_tx, readings_rx) = tokio::sync::mpsc::channel(10_000); // enriched readings from ingest
//! let (lines_tx, _lines_rx) = tokio::sync::mpsc::channel(1_000); // fire_incident lines to the TSDB writer
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let task = tokio::spawn(engine.run(readings_rx, lines_tx, shutdown.clone()));
//! # drop((api, readings_tx));
//! shutdown.cancel();
//! task.await??;
//! # Ok(())
//! # }
//! ```

#![warn(unreachable_pub, missing_debug_implementations)]

#[macro_use]
mod named_enum;

pub mod access;
mod by_name;
pub mod config;
pub mod detect;
pub mod dispatch;
pub mod engine;
pub mod forward;
pub mod http;
pub mod incident;
pub mod partition;
mod settings;
pub mod store;

pub use access::{SharedTokens, TokenSet};
pub use config::{AlertSettings, AlertingConfig};
pub use dispatch::{DispatchConfig, DispatchSettings, DispatchStage};
pub use engine::{AlertError, Engine, EngineHandle};
