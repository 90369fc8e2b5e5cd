//! firegrid alerting: fire detection rules, incident correlation and lifecycle, the durable
//! incident store and the HTTP API (DESIGN §5), and 城乡一体 dispatch (DESIGN §6). Pure modules
//! (`rules`, `correlate`, `incident`, `core`, `line`, `routing`, `verify_route`, `escalation`,
//! `summary`, `message`, `names`, `permissions`, `note`) do no I/O and take an explicit clock;
//! `store`, `engine`, `api`, `deliver`,
//! `notify`, `control` and `dispatch_api` are the edges.
//!
//! Dispatch: [`dispatch::Dispatch`] is the engine's [`outbox::Dispatcher`] (routing and escalation
//! timers, persisted with every transition; incidents with no recipient are `unroutable` and
//! routed again when availability or the registry changes); [`deliver::Delivery`] drains the
//! outbox to MQTT (delivered on the broker's PUBACK), signed webhooks and the console's SSE;
//! [`control::Control`] applies acknowledgements and station
//! status from MQTT. [`stage::DispatchStage`] assembles them for the binary:
//! `DispatchStage::new(settings, &mut engine, …)` after [`Engine::open`], its
//! `control_route()` for the MQTT consumer, its `router(tokens)` merged into the HTTP app, and
//! `spawn(engine.handle(), acker, &mqtt_settings, stop)` once the MQTT client exists.
//!
//! Wiring in the binary (the `[alerting]` table of firegrid.toml is [`AlertingConfig`]; see
//! [`config::SAMPLE_TOML`]):
//!
//! ```no_run
//! # async fn wire(
//! #     config: firegrid_alerting::AlertingConfig,
//! #     registry: firegrid_ingest::SharedRegistry,
//! #     metrics: &prometheus::Registry,
//! #     tokens_file: &std::path::Path,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use firegrid_alerting::{router, Engine, TokenSet};
//! let engine = Engine::open(config, registry, std::path::Path::new("firegrid-data"), metrics)?;
//! let api: axum::Router = router(engine.handle(), TokenSet::load(tokens_file)?);
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

pub mod api;
pub mod auth;
pub mod availability;
pub mod config;
pub mod console;
pub mod control;
pub mod core;
pub mod correlate;
pub mod deliver;
pub mod dispatch;
pub mod dispatch_api;
pub mod dispatch_config;
pub mod dispatch_metrics;
pub mod engine;
pub mod escalation;
pub mod evidence;
pub mod health;
pub mod incident;
pub mod line;
pub mod message;
pub mod metrics;
pub mod names;
pub mod note;
pub mod notify;
pub mod outbox;
pub mod permissions;
pub mod private_file;
pub mod routing;
pub mod rules;
pub mod settings;
pub mod severity;
pub mod stage;
pub mod store;
pub mod summary;
pub mod verify_route;

pub use api::router;
pub use auth::{SharedTokens, TokenSet};
pub use config::AlertingConfig;
pub use engine::{AlertError, Engine, EngineHandle};
