//! `GET /api/v1/openapi.json`: the OpenAPI 3 description of `/api/v1` (DESIGN §7), a document
//! kept by hand in `openapi.json` and embedded in the binary. It is served without a token: it is
//! the published contract (the same text as in the repository) and client generators fetch it
//! before anyone has a token.
//!
//! Hand-kept rather than derived (utoipa): deriving needs an annotation on every handler and a
//! schema derive on every response type across the crate for a dozen routes, and a derived
//! document still drifts from a route added without its annotation. What keeps this one honest is
//! the test below (every route added through [`super::routes::ApiRoutes`] is described and every
//! described operation is routed) and `tests/openapi.rs` (the running server answers every
//! described operation, refuses the others with 405, and no `/api/` route is added outside the
//! table).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

pub(super) async fn serve() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], DOCUMENT).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(method, path)` of every operation the document describes.
    fn described() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.insert((method.clone(), path.clone()));
            }
        }
        ops
    }

    #[test]
    fn every_api_route_is_described_and_every_described_operation_is_routed() {
        let routed: BTreeSet<(String, String)> =
            super::super::api_routes().into_iter().map(|(v, p)| (v.to_owned(), p.to_owned())).collect();
        let described = described();
        let undescribed: Vec<_> = routed.difference(&described).collect();
        let unrouted: Vec<_> = described.difference(&routed).collect();
        assert!(undescribed.is_empty(), "routes missing from openapi.json: {undescribed:?}");
        assert!(unrouted.is_empty(), "openapi.json describes operations the router lacks: {unrouted:?}");
    }

    #[test]
    fn the_document_is_openapi_3_with_a_response_for_every_operation() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for (method, path) in described() {
            let op = &doc["paths"][&path][&method];
            assert!(op["responses"]["200"].is_object(), "{method} {path} has no 200 response");
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
            let templated = path.matches('{').count();
            let params = op["parameters"].as_array().map_or(0, |p| p.iter().filter(|p| p["in"] == "path").count());
            assert_eq!(templated, params, "{method} {path}: every path parameter is described");
        }
    }
}
