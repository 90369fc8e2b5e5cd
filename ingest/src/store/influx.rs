//! The InfluxDB write API as a [`LineStore`] (DESIGN §4, §8): InfluxDB 1.x/2.x/3.x and
//! VictoriaMetrics, over HTTP, with the response status classified into what the writer does.
//!
//! Responses: 2xx delivered; 429, 5xx and network errors retried (honouring `Retry-After`);
//! 413 too large (the writer splits the batch); 400/422 rejected with the server's message (the
//! writer bisects down to the offending lines); 401/403 unauthorised (retried, `/readyz` fails).
//!
//! The influxdb2 crate was the intended client, but its write call hides the response headers
//! (no `Retry-After`) and treats every status but 204 as an error; the same request is made
//! here with reqwest, the HTTP client the crate itself wraps.

use std::time::Duration;

use super::{LineStore, WriteResult};
use crate::config::InfluxSettings;

/// The HTTP client for the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// reqwest could not build a client (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The InfluxDB v2 `/api/v2/write` endpoint.
#[derive(Debug, Clone)]
pub struct InfluxV2 {
    client: reqwest::Client,
    settings: InfluxSettings,
}

impl InfluxV2 {
    /// A client for the configured endpoint.
    pub fn new(settings: InfluxSettings) -> Result<InfluxV2, InfluxError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(InfluxV2 { client, settings })
    }
}

impl LineStore for InfluxV2 {
    async fn write(&self, body: &str) -> WriteResult {
        let mut req = self
            .client
            .post(&self.settings.write_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_owned());
        if !self.settings.token.is_empty() {
            // InfluxDB 2.x/3.x take `Token …` on both APIs; 1.x ignores it without auth enabled.
            req = req.header(reqwest::header::AUTHORIZATION, format!("Token {}", self.settings.token));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return WriteResult::Retry { after: None, reason: format!("request failed: {e}") },
        };
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        if (200..300).contains(&status) {
            return WriteResult::Ok;
        }
        let text: String = resp.text().await.unwrap_or_default().chars().take(512).collect();
        classify(status, retry_after, text)
    }
}

/// Maps a non-2xx status to what the writer does about it.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, text: String) -> WriteResult {
    match status {
        413 => WriteResult::TooLarge,
        400 | 422 => WriteResult::Rejected(text),
        401 | 403 => WriteResult::Unauthorized(format!("HTTP {status}: {text}")),
        _ => WriteResult::Retry { after: retry_after, reason: format!("HTTP {status}: {text}") },
    }
}

/// `Retry-After` in seconds (the HTTP-date form falls back to the writer's own backoff).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_handling() {
        assert_eq!(classify(413, None, String::new()), WriteResult::TooLarge);
        assert_eq!(classify(400, None, "bad".into()), WriteResult::Rejected("bad".into()));
        assert_eq!(classify(422, None, "bad".into()), WriteResult::Rejected("bad".into()));
        assert!(matches!(classify(401, None, String::new()), WriteResult::Unauthorized(_)));
        assert!(matches!(classify(403, None, String::new()), WriteResult::Unauthorized(_)));
        let d = Some(Duration::from_secs(3));
        assert!(matches!(classify(429, d, String::new()), WriteResult::Retry { after, .. } if after == d));
        assert!(matches!(classify(503, None, String::new()), WriteResult::Retry { after: None, .. }));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
