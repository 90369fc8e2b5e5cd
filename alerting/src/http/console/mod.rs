//! The dispatcher console (DESIGN §6, §7): one page at `/`, its script and its stylesheet, embedded
//! in the binary with `include_str!` and served with no external CDN, font, tile server or other
//! network fetch — the Content-Security-Policy allows only this origin. The shell carries no
//! incident data: the page asks for a token (kept in `sessionStorage`) and reads everything through
//! the token-protected `/api/v1` routes — the incident list, the live stream `GET /api/v1/events`
//! (read with `fetch` so it can send `Authorization`; the page polls the list every 2 s when the
//! stream is unavailable), the stations (`api`) and each incident's detail and dispatch log.
//!
//! `/?station=ID` shows only the incidents that station was notified of; `&lang=en` switches the
//! labels from Chinese to English. Times are shown in Asia/Shanghai.

pub(super) mod api;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

const APP_JS_PATH: &str = "/console/app.js";
const STYLE_CSS_PATH: &str = "/console/style.css";

/// Only this origin: the page can fetch nothing from elsewhere, and no inline script runs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Bytes the browser loads for the console: HTML + JS + CSS.
pub const fn page_weight() -> usize {
    INDEX_HTML.len() + APP_JS.len() + STYLE_CSS.len()
}

/// The console's routes: `/`, the script and the stylesheet.
pub(super) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }))
        .route(APP_JS_PATH, get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route(STYLE_CSS_PATH, get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_console_assets_reference_nothing_outside_the_binary() {
        for (name, text) in [("index.html", INDEX_HTML), ("app.js", APP_JS), ("style.css", STYLE_CSS)] {
            // The SVG namespace is a name, not a fetch.
            let text = text.replace("'http://www.w3.org/2000/svg'", "");
            for needle in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!text.contains(needle), "{name} contains {needle:?}");
            }
        }
        assert!(INDEX_HTML.contains(APP_JS_PATH) && INDEX_HTML.contains(STYLE_CSS_PATH));
        assert!(!INDEX_HTML.contains("<script>"), "no inline script: the CSP forbids it");
    }

    #[test]
    fn the_page_weight_stays_small() {
        assert!(page_weight() < 96 * 1024, "console is {} bytes", page_weight());
    }

    #[tokio::test]
    async fn the_routes_serve_each_asset_with_its_type_and_the_policy() {
        use tower::ServiceExt as _;
        for (path, ty, body) in [
            ("/", "text/html", INDEX_HTML),
            (APP_JS_PATH, "text/javascript", APP_JS),
            (STYLE_CSS_PATH, "text/css", STYLE_CSS),
        ] {
            let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
            let r = router::<()>().oneshot(req).await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let h = r.headers().clone();
            assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(ty), "{path}");
            assert!(h[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("connect-src 'self'"));
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            assert_eq!(bytes, body.as_bytes(), "{path}");
        }
    }
}
