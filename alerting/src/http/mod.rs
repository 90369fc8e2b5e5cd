//! The HTTP API and the dispatcher console (DESIGN §6, §7): one axum router ([`router`]) over
//! one state ([`HttpParts`]), every `/api/v1` route authenticated by the one [`Caller`]
//! extractor (`Authorization: Bearer <token>`, 401 without), refusals as JSON
//! `{"error": code, "reason": text}` ([`ApiError`]).
//!
//! - `incidents`: list, detail, responder actions.
//! - `dispatch`: station availability, the live feed of dispatch messages.
//! - `registry`: `POST /api/v1/registry/reload` (admin), as SIGHUP.
//! - [`console`]: the page and its read-only API (whoami, stations, dispatch log, unroutable).
//!
//! [`Caller`]: caller::Caller
//! [`ApiError`]: error::ApiError

mod caller;
pub mod console;
mod dispatch;
mod error;
mod incidents;
mod registry;

use axum::routing::{get, post};
use axum::Router;
use firegrid_ingest::SharedRegistry;

use crate::access::SharedTokens;
use crate::dispatch::{Availability, SseHub};
use crate::engine::EngineHandle;

/// What the routes read and act on.
#[derive(Debug, Clone)]
pub struct HttpParts {
    /// The running engine.
    pub engine: EngineHandle,
    /// The tokens in force.
    pub tokens: SharedTokens,
    /// Stations, for the map and availability.
    pub registry: SharedRegistry,
    /// Station availability set at run time.
    pub availability: Availability,
    /// The live feed of dispatch messages.
    pub events: SseHub,
}

/// Every route of the API and the console, to serve beside the binary's `/metrics` and probes.
pub fn router(parts: HttpParts) -> Router {
    Router::new()
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route("/api/v1/incidents/{id}/{action}", post(incidents::act))
        .route("/api/v1/incidents/{id}/dispatch", get(console::api::dispatch_log))
        .route("/api/v1/stations", get(console::api::stations))
        .route("/api/v1/stations/{id}/availability", post(dispatch::set_availability))
        .route("/api/v1/events", get(dispatch::events))
        .route("/api/v1/whoami", get(console::api::whoami))
        .route("/api/v1/dispatch/unroutable", get(console::api::unroutable))
        .route("/api/v1/registry/reload", post(registry::reload))
        .merge(console::router())
        .with_state(parts)
}
