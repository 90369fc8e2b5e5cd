//! What `firegrid eval` collects from firegrid's HTTP API: the incidents of a run
//! (`GET /api/v1/incidents`, a bearer token). The HTTP client is a minimal HTTP/1.1 `GET` over
//! plain TCP (the API of a firegrid on this host or a trusted network; put a TLS-terminating
//! proxy's plain side in front for anything else). The dispatch messages come from `listen`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::eval::observed::ObservedIncident;

/// Why collecting failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The API URL is not `http://host:port[/base]`.
    #[error("API URL `{0}` must look like http://127.0.0.1:8080")]
    Url(String),
    /// The HTTP exchange failed.
    #[error("GET {url}: {detail}")]
    Http {
        /// What was asked.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The API answered with an error status.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// What was asked.
        url: String,
        /// Status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer is not the JSON expected.
    #[error("GET {url}: unexpected answer: {detail}")]
    Decode {
        /// What was asked.
        url: String,
        /// Why.
        detail: String,
    },
}

/// `http://host:port/base` split into host, port and base path (no trailing `/`).
pub(crate) fn parse_api_url(url: &str) -> Result<(String, u16, String), CollectError> {
    let bad = || CollectError::Url(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, base) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse().map_err(|_| bad())?),
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad());
    }
    let base = base.trim_end_matches('/');
    let base = if base.is_empty() { String::new() } else { format!("/{base}") };
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port, base))
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Splits a raw HTTP/1.1 response into status and body.
pub(crate) fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[head_end + 4..];
    Some((status, if chunked { dechunk(body)? } else { body.to_vec() }))
}

/// `GET {api}{path}` with a bearer token, the JSON answer.
pub(crate) async fn get_json(
    api: &str,
    path: &str,
    token: &str,
    timeout: Duration,
) -> Result<serde_json::Value, CollectError> {
    let (host, port, base) = parse_api_url(api)?;
    let url = format!("{api}{path}");
    let http = |detail: String| CollectError::Http { url: url.clone(), detail };
    let exchange = async {
        let mut s = TcpStream::connect((host.as_str(), port)).await.map_err(|e| http(e.to_string()))?;
        let req = format!(
            "GET {base}{path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.map_err(|e| http(e.to_string()))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| http(e.to_string()))?;
        Ok::<Vec<u8>, CollectError>(raw)
    };
    let raw =
        tokio::time::timeout(timeout, exchange).await.map_err(|_| http(format!("no answer in {timeout:?}")))??;
    let (status, body) = parse_response(&raw).ok_or_else(|| http("malformed HTTP response".into()))?;
    if status != 200 {
        let body = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(CollectError::Status { url, status, body });
    }
    serde_json::from_slice(&body).map_err(|e| CollectError::Decode { url, detail: e.to_string() })
}

/// The incidents opened at or after `since_ms` (at most 5,000, the API's cap), each with the raw
/// JSON the API gave (for callers that decode the full incident).
pub async fn fetch_incidents(
    api: &str,
    token: &str,
    since_ms: i64,
) -> Result<Vec<(ObservedIncident, serde_json::Value)>, CollectError> {
    let path = format!("/api/v1/incidents?since={since_ms}&limit=5000");
    let v = get_json(api, &path, token, Duration::from_secs(30)).await?;
    let decode = |detail: String| CollectError::Decode { url: format!("{api}{path}"), detail };
    let list = v.get("incidents").and_then(|l| l.as_array()).ok_or_else(|| decode("no `incidents` array".into()))?;
    list.iter()
        .map(|raw| {
            let inc: ObservedIncident = serde_json::from_value(raw.clone()).map_err(|e| decode(e.to_string()))?;
            Ok((inc, raw.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_split_into_host_port_and_base() {
        let cases = [
            ("http://127.0.0.1:8080", Some(("127.0.0.1", 8080, ""))),
            ("http://localhost", Some(("localhost", 80, ""))),
            ("http://10.0.0.5:9000/firegrid/", Some(("10.0.0.5", 9000, "/firegrid"))),
            ("https://example.org", None),
            ("127.0.0.1:8080", None),
            ("http://:8080", None),
        ];
        for (url, want) in cases {
            let got = parse_api_url(url).ok();
            let got = got.as_ref().map(|(h, p, b)| (h.as_str(), *p, b.as_str()));
            assert_eq!(got, want, "{url}");
        }
    }

    #[test]
    fn responses_split_into_status_and_body_plain_or_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain), Some((200, b"{}".to_vec())));
        let chunked =
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((401, b"abcde".to_vec())));
        assert_eq!(parse_response(b"garbage"), None);
    }
}
