//! What a partition's standby serves while it waits for the lease: `/healthz` (the process is
//! up: a liveness probe must not kill a healthy standby), `/readyz` answering 503 (it serves no
//! API, so a load balancer sends nothing to it) and `/metrics` with the partition gauges
//! (`firegrid_partition_leader` 0). It listens on `http.listen` and stops before a term's
//! service binds the same address.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
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
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(move || async move { (StatusCode::SERVICE_UNAVAILABLE, Json(body)) }))
            .route("/metrics", get(move || async move { metrics(&registry) }));
        let stop = CancellationToken::new();
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

fn metrics(registry: &prometheus::Registry) -> impl IntoResponse {
    let mut buf = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&registry.gather(), &mut buf) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, encoder.format_type().to_owned())], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
