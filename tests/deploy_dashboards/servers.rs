//! The servers of the dashboard tests: Prometheus as a child process, and the dashboards' view of the
//! harness's InfluxDB 1.x ([`support::influxdb`]).

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Server processes

/// A server process, killed by its PID (through `Child`) and reaped on drop; its output goes to a log file.
pub(crate) struct Process {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(name: &'static str, program: &str, args: &[String], dir: &Path) -> Result<Process> {
        ensure!(
            Path::new(program).is_file(),
            "{program} not found: run ./scripts/test.sh, which installs the Debian packages influxdb and prometheus"
        );
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawning {program}"))?;
        Ok(Process { name, child, log })
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Polls `ready` until it is true; fails if the process exits or `START_TIMEOUT` passes.
    pub(crate) async fn wait_ready(&mut self, http: &reqwest::Client, url: &str, status: u16) -> Result<()> {
        let deadline = Instant::now() + support::START_TIMEOUT;
        loop {
            if let Some(exit) = self.child.try_wait()? {
                bail!("{} exited during start-up ({exit}):\n{}", self.name, self.log_tail());
            }
            if let Ok(r) = http.get(url).timeout(Duration::from_millis(500)).send().await {
                if r.status().as_u16() == status {
                    return Ok(());
                }
            }
            ensure!(Instant::now() < deadline, "{} not ready at {url}:\n{}", self.name, self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- last lines of {}:\n{}", self.name, self.log_tail());
        }
    }
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().timeout(support::HTTP_TIMEOUT).build()?)
}

/// The rows of one InfluxQL statement's answer.
#[derive(Debug, Default)]
pub(crate) struct InfluxAnswer {
    pub(crate) series: Vec<Value>,
}

impl InfluxAnswer {
    pub(crate) fn rows(&self) -> usize {
        self.series.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum()
    }

    /// Every row as column name → value, with the series' tags added as columns.
    pub(crate) fn records(&self) -> Vec<BTreeMap<String, Value>> {
        let mut out = Vec::new();
        for s in &self.series {
            let columns: Vec<String> =
                s["columns"].as_array().into_iter().flatten().map(|c| c.as_str().unwrap_or("").to_owned()).collect();
            for row in s["values"].as_array().into_iter().flatten() {
                let mut record: BTreeMap<String, Value> =
                    columns.iter().cloned().zip(row.as_array().into_iter().flatten().cloned()).collect();
                if let Some(tags) = s["tags"].as_object() {
                    for (k, v) in tags {
                        record.insert(k.clone(), v.clone());
                    }
                }
                out.push(record);
            }
        }
        out
    }
}

/// The dashboards' InfluxQL through the harness's InfluxDB 1.x ([`support::influxdb`]): answers as
/// [`InfluxAnswer`]s, writes of whole bodies.
pub(crate) trait InfluxQl {
    /// Runs one InfluxQL statement as Grafana's data source does.
    async fn query(&self, q: &str) -> Result<InfluxAnswer>;
    /// Writes line protocol with millisecond timestamps.
    async fn write(&self, lines: String) -> Result<()>;
}

impl InfluxQl for InfluxDb {
    async fn query(&self, q: &str) -> Result<InfluxAnswer> {
        Ok(InfluxAnswer { series: self.series(q).await? })
    }

    async fn write(&self, lines: String) -> Result<()> {
        self.write_lines(&lines).await
    }
}

/// A Prometheus server with its TSDB in a temporary directory.
pub(crate) struct Prometheus {
    // Before `_dir`: the process dies before its directory is removed.
    pub(crate) _process: Process,
    pub(crate) port: u16,
    pub(crate) http: reqwest::Client,
    pub(crate) _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on `deploy/prometheus/prometheus.yml`, changed only to scrape `target` every second,
    /// evaluate every second and read the rules from the repository.
    pub(crate) async fn start(target: &str) -> Result<Prometheus> {
        let dir = tempfile::Builder::new().prefix("firegrid-prometheus-").tempdir()?;
        let shipped = root().join("deploy/prometheus/prometheus.yml");
        let mut config: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&shipped)?)?;
        config["global"]["scrape_interval"] = "1s".into();
        config["global"]["evaluation_interval"] = "1s".into();
        let rules = root().join("deploy/prometheus/rules/*.yml").display().to_string();
        config["rule_files"] = serde_yaml::Value::Sequence(vec![rules.into()]);
        let jobs = config["scrape_configs"].as_sequence_mut().context("scrape_configs")?;
        ensure!(jobs.len() == 1, "one scrape job expected in {}", shipped.display());
        ensure!(jobs[0]["job_name"].as_str() == Some("firegrid"), "the scrape job is called firegrid");
        jobs[0]["scrape_interval"] = "1s".into();
        jobs[0]["scrape_timeout"] = "1s".into();
        jobs[0]["static_configs"][0]["targets"] = serde_yaml::Value::Sequence(vec![target.into()]);
        let conf_path = dir.path().join("prometheus.yml");
        std::fs::write(&conf_path, serde_yaml::to_string(&config)?)?;
        let http = http_client()?;
        let mut last = None;
        for _ in 0..3 {
            let port = support::free_port()?;
            let args = vec![
                format!("--config.file={}", conf_path.display()),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--log.level=warn".to_owned(),
            ];
            let mut process = Process::spawn("prometheus", PROMETHEUS_BIN, &args, dir.path())?;
            match process.wait_ready(&http, &format!("http://127.0.0.1:{port}/-/ready"), 200).await {
                Ok(()) => return Ok(Prometheus { _process: process, port, http, _dir: dir }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("prometheus did not start")))
    }

    pub(crate) async fn api(&self, path: &str, form: &[(&str, &str)]) -> Result<Value> {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{}/api/v1/{path}", self.port))
            .query(form)
            .send()
            .await
            .with_context(|| format!("GET /api/v1/{path}"))?;
        let status = r.status();
        let text = r.text().await?;
        let body: Value =
            serde_json::from_str(&text).with_context(|| format!("/api/v1/{path} answered {status}: {text}"))?;
        ensure!(body["status"] == "success", "Prometheus: {body}");
        Ok(body["data"].clone())
    }

    /// An instant query; returns the result vector.
    pub(crate) async fn query(&self, expr: &str) -> Result<Vec<Value>> {
        let data = self.api("query", &[("query", expr)]).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}
