//! An InfluxDB 1.x server (`influxd`, Debian package `influxdb`, 1.6) for the store's HTTP answers
//! VictoriaMetrics never gives: 400 with a message for an unparsable line (and the other lines of
//! the body not written, unlike VictoriaMetrics), and 401 when authentication is on and the
//! request carries no valid credentials. One database, [`DATABASE`], created at start.
//!
//! `FIREGRID_TEST_INFLUXD` overrides the binary's path; a missing binary is an error.

use super::base::*;
use super::server::*;
use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;
use std::time::Instant;
use tempfile::TempDir;

/// The database created at start (firegrid's `bucket` with `api = "v1"`).
pub const DATABASE: &str = "firegrid";
const INFLUXD_BIN: &str = "/usr/bin/influxd";
/// The admin user created when authentication is on.
pub const ADMIN: (&str, &str) = ("admin", "admin-password-0123");

/// A running `influxd` on loopback ports, its data in a temporary directory.
pub struct InfluxDb {
    server: Server,
    port: u16,
    auth: bool,
    http: reqwest::Client,
    dir: TempDir,
}

impl InfluxDb {
    /// Starts a server without authentication.
    pub async fn start() -> Result<InfluxDb> {
        Self::start_with(false).await
    }

    /// Starts a server; with `auth`, authentication is on and [`ADMIN`] is its only user.
    pub async fn start_with(auth: bool) -> Result<InfluxDb> {
        let program = binary("FIREGRID_TEST_INFLUXD", INFLUXD_BIN)?;
        let dir = temp_dir("firegrid-influxdb-")?;
        let conf_path = dir.path().join("influxdb.conf");
        let server =
            Server::new("influxd", program, vec!["-config".into(), conf_path.display().to_string()], dir.path());
        let http = reqwest::Client::builder().no_proxy().timeout(HTTP_TIMEOUT).build()?;
        let mut db = InfluxDb { server, port: 0, auth, http, dir };
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            db.port = free_port()?;
            let d = db.dir.path().display();
            let conf = format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n  logging-enabled = false\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  auth-enabled = {auth}\n\
                 [monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n",
                rpc = free_port()?,
                port = db.port,
            );
            std::fs::write(&conf_path, conf).context("writing influxdb.conf")?;
            match db.launch().await {
                Ok(()) => {
                    if auth {
                        // With no user yet, InfluxDB takes this one statement without credentials.
                        let (u, p) = ADMIN;
                        db.statement(&format!("CREATE USER {u} WITH PASSWORD '{p}' WITH ALL PRIVILEGES")).await?;
                    }
                    db.statement(&format!("CREATE DATABASE \"{DATABASE}\"")).await?;
                    return Ok(db);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("influxd did not start")))
    }

    async fn launch(&mut self) -> Result<()> {
        self.server.spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let ping = format!("{}/ping", self.url());
        loop {
            if let Some(status) = self.server.exited() {
                return Err(self.server.exited_error(status));
            }
            if self.http.get(&ping).send().await.is_ok_and(|r| r.status().as_u16() == 204) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.server.kill();
                bail!("influxd did not answer {ping} within {START_TIMEOUT:?}:\n{}", self.server.log_tail());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.auth {
            req.basic_auth(ADMIN.0, Some(ADMIN.1))
        } else {
            req
        }
    }

    /// A statement that changes something (POST /query).
    pub async fn statement(&self, q: &str) -> Result<()> {
        let r = self.authed(self.http.post(format!("{}/query", self.url()))).form(&[("q", q)]).send().await?;
        let status = r.status();
        let body = r.text().await?;
        ensure!(status.is_success() && !body.contains("\"error\""), "{q}: {status} {body}");
        Ok(())
    }

    /// The series (`name`, `tags`, `columns`, `values`) of one InfluxQL statement over
    /// [`DATABASE`], asked as Grafana's data source asks (POST /query, `epoch=ms`). An error
    /// status, an error in the answer or more than one statement's result is an error.
    pub async fn series(&self, q: &str) -> Result<Vec<Value>> {
        let r = self.authed(self.http.post(format!("{}/query", self.url()))).form(&[
            ("db", DATABASE),
            ("epoch", "ms"),
            ("q", q),
        ]);
        let r = r.send().await.context("POST /query")?;
        let status = r.status();
        let body: Value = r.json().await.context("InfluxDB answer is not JSON")?;
        ensure!(status.is_success(), "InfluxDB answered {status}: {body}");
        if let Some(e) = body["error"].as_str() {
            bail!("InfluxDB: {e}");
        }
        let results = body["results"].as_array().context("no results")?;
        ensure!(results.len() == 1, "one statement expected, got {} results", results.len());
        if let Some(e) = results[0]["error"].as_str() {
            bail!("InfluxDB: {e}");
        }
        Ok(results[0]["series"].as_array().cloned().unwrap_or_default())
    }

    /// The rows of one InfluxQL query over [`DATABASE`], each as the series' columns.
    pub async fn rows(&self, q: &str) -> Result<Vec<Value>> {
        let series = self.series(q).await?;
        Ok(series.iter().flat_map(|s| s["values"].as_array().cloned().unwrap_or_default()).collect())
    }

    /// Writes line protocol with millisecond timestamps into [`DATABASE`]; anything but 204 is an error.
    pub async fn write_lines(&self, lines: &str) -> Result<()> {
        let url = format!("{}/write?db={DATABASE}&precision=ms", self.url());
        let r = self.authed(self.http.post(url)).body(lines.to_owned()).send().await.context("POST /write")?;
        let status = r.status();
        ensure!(status.as_u16() == 204, "/write answered {status}: {}", r.text().await.unwrap_or_default());
        Ok(())
    }

    /// The server's log so far.
    pub fn logs(&self) -> String {
        self.server.logs()
    }
}

impl Drop for InfluxDb {
    fn drop(&mut self) {
        shut_down(&mut self.server, &mut self.dir);
    }
}
