//! Webhook delivery: `POST` of the dispatch message as JSON to the recipient's `webhook_url`,
//! with `Idempotency-Key: incident_id:station_id:role:seq` so a receiver can drop the duplicates
//! that at-least-once delivery may bring, and signed so it can refuse forgeries and replays:
//! `X-Firegrid-Timestamp: <epoch seconds>` and `X-Firegrid-Signature: sha256=<hex HMAC-SHA256 of
//! "{timestamp}.{body}">` under the configured secret (never logged, never empty: see
//! [`crate::dispatch::DispatchSettings::check_webhooks`]). A receiver recomputes the HMAC
//! and refuses a timestamp older than 5 minutes (DESIGN §6 has a 10-line receiver).
//!
//! A 2xx answer is delivery; anything else — a redirect included: redirects are not followed, a
//! 3xx could send the signed fire notification to another host — is retried by the delivery loop
//! with capped exponential backoff. A webhook URL's query and path often carry the receiver's
//! access token (DingTalk, WeCom, Feishu robots): errors name the URL by its origin only
//! ([`redact`]), so no token reaches a log, a metric, `last_error` or the dispatch log.

use std::time::Duration;

/// A webhook attempt that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    /// The HTTP client could not be built.
    #[error("webhook client: {0}")]
    Client(String),
    /// There is no secret to sign with (a registry reload added a URL): nothing is sent unsigned.
    #[error("webhook {url}: not sent: dispatch.webhook_secret is empty and webhooks are never sent unsigned")]
    NoSecret {
        /// The URL's origin ([`redact`]).
        url: String,
    },
    /// The request failed (connection, timeout).
    #[error("webhook {url}: {message}")]
    Request {
        /// The URL's origin ([`redact`]).
        url: String,
        /// What failed (reqwest's message without the URL).
        message: String,
    },
    /// The receiver answered with a non-2xx status (a redirect included: it is not followed).
    #[error("webhook {url}: HTTP {status}{}", redirect_note(.status))]
    Status {
        /// The URL's origin ([`redact`]).
        url: String,
        /// The status code.
        status: u16,
    },
}

fn redirect_note(status: &u16) -> &'static str {
    if (300..400).contains(status) {
        " (redirects are not followed)"
    } else {
        ""
    }
}

/// The URL as it may be shown: scheme, host and port, then `/…` when it had more. The path and
/// query of a robot webhook carry its access token; user info may carry a password.
pub(crate) fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let more = u.path() != "/" || u.query().is_some() || u.fragment().is_some();
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}{}", u.scheme(), if more { "/…" } else { "" })
        }
        Err(_) => "<unparsable webhook_url>".to_owned(),
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `message` under `secret`.
pub(crate) fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, message);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag.as_ref() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// The `X-Firegrid-Signature` value of `body` sent at `timestamp_s` (epoch seconds): the HMAC of
/// `"{timestamp_s}.{body}"`, so a captured request cannot be replayed later with a new timestamp.
pub(crate) fn signature(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let mut message = timestamp_s.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    hmac_sha256_hex(secret, &message)
}

/// What failed, with its causes ("error sending request: client error (Connect): tcp connect
/// error: Connection refused"), and never the URL: should a cause quote it, its path and query
/// are cut out.
fn request_error(e: reqwest::Error, url: &str) -> String {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    let secret_parts = reqwest::Url::parse(url)
        .map(|u| [u.query().map(str::to_owned), Some(u.path().to_owned()).filter(|p| p.len() > 1)])
        .unwrap_or_default();
    for part in secret_parts.into_iter().flatten() {
        message = message.replace(&part, "…");
    }
    message.replace(url, &redact(url))
}

/// A webhook sender (cheap to clone).
#[derive(Clone)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    secret: std::sync::Arc<Vec<u8>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook { secret: <redacted> }")
    }
}

impl Webhook {
    /// A sender with a per-request timeout, the HMAC secret and, when set, a private CA bundle
    /// (`dispatch.webhook_ca_file`) trusted besides the built-in roots; it follows no redirect.
    pub(crate) fn new(
        timeout: Duration,
        secret: Vec<u8>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Webhook, WebhookError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = ca_file {
            builder = firegrid_ingest::ca_file::trust_ca_file(builder, ca, "dispatch.webhook_ca_file")
                .map_err(|e| WebhookError::Client(e.to_string()))?;
        }
        let client = builder.build().map_err(|e| WebhookError::Client(e.without_url().to_string()))?;
        Ok(Webhook { client, secret: std::sync::Arc::new(secret) })
    }

    /// Posts one message, signed at `timestamp_s` (epoch seconds).
    pub(crate) async fn send(
        &self,
        url: &str,
        idempotency_key: &str,
        body: &str,
        timestamp_s: i64,
    ) -> Result<(), WebhookError> {
        if self.secret.is_empty() {
            return Err(WebhookError::NoSecret { url: redact(url) });
        }
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-firegrid-timestamp", timestamp_s.to_string())
            .header("x-firegrid-signature", signature(&self.secret, timestamp_s, body.as_bytes()))
            .header("idempotency-key", idempotency_key)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| WebhookError::Request { url: redact(url), message: request_error(e, url) })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(WebhookError::Status { url: redact(url), status: status.as_u16() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hmac_is_the_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        // python3: hmac.new(b"s3cret", b"1764399360.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"s3cret", 1_764_399_360, b"{}"),
            "sha256=1222290225d671caa240563beecfd5d238d89648f41db831aaebf99c5627074e"
        );
        assert_ne!(signature(b"s3cret", 1_764_399_361, b"{}"), signature(b"s3cret", 1_764_399_360, b"{}"));
    }

    #[test]
    fn a_redacted_url_keeps_only_its_origin() {
        for (url, shown) in [
            ("https://oapi.dingtalk.com/robot/send?access_token=abc123", "https://oapi.dingtalk.com/…"),
            ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-9", "https://qyapi.weixin.qq.com/…"),
            ("https://open.feishu.cn/open-apis/bot/v2/hook/tok-77", "https://open.feishu.cn/…"),
            ("http://user:pw@127.0.0.1:8081/hook#frag", "http://127.0.0.1:8081/…"),
            ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
            ("not a url?access_token=abc123", "<unparsable webhook_url>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[tokio::test]
    async fn a_failed_request_says_why_without_the_url() {
        // A port that was free a moment ago: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let url = format!("http://127.0.0.1:{port}/robot/send?access_token=tok-123");
        let w = Webhook::new(Duration::from_secs(2), b"k".to_vec(), None).expect("client");
        let e = w.send(&url, "k1", "{}", 0).await.expect_err("refused").to_string();
        assert!(e.starts_with(&format!("webhook http://127.0.0.1:{port}/…: ")), "{e}");
        assert!(e.to_ascii_lowercase().contains("connect"), "the cause is kept: {e}");
        assert!(!e.contains("tok-123") && !e.contains("/robot/send"), "{e}");
    }

    #[test]
    fn errors_show_the_redacted_url_and_say_a_redirect_is_not_followed() {
        let e = WebhookError::Status { url: redact("https://h.example/x?access_token=t0k"), status: 302 };
        assert_eq!(e.to_string(), "webhook https://h.example/…: HTTP 302 (redirects are not followed)");
        let e = WebhookError::Status { url: redact("https://h.example/x?access_token=t0k"), status: 500 };
        assert_eq!(e.to_string(), "webhook https://h.example/…: HTTP 500");
    }
}
