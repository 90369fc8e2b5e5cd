//! The harness's base, shared with the simulator crate's tests (included there by `#[path]`): a free loopback
//! port, a condition polled until a deadline, and the bounds every server wait uses.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// How long a server may take to accept connections after it is spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of every HTTP request the harness makes.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// When set (and not `0`), temporary directories are kept and every server's log tail is printed on drop.
pub const KEEP_DIRS_ENV: &str = "FIREGRID_TEST_KEEP_DIRS";

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr().context("reading the bound address")?.port())
}

/// Polls `check` every 50 ms until it returns `Ok(Some(_))` or `timeout` passes; errors of `check` are retried.
/// Useful for "eventually in VictoriaMetrics" assertions.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("condition not met"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("not within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
