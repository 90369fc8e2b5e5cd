//! The HTTP edge of a running service: gzip for the console and the API but never for the live
//! event stream, `firegrid_http_requests_total` by route template (no raw path), and past
//! `http.max_connections` a new connection waits until one closes, and a client that sends half a
//! request header is disconnected after `http.header_read_timeout_ms`.

mod support;

use std::time::Duration;

use anyhow::{ensure, Result};
use support::dispatch::ADMIN;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn start(dir: &std::path::Path, max_connections: usize) -> Result<firegrid::Running> {
    start_with(dir, max_connections, 10_000).await
}

async fn start_with(
    dir: &std::path::Path,
    max_connections: usize,
    header_read_timeout_ms: u64,
) -> Result<firegrid::Running> {
    let reg = support::fleet::write_registry(dir, &support::fleet::devices(3))?;
    let mut c = support::fleet::harness_config(dir, &reg, "embedded", "http://127.0.0.1:1", "http-edge");
    c.mqtt.embedded_listen = format!("127.0.0.1:{}", support::free_port()?);
    c.store.backend = "embedded".into();
    c.http.max_connections = max_connections;
    c.http.header_read_timeout_ms = header_read_timeout_ms;
    support::dispatch::write_tokens(dir)?;
    Ok(firegrid::start(c.validate()?, CancellationToken::new()).await?)
}

/// (Content-Encoding, body bytes on the wire) of `GET path`.
async fn fetch(base: &str, path: &str, gzip: bool) -> Result<(Option<String>, usize)> {
    let mut req = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(ADMIN);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let r = req.send().await?;
    ensure!(r.status().is_success(), "GET {path}: {}", r.status());
    let enc = r.headers().get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok((enc, r.bytes().await?.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_api_are_gzipped_the_event_stream_is_not_and_requests_count_by_route() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let running = start(dir.path(), 64).await?;
    let base = format!("http://{}", running.http_addr);
    for path in ["/", "/console/app.js", "/api/v1/stations"] {
        let (plain_enc, plain) = fetch(&base, path, false).await?;
        let (enc, zipped) = fetch(&base, path, true).await?;
        ensure!(plain_enc.is_none() && enc.as_deref() == Some("gzip"), "{path}: {plain_enc:?} / {enc:?}");
        ensure!(zipped < plain, "{path}: {zipped} gzip bytes, {plain} plain");
        println!("{path}: {plain} bytes plain, {zipped} bytes gzip");
    }
    let events = reqwest::Client::new()
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(ADMIN)
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    ensure!(events.status().is_success());
    ensure!(events.headers().get("content-encoding").is_none(), "the SSE stream is never compressed");
    drop(events);

    let r =
        reqwest::Client::new().get(format!("{base}/api/v1/incidents/INC-SECRET-42")).bearer_auth(ADMIN).send().await?;
    ensure!(r.status() == 404, "{}", r.status());
    let metrics = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let series = "firegrid_http_requests_total{code=\"404\",route=\"/api/v1/incidents/{id}\"} 1";
    ensure!(metrics.lines().any(|l| l == series), "no `{series}`");
    ensure!(metrics.contains("route=\"/console/app.js\""), "console routes are counted");
    ensure!(!metrics.contains("INC-SECRET-42"), "a raw path never becomes a label");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let running = start(dir.path(), 1).await?;
    let addr = running.http_addr;
    // One connection allowed: one streaming the live events holds the only slot…
    let mut first = TcpStream::connect(addr).await?;
    let sse = format!("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\r\n");
    first.write_all(sse.as_bytes()).await?;
    let mut answer = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut answer)).await??;
    ensure!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    // …so a second one is not served…
    let mut second = TcpStream::connect(addr).await?;
    second.write_all(request).await?;
    let early = tokio::time::timeout(Duration::from_millis(700), second.read(&mut answer)).await;
    ensure!(early.is_err(), "a connection past http.max_connections was served at once");
    // …until the first one goes.
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut answer)).await??;
    ensure!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_a_request_header_is_disconnected_within_the_timeout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let running = start_with(dir.path(), 4, 1_000).await?;
    let addr = running.http_addr;
    // Half a header: the request line and one field, never the blank line that ends it.
    let mut slow = TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await?;
    let sent = std::time::Instant::now();
    let mut buf = [0u8; 256];
    // The server closes the connection (EOF or a reset; whatever it writes first is no 200).
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut got = Vec::new();
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let elapsed = sent.elapsed();
    let Ok(got) = closed else { anyhow::bail!("a half-sent header held its connection open for 5 s") };
    ensure!(!got.starts_with(b"HTTP/1.1 200"), "a half header was answered: {}", String::from_utf8_lossy(&got));
    ensure!(elapsed >= Duration::from_millis(900), "closed after {elapsed:?}, before the 1 s timeout");
    ensure!(elapsed < Duration::from_millis(2_500), "closed only after {elapsed:?} (timeout 1 s)");
    // A whole request on a new connection is still served.
    let mut whole = TcpStream::connect(addr).await?;
    whole.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let n = tokio::time::timeout(Duration::from_secs(5), whole.read(&mut buf)).await??;
    ensure!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    Ok(())
}
