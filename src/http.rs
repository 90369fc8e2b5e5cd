//! The HTTP edge: `/metrics` (Prometheus text, with the renames of [`crate::metrics`]), `/healthz` (process up) and `/readyz`
//! (broker connected, store writable, alert engine committing). Component routers (the incident API, the console)
//! are merged in by `run`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use firegrid_alerting::engine::{EngineHealth, EngineState};
use firegrid_ingest::mqtt::connection::ConnState;
use firegrid_ingest::writer::health::StoreHealth;
use prometheus::{Encoder, TextEncoder};

use crate::metrics::{with_new_names, ServiceMetrics};
use serde::Serialize;

/// What the built-in endpoints read.
#[derive(Clone, Debug)]
pub(crate) struct HttpState {
    /// Every metric of the process.
    pub(crate) metrics: prometheus::Registry,
    /// MQTT connection.
    pub(crate) mqtt: Arc<ConnState>,
    /// Store health.
    pub(crate) store: Arc<StoreHealth>,
    /// The alert engine's health, when alerting runs.
    pub(crate) alerting: Option<Arc<EngineHealth>>,
    /// The gauges set at scrape time.
    pub(crate) service: ServiceMetrics,
}

/// The built-in routes.
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let mut buf = Vec::with_capacity(16 * 1024);
    let encoder = TextEncoder::new();
    s.service.store_up.set(i64::from(store_state(&s.store) == "ok"));
    match encoder.encode(&with_new_names(s.metrics.gather()), &mut buf) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, encoder.format_type().to_owned())], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    mqtt_connected: bool,
    store: &'static str,
    /// The alert engine: `ok`, `incident_store_failing` or `stalled` (absent when alerting does
    /// not run). Acknowledgements wait for the engine's commit, so either failure is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    alerting: Option<&'static str>,
    /// The store's answer while the bucket, organization or database is missing (HTTP 404).
    #[serde(skip_serializing_if = "Option::is_none")]
    store_missing: Option<String>,
    /// When the store last accepted a write, epoch ms (absent before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_store_write_ms: Option<i64>,
}

/// The store as `/readyz` names it.
fn store_state(h: &StoreHealth) -> &'static str {
    if h.missing_target().is_some() {
        "target_missing"
    } else if h.unauthorized.load(Ordering::Relaxed) {
        "unauthorized"
    } else if h.spool_full.load(Ordering::Relaxed) {
        "failing_spool_full"
    } else if h.spooling.load(Ordering::Relaxed) {
        "degraded_spooling"
    } else if h.failing.load(Ordering::Relaxed) {
        "failing"
    } else {
        "ok"
    }
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let mqtt_connected = s.mqtt.connected.load(Ordering::Acquire);
    // Spooling keeps ingestion going: the store is degraded but firegrid is ready. A full
    // spool, refused credentials or a failing store without a spool are not ready.
    let store = store_state(&s.store);
    let alerting = s.alerting.as_ref().map(|h| h.state(firegrid_ingest::clock::now_ms()));
    let ready =
        mqtt_connected && matches!(store, "ok" | "degraded_spooling") && alerting.is_none_or(|a| a == EngineState::Ok);
    let alerting = alerting.map(EngineState::as_str);
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let last = s.store.last_ok_ms.load(Ordering::Relaxed);
    let last_store_write_ms = (last > 0).then_some(last);
    let store_missing = s.store.missing_target();
    (code, Json(Readiness { ready, mqtt_connected, store, alerting, store_missing, last_store_write_ms }))
}
