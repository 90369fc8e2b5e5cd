//! The OpenAPI document against the running server (DESIGN §7): `GET /api/v1/openapi.json`
//! answers without a token with the document kept in the repository; every operation it describes
//! is routed (401 without a token: the route exists and is authenticated) and every other method
//! on a described path is refused with 405; and no `/api/` route is added outside the table the
//! alerting crate's unit test compares with the document (`ApiRoutes`), so a route cannot join
//! the API undescribed.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const DOCUMENT: &str = "alerting/src/http/openapi.json";

/// A concrete path for a template: `{id}` and `{action}` filled with sample values.
fn concrete(template: &str) -> String {
    template.replace("{id}", "INC-500112-20260101-1").replace("{action}", "ack")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_routes_exactly_the_operations_its_openapi_document_describes() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let devices = support::fleet::devices(2);
        let reg = support::fleet::write_registry(dir.path(), &devices)?;
        let c = support::embedded::self_contained_config(dir.path(), &reg, "openapi")?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let base = format!("http://{}", running.http_addr);
        let http = reqwest::Client::new();

        let served = http.get(format!("{base}/api/v1/openapi.json")).send().await?;
        ensure!(served.status() == StatusCode::OK, "the document needs no token: {}", served.status());
        let doc: Value = served.json().await?;
        let kept: Value = serde_json::from_str(&std::fs::read_to_string(DOCUMENT)?)?;
        ensure!(doc == kept, "the served document is the one in {DOCUMENT}");

        let paths = doc["paths"].as_object().context("paths")?;
        ensure!(paths.keys().all(|p| p.starts_with("/api/v1/")), "the document describes /api/v1 only");
        for (template, item) in paths {
            let url = format!("{base}{}", concrete(template));
            for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                let described = item.get(method.as_str().to_lowercase()).is_some();
                let status = http.request(method.clone(), &url).send().await?.status();
                let want = match (described, template.as_str()) {
                    (true, "/api/v1/openapi.json") => StatusCode::OK,
                    (true, _) => StatusCode::UNAUTHORIZED,
                    (false, _) => StatusCode::METHOD_NOT_ALLOWED,
                };
                ensure!(status == want, "{method} {template}: {status}, want {want}");
            }
        }
        ensure!(
            paths.len()
                == firegrid_alerting::http::api_routes()
                    .iter()
                    .map(|(_, p)| p)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
            "the document's paths are the router's"
        );
        shutdown.cancel();
        running.wait().await?;
        anyhow::Ok(())
    })
    .await?
}

/// Every `.route(` call in a source file, with the line number.
fn route_calls(file: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    Ok(text.lines().enumerate().filter(|(_, l)| l.contains(".route(")).map(|(n, l)| (n + 1, l.to_owned())).collect())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn no_api_route_is_added_outside_the_table_the_document_is_checked_against() -> Result<()> {
    let mut files = vec![Path::new("src/http.rs").to_path_buf()];
    rust_files(Path::new("alerting/src/http"), &mut files)?;
    rust_files(Path::new("src/run"), &mut files)?;
    let mut bypass = Vec::new();
    for file in &files {
        for (line, text) in route_calls(file)? {
            if text.contains("\"/api") {
                bypass.push(format!("{}:{line}: {}", file.display(), text.trim()));
            }
        }
    }
    ensure!(bypass.is_empty(), "add /api/v1 routes with ApiRoutes::add and describe them in openapi.json: {bypass:?}");
    Ok(())
}
