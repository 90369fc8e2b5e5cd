//! What a partition's standby serves while it waits for the lease: `/healthz` (the process is
//! up: a liveness probe must not kill a healthy standby), `/readyz` answering 503 (it does not
//! lead: a load balancer that should reach only leaders leaves it out) and `/metrics` with the
//! partition gauges (`firegrid_partition_leader` 0) — and, read-only, the console and `/api/v1`
//! from the shared store (DESIGN §9 "Any instance serves everything"): lists, details, dispatch
//! logs and station availability are read there, and every action is forwarded to the owning
//! leader ([`Forwarder`] owning nothing); its live feed shows every partition's dispatch messages
//! (`firegrid_sse`). SIGHUP reloads the registry and the API tokens it serves, as on a leader
//! (a token revoked by a reload is refused by every instance, standbys included). It listens on
//! `http.listen` and stops before a term's service binds the same address.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use firegrid_alerting::dispatch::{Availability, SseHub};
use firegrid_alerting::forward::Forwarder;
use firegrid_alerting::http::HttpParts;
use firegrid_alerting::partition::Scope;
use firegrid_alerting::store::IncidentBackend;
use firegrid_alerting::{AlertError, EngineHandle};
use firegrid_ingest::SharedRegistry;

use crate::config::Settings;
use crate::run::reload::{reload_on, Hangups, Reloadable};
use crate::run::RunError;

/// The standby endpoint, running.
pub(super) struct Standby {
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Standby {
    /// Binds `http.listen` and serves the standby routes with the metrics of `registry`.
    pub(super) async fn serve(
        settings: &Settings,
        partition: &str,
        registry: prometheus::Registry,
    ) -> Result<Standby, RunError> {
        let addr = settings.http_listen;
        let listener = TcpListener::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
        let body = serde_json::json!({ "ready": false, "partition": partition, "partition_role": "standby" });
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(move || async move { (StatusCode::SERVICE_UNAVAILABLE, Json(body)) }))
            .route("/metrics", get(move || async move { metrics(&registry) }))
            .merge(read_only_api(settings, &stop)?);
        let task = tokio::spawn(crate::http_serve::serve(listener, app, settings.http_limits, stop.clone()));
        Ok(Standby { stop, task })
    }

    /// Stops serving and releases the address.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        if let Ok(Err(e)) = self.task.await {
            tracing::warn!(event = "standby_http_failed", error = %e, "the standby endpoint stopped with an error");
        }
    }
}

/// The console and `/api/v1` over the shared store, every action forwarded (see the module
/// doc); nothing outside PostgreSQL, which a partition requires.
fn read_only_api(settings: &Settings, stop: &CancellationToken) -> Result<Router, RunError> {
    let IncidentBackend::Postgres { url } = &settings.incidents else { return Ok(Router::new()) };
    // Listening before the files are read: a reload asked for meanwhile is not lost.
    let hangups = Hangups::listen();
    let forwarder = Forwarder::start(url.clone(), Scope::nothing());
    let engine = EngineHandle::read_only(&settings.incidents, Some(forwarder))?;
    let loaded = crate::registry_files::load(settings)?;
    let registry = SharedRegistry::from_registry(settings.registry.clone(), loaded.registry);
    let availability = Availability::for_engine(&engine).map_err(AlertError::from)?;
    tokio::spawn(availability.clone().follow(stop.clone()));
    let tokens = super::parts::load_tokens(&settings.tokens_file)?;
    let reloadable = Reloadable { registry: registry.clone(), tokens: Some(tokens.clone()), broker_users: None };
    tokio::spawn(reload_on(hangups, reloadable, stop.clone()));
    let parts = HttpParts { engine, tokens, registry, availability, events: SseHub::shared(url.clone()) };
    Ok(firegrid_alerting::http::router(parts))
}

fn metrics(registry: &prometheus::Registry) -> impl IntoResponse {
    let mut buf = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&registry.gather(), &mut buf) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, encoder.format_type().to_owned())], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
