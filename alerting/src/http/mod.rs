//! The HTTP API and the dispatcher console (DESIGN §6, §7): one axum router ([`router`]) over
//! one state ([`HttpParts`]), every `/api/v1` route but the OpenAPI document authenticated by the one [`Caller`]
//! extractor (`Authorization: Bearer <token>`, 401 without), refusals as JSON
//! `{"error": code, "reason": text}` ([`ApiError`]).
//!
//! - `incidents`: list, detail, responder actions.
//! - `dispatch`: station availability, the live feed of dispatch messages.
//! - `registry`: `POST /api/v1/registry/reload` (admin), as SIGHUP.
//! - `openapi`: `GET /api/v1/openapi.json`, the OpenAPI 3 description of `/api/v1` (no token),
//!   checked against the routes added through `routes::ApiRoutes`.
//! - [`console`]: the page and its read-only API (whoami, stations, dispatch log, unroutable).
//!
//! [`Caller`]: caller::Caller
//! [`ApiError`]: error::ApiError

mod caller;
pub mod console;
mod dispatch;
mod error;
mod incidents;
mod openapi;
mod registry;
mod routes;

use axum::Router;
use firegrid_ingest::SharedRegistry;
use routes::ApiRoutes;
use routes::Verb::{Get, Post};

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
    api().into_router().merge(console::router()).with_state(parts)
}

/// `(method, path template)` of every `/api/v1` route the router serves, sorted (`("get",
/// "/api/v1/incidents/{id}")`): what the OpenAPI document must describe.
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    api().table().into_iter().map(|(verb, path)| (verb.as_str(), path)).collect()
}

/// The `/api/v1` routes. Add a route here only, through [`ApiRoutes::add`], and describe it in
/// `openapi.json`: a test compares the two.
fn api() -> ApiRoutes<HttpParts> {
    ApiRoutes::new()
        .add(Get, "/api/v1/openapi.json", openapi::serve)
        .add(Get, "/api/v1/incidents", incidents::list)
        .add(Get, "/api/v1/incidents/{id}", incidents::show)
        .add(Post, "/api/v1/incidents/{id}/{action}", incidents::act)
        .add(Get, "/api/v1/incidents/{id}/dispatch", console::api::dispatch_log)
        .add(Get, "/api/v1/stations", console::api::stations)
        .add(Post, "/api/v1/stations/{id}/availability", dispatch::set_availability)
        .add(Get, "/api/v1/events", dispatch::events)
        .add(Get, "/api/v1/whoami", console::api::whoami)
        .add(Get, "/api/v1/dispatch/unroutable", console::api::unroutable)
        .add(Post, "/api/v1/registry/reload", registry::reload)
}
