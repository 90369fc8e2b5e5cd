//! The InfluxDB write API as a [`LineStore`] (DESIGN §4, §8): InfluxDB 1.x/2.x/3.x and
//! VictoriaMetrics, over HTTP, with the response status classified into what the writer does.
//!
//! Responses: 2xx delivered; 429, 5xx and network errors retried (honouring `Retry-After`);
//! 413 too large (the writer splits the batch); 400/422 rejected with the server's message (the
//! writer bisects down to the offending lines); 401/403 unauthorised (retried, `/readyz` fails);
//! 404 a missing bucket, organization or database (retried, reported once, named by `/readyz`).
//!
//! Bodies are gzip-compressed by default (`store.influxdb.content_encoding`): line protocol
//! repeats its measurement and tag keys on every line, so it shrinks several-fold for a little
//! CPU (figures in README "Benchmarks"). `store.influxdb.ca_file` adds a private CA to the roots.
//!
//! The influxdb2 crate was the intended client, but its write call hides the response headers
//! (no `Retry-After`) and treats every status but 204 as an error; the same request is made
//! here with reqwest, the HTTP client the crate itself wraps.

use std::io::Write as _;
use std::time::Duration;

use flate2::write::GzEncoder;
use prometheus::IntCounter;

use super::{LineStore, WriteResult};
use crate::ca_file::{trust_ca_file, CaFileError};
use crate::config::InfluxSettings;

/// The HTTP client for the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// reqwest could not build a client (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// `store.influxdb.ca_file` cannot be used.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
}

/// Counters of what goes on the wire: line protocol bytes before encoding, body bytes after.
#[derive(Debug, Clone)]
pub struct WireCounters {
    /// Line protocol bytes handed to the store (before compression).
    pub line_bytes: IntCounter,
    /// Request body bytes sent (after compression).
    pub body_bytes: IntCounter,
}

/// The InfluxDB v2 `/api/v2/write` endpoint.
#[derive(Debug, Clone)]
pub struct InfluxV2 {
    client: reqwest::Client,
    settings: InfluxSettings,
    wire: Option<WireCounters>,
}

impl InfluxV2 {
    /// A client for the configured endpoint.
    pub fn new(settings: InfluxSettings) -> Result<InfluxV2, InfluxError> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(4);
        if let Some(ca) = &settings.ca_file {
            builder = trust_ca_file(builder, ca, "store.influxdb.ca_file")?;
        }
        Ok(InfluxV2 { client: builder.build()?, settings, wire: None })
    }

    /// Counts the bytes of every request in `wire`.
    pub fn with_wire_counters(mut self, wire: WireCounters) -> InfluxV2 {
        self.wire = Some(wire);
        self
    }
}

/// `body` compressed with gzip at level 1: most of the size gain of higher levels at a fraction
/// of their CPU (line protocol is repetitive).
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), flate2::Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

impl LineStore for InfluxV2 {
    async fn write(&self, body: &str) -> WriteResult {
        let mut req = self
            .client
            .post(&self.settings.write_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8");
        let payload = if self.settings.gzip {
            match gzip(body.as_bytes()) {
                Ok(z) => {
                    req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
                    z
                }
                // Writing into a Vec cannot fail; should it, the body goes uncompressed.
                Err(_) => body.as_bytes().to_vec(),
            }
        } else {
            body.as_bytes().to_vec()
        };
        if let Some(w) = &self.wire {
            w.line_bytes.inc_by(body.len() as u64);
            w.body_bytes.inc_by(payload.len() as u64);
        }
        req = req.body(payload);
        if !self.settings.token.is_empty() {
            // InfluxDB 2.x/3.x take `Token …` on both APIs; 1.x ignores it without auth enabled.
            req = req.header(reqwest::header::AUTHORIZATION, format!("Token {}", self.settings.token));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return WriteResult::Retry { after: None, reason: format!("request failed: {}", causes(&e)) },
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

/// An error with its causes ("… : invalid peer certificate: UnknownIssuer"): reqwest's own
/// message alone does not say why a request failed.
fn causes(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// Maps a non-2xx status to what the writer does about it.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, text: String) -> WriteResult {
    match status {
        413 => WriteResult::TooLarge,
        400 | 422 => WriteResult::Rejected(text),
        401 | 403 => WriteResult::Unauthorized(format!("HTTP {status}: {text}")),
        404 => WriteResult::Missing(format!("HTTP 404: {}", text.trim())),
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
        let missing = classify(404, None, "{\"error\":\"database not found: \\\"x\\\"\"}\n".into());
        assert!(matches!(&missing, WriteResult::Missing(m) if m.contains("database not found")), "{missing:?}");
        let d = Some(Duration::from_secs(3));
        assert!(matches!(classify(429, d, String::new()), WriteResult::Retry { after, .. } if after == d));
        assert!(matches!(classify(503, None, String::new()), WriteResult::Retry { after: None, .. }));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn gzip_round_trips_and_shrinks_line_protocol() {
        use std::io::Read as _;
        let line = "smoke,county=500112,township=500112001,device_id=SM-000001 obscuration_db_m=0.12 1700000000000\n";
        let body = line.repeat(500);
        let z = gzip(body.as_bytes()).expect("gzip");
        assert!(z.len() * 5 < body.len(), "{} of {}", z.len(), body.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(z.as_slice()).read_to_string(&mut back).expect("gunzip");
        assert_eq!(back, body);
    }
}
