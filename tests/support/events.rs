//! The console's live feed as a client reads it: an open `GET /api/v1/events` stream
//! (server-sent events) and the text it has delivered so far.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

/// An open live feed.
pub struct Events {
    resp: reqwest::Response,
    /// Everything received so far.
    pub text: String,
}

impl Events {
    /// Opens `{base}/api/v1/events` with `token` (2xx only).
    pub async fn open(base: &str, token: &str) -> Result<Events> {
        let resp = reqwest::Client::new().get(format!("{base}/api/v1/events")).bearer_auth(token).send().await?;
        ensure!(resp.status().is_success(), "GET /api/v1/events: {}", resp.status());
        Ok(Events { resp, text: String::new() })
    }

    /// Reads until `pred` holds for the text received, or `timeout`.
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(&self.text) {
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .with_context(|| format!("the live feed did not show it within {timeout:?}: {}", self.text))??
                .context("the live feed ended")?;
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
        Ok(())
    }
}
