//! The VictoriaMetrics server of the harness, and reading back what firegrid wrote through its
//! export API.

use super::base::*;
use super::server::*;
use anyhow::{bail, Context as _, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// Settings of a harness VictoriaMetrics; `Default` is what [`VictoriaMetrics::start`] uses.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Adds `-dedup.minScrapeInterval=1ms`: one sample per series and millisecond, so a point written twice is one
    /// point (DESIGN §4). Turn it off to see every write, e.g. to prove that something was written only once.
    pub dedup: bool,
    /// More command-line flags.
    pub extra_args: Vec<String>,
    /// Serve HTTPS with this certificate and key, signed by `tls_ca` (which the harness's own client trusts).
    pub tls: Option<VmTls>,
}

/// HTTPS for a harness VictoriaMetrics (see [`super::tls::TestPki`]).
#[derive(Debug, Clone)]
pub struct VmTls {
    /// PEM certificate for 127.0.0.1.
    pub cert: std::path::PathBuf,
    /// Its PEM key.
    pub key: std::path::PathBuf,
    /// The CA that signed it.
    pub ca: std::path::PathBuf,
}

impl Default for VmOptions {
    fn default() -> Self {
        Self { dedup: true, extra_args: Vec::new(), tls: None }
    }
}

/// One series of an `/api/v1/export` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric name (`__name__`), e.g. `smoke_obscuration_db_m`.
    pub name: String,
    /// All other labels.
    pub labels: BTreeMap<String, String>,
    /// Sample values, in the order of `timestamps`.
    pub values: Vec<f64>,
    /// Sample timestamps in milliseconds since the epoch.
    pub timestamps: Vec<i64>,
}

impl Series {
    /// The value of a label, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// `(timestamp_ms, value)` pairs.
    pub fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.timestamps.iter().copied().zip(self.values.iter().copied())
    }

    fn parse(line: &str) -> Result<Series> {
        let json: serde_json::Value = serde_json::from_str(line).with_context(|| format!("export line {line:?}"))?;
        let metric = json["metric"].as_object().with_context(|| format!("no \"metric\" object in {line:?}"))?;
        let mut name = String::new();
        let mut labels = BTreeMap::new();
        for (key, value) in metric {
            let value = value.as_str().with_context(|| format!("label {key} is not a string in {line:?}"))?;
            if key == "__name__" {
                name = value.to_owned();
            } else {
                labels.insert(key.clone(), value.to_owned());
            }
        }
        let values = json["values"]
            .as_array()
            .with_context(|| format!("no \"values\" array in {line:?}"))?
            .iter()
            .map(|v| match v {
                serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
                _ => f64::NAN,
            })
            .collect();
        let timestamps = json["timestamps"]
            .as_array()
            .with_context(|| format!("no \"timestamps\" array in {line:?}"))?
            .iter()
            .map(|t| t.as_i64().with_context(|| format!("timestamp {t} is not an integer")))
            .collect::<Result<Vec<i64>>>()?;
        Ok(Series { name, labels, values, timestamps })
    }
}

/// A VictoriaMetrics single-node server on `127.0.0.1:<port>` with its data in a temporary directory.
pub struct VictoriaMetrics {
    // Declared before `dir`: the process is killed before its directory is removed.
    server: Server,
    port: u16,
    http: reqwest::Client,
    scheme: &'static str,
    dir: TempDir,
}

impl VictoriaMetrics {
    /// Starts VictoriaMetrics with [`VmOptions::default`] (deduplication on) and waits until `/health` is OK.
    pub async fn start() -> Result<VictoriaMetrics> {
        Self::start_with(VmOptions::default()).await
    }

    /// Starts VictoriaMetrics with the given options on a free port and waits until `/health` is OK.
    pub async fn start_with(options: VmOptions) -> Result<VictoriaMetrics> {
        let program = binary("FIREGRID_TEST_VICTORIA_METRICS", VICTORIA_METRICS_BIN)?;
        let dir = temp_dir("firegrid-victoria-metrics-")?;
        let mut http = reqwest::Client::builder().no_proxy().timeout(HTTP_TIMEOUT);
        if let Some(tls) = &options.tls {
            let pem = std::fs::read(&tls.ca)?;
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let http = http.build().context("building the HTTP client")?;
        let server = Server::new("victoria-metrics", program, Vec::new(), dir.path());
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let mut store = VictoriaMetrics { server, port: 0, http, scheme, dir };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            store.port = free_port()?;
            let mut args = vec![
                format!("-storageDataPath={}", store.dir.path().join("data").display()),
                format!("-httpListenAddr=127.0.0.1:{}", store.port),
                "-retentionPeriod=100y".to_owned(),
            ];
            if options.dedup {
                args.push("-dedup.minScrapeInterval=1ms".to_owned());
            }
            if let Some(tls) = &options.tls {
                args.push("-tls".to_owned());
                args.push(format!("-tlsCertFile={}", tls.cert.display()));
                args.push(format!("-tlsKeyFile={}", tls.key.display()));
            }
            args.extend(options.extra_args.iter().cloned());
            store.server.args = args;
            match store.launch().await {
                Ok(()) => return Ok(store),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("victoria-metrics did not start")))
    }

    /// Spawns the process and waits until `/health` answers 200 `OK`.
    async fn launch(&mut self) -> Result<()> {
        self.server.spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let health = format!("{}/health", self.url());
        loop {
            if let Some(status) = self.server.exited() {
                return Err(self.server.exited_error(status));
            }
            let probe = self.http.get(&health).timeout(Duration::from_millis(500)).send().await;
            if let Ok(response) = probe {
                if response.status().is_success() && response.text().await.is_ok_and(|body| body.trim() == "OK") {
                    if let Some(status) = self.server.exited() {
                        return Err(self.server.exited_error(status));
                    }
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                self.server.kill();
                bail!(
                    "victoria-metrics was not healthy at {health} within {START_TIMEOUT:?}; its log:\n{}",
                    self.server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (`https://` with [`VmOptions::tls`]).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// `http://127.0.0.1:<port>/api/v2/write?org=firegrid&bucket=firegrid&precision=ms`.
    pub fn write_url(&self) -> String {
        format!("{}/api/v2/write?org=firegrid&bucket=firegrid&precision=ms", self.url())
    }

    /// The PID of the running server, `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// The temporary directory (`data/`, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server has logged so far, over all its starts.
    pub fn logs(&self) -> String {
        self.server.logs()
    }

    /// SIGTERM and wait (bounded); the data directory is kept.
    pub async fn stop(&mut self) -> Result<()> {
        self.server.terminate().await
    }

    /// SIGKILL and reap: a crash. Data not yet flushed to disk (about the last second) may be lost.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the stopped server again on the same port with the same data directory.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.server.is_running() {
            bail!("victoria-metrics is already running");
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.start_again().await
    }

    /// POSTs line protocol to [`write_url`](Self::write_url) and returns the status code (VictoriaMetrics: 204).
    pub async fn post_lines(&self, body: &str) -> Result<u16> {
        let response =
            self.http.post(self.write_url()).body(body.to_owned()).send().await.context("POST /api/v2/write")?;
        Ok(response.status().as_u16())
    }

    /// POSTs line protocol and fails unless the answer is 2xx.
    pub async fn write_lines(&self, body: &str) -> Result<()> {
        let status = self.post_lines(body).await?;
        if !(200..300).contains(&status) {
            bail!("POST /api/v2/write answered {status}");
        }
        Ok(())
    }

    /// `GET /internal/force_flush`: makes everything written so far visible to reads.
    pub async fn force_flush(&self) -> Result<()> {
        let response =
            self.http.get(format!("{}/internal/force_flush", self.url())).send().await.context("force_flush")?;
        if !response.status().is_success() {
            bail!("GET /internal/force_flush answered {}", response.status());
        }
        Ok(())
    }

    /// All series matching a selector, e.g. `{__name__=~"smoke_.*"}` or `smoke_alarm{device_id="SM-1"}`, with all
    /// their samples, sorted by name and labels. Flushes first; includes points up to three days in the future.
    pub async fn export(&self, match_selector: &str) -> Result<Vec<Series>> {
        self.force_flush().await?;
        let end = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_secs() + 3 * 86_400;
        let response = self
            .http
            .post(format!("{}/api/v1/export", self.url()))
            .form(&[("match[]", match_selector.to_owned()), ("end", end.to_string())])
            .send()
            .await
            .context("POST /api/v1/export")?;
        let status = response.status();
        let body = response.text().await.context("reading the export answer")?;
        if !status.is_success() {
            bail!("/api/v1/export answered {status}: {body}");
        }
        let mut series =
            body.lines().filter(|l| !l.trim().is_empty()).map(Series::parse).collect::<Result<Vec<_>>>()?;
        series.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        Ok(series)
    }

    /// Number of series matching the selector.
    pub async fn series_count(&self, match_selector: &str) -> Result<usize> {
        Ok(self.export(match_selector).await?.len())
    }

    /// Number of samples, over all series matching the selector.
    pub async fn sample_count(&self, match_selector: &str) -> Result<usize> {
        Ok(self.export(match_selector).await?.iter().map(|s| s.values.len()).sum())
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        shut_down(&mut self.server, &mut self.dir);
    }
}
