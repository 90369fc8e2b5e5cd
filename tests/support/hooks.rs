//! A webhook receiver on 127.0.0.1 for the dispatch tests: `/hook/{who}` answers a settable
//! status (200 by default), `/redirect/{who}` answers 302 to `/moved/{who}` (which answers 200),
//! every request is recorded before it is answered; and the receiver's side of DESIGN §6 — the
//! signature check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

/// One request a [`Hooks`] receiver got.
#[derive(Debug, Clone)]
pub struct Hooked {
    /// `hook/{who}`, `redirect/{who}` or `moved/{who}`.
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub timestamp: String,
    pub signature: String,
    pub key: String,
    pub body: String,
    pub answered: u16,
}

/// A webhook receiver on 127.0.0.1: `/hook/{who}` answers `status` (200 by default),
/// `/redirect/{who}` answers 302 to `/moved/{who}` (which answers 200), and every request is
/// recorded.
pub struct Hooks {
    pub base: String,
    status: Arc<Mutex<u16>>,
    rx: mpsc::UnboundedReceiver<Hooked>,
    pub seen: Vec<Hooked>,
    task: tokio::task::JoinHandle<()>,
}

impl Hooks {
    pub async fn start() -> Result<Hooks> {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(200u16));
        let st = status.clone();
        let app = axum::Router::new().route(
            "/{kind}/{who}",
            axum::routing::post(
                move |axum::extract::Path((kind, who)): axum::extract::Path<(String, String)>,
                      uri: axum::http::Uri,
                      headers: HeaderMap,
                      body: String| {
                    let (tx, st) = (tx.clone(), st.clone());
                    async move {
                        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let hook_status = st.lock().map(|s| *s).unwrap_or(200);
                        let (status, location) = match kind.as_str() {
                            "redirect" => (302, Some(format!("/moved/{who}"))),
                            "hook" => (hook_status, None),
                            _ => (200, None),
                        };
                        let _ = tx.send(Hooked {
                            path: format!("{kind}/{who}"),
                            query: uri.query().unwrap_or("").to_owned(),
                            timestamp: h("x-firegrid-timestamp"),
                            signature: h("x-firegrid-signature"),
                            key: h("idempotency-key"),
                            body,
                            answered: status,
                        });
                        let mut resp = axum::response::Response::new(axum::body::Body::empty());
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                        if let Some(l) = location.and_then(|l| l.parse().ok()) {
                            resp.headers_mut().insert(axum::http::header::LOCATION, l);
                        }
                        resp
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Hooks { base, status, rx, seen: Vec::new(), task })
    }

    /// What `/hook/{who}` answers from now on.
    pub fn answer(&self, status: u16) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }

    /// Waits until `pred` holds over everything received so far.
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&[Hooked]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.take_arrived();
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(h)) => self.seen.push(h),
                _ => bail!("webhook condition not met within {timeout:?}; received {:?}", self.seen),
            }
        }
        Ok(())
    }

    /// Takes in the requests received so far, without waiting: each is recorded before it is
    /// answered, so every attempt firegrid has seen answered is here.
    pub fn take_arrived(&mut self) {
        while let Ok(h) = self.rx.try_recv() {
            self.seen.push(h);
        }
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The receiver of DESIGN §6 in Rust: the signature is the HMAC-SHA256 of `"{timestamp}.{body}"`
/// and the timestamp is at most 5 minutes from `now_s`.
pub fn verify(secret: &str, timestamp: &str, body: &str, signature: &str, now_s: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let Some(hex) = signature.strip_prefix("sha256=") else { return false };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    (now_s - ts).abs() <= 300 && ring::hmac::verify(&key, format!("{timestamp}.{body}").as_bytes(), &tag).is_ok()
}
