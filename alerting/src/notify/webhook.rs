//! Webhook delivery: `POST` of the dispatch message as JSON to the recipient's `webhook_url`,
//! signed `X-Firegrid-Signature: sha256=<hex HMAC-SHA256 of the body>` with the configured
//! secret (never logged), with `Idempotency-Key: incident_id:station_id:role:seq` so a receiver
//! can drop the duplicates that at-least-once delivery may bring. A 2xx answer is delivery;
//! anything else is retried by the delivery loop with capped exponential backoff.

use std::time::Duration;

/// A webhook attempt that failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The HTTP client could not be built.
    #[error("webhook client: {0}")]
    Client(String),
    /// The request failed (connection, timeout).
    #[error("webhook {url}: {message}")]
    Request {
        /// The URL (no secrets: webhook URLs come from the registry).
        url: String,
        /// What failed.
        message: String,
    },
    /// The receiver answered with a non-2xx status.
    #[error("webhook {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
}

/// `sha256=<hex>` of the body under the secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag.as_ref() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// A webhook sender (cheap to clone).
#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    secret: std::sync::Arc<Vec<u8>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook { secret: <redacted> }")
    }
}

impl Webhook {
    /// A sender with a per-request timeout and the HMAC secret.
    pub fn new(timeout: Duration, secret: Vec<u8>) -> Result<Webhook, WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Webhook { client, secret: std::sync::Arc::new(secret) })
    }

    /// Posts one message.
    pub async fn send(&self, url: &str, idempotency_key: &str, body: &str) -> Result<(), WebhookError> {
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-firegrid-signature", signature(&self.secret, body.as_bytes()))
            .header("idempotency-key", idempotency_key)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| WebhookError::Request { url: url.to_owned(), message: e.without_url().to_string() })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(WebhookError::Status { url: url.to_owned(), status: status.as_u16() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
