//! The tower layers around every HTTP route (console, API, `/metrics`, probes): gzip for
//! responses that gain from it (tower-http's default predicate leaves `text/event-stream`, images
//! and small bodies alone, so the live feed is never buffered), a deadline for producing a
//! response (a stream, once started, is not cut), and one `event = "http_request"` log line plus
//! `firegrid_http_requests_total{route,code}` per request. `route` is the matched path template
//! (`/api/v1/incidents/{id}`), never the raw path: ids and tokens in paths stay out of metrics.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use prometheus::IntCounterVec;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

/// How long a handler may take to produce its response (the SSE stream's headers included).
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `route` label of a request that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// `app` with compression, the response deadline and request accounting.
pub(crate) fn apply(app: Router, requests: IntCounterVec) -> Router {
    app.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let requests = requests.clone();
        async move { account(req, next, &requests).await }
    }))
    .layer(CompressionLayer::new())
    .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, RESPONSE_TIMEOUT))
}

/// Counts and logs one request by its route template.
async fn account(req: Request, next: Next, requests: &IntCounterVec) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let code = resp.status().as_u16();
    requests.with_label_values(&[&route, code_label(code)]).inc();
    tracing::info!(event = "http_request", method = %method, route = %route, code,
        duration_ms = started.elapsed().as_millis() as u64);
    resp
}

/// The status code as a label from a fixed set (anything odd counts as its class).
pub(crate) fn code_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        422 => "422",
        500 => "500",
        503 => "503",
        c if c < 300 => "2xx",
        c if c < 400 => "3xx",
        c if c < 500 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_a_fixed_label_set() {
        assert_eq!(code_label(200), "200");
        assert_eq!(code_label(418), "4xx");
        assert_eq!(code_label(599), "5xx");
        assert_eq!(code_label(302), "3xx");
    }
}
