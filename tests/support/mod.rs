//! End-to-end test harness: a real mosquitto broker and a real VictoriaMetrics, each on a free loopback port, in a
//! private temporary directory, owned by the test that started it.
//!
//! Include it from a test file in `tests/` with `mod support;`. Everything here is async where it waits, so it is
//! used straight from `#[tokio::test]` functions:
//!
//! ```ignore
//! let broker = support::Mosquitto::start().await?;          // mqtt://127.0.0.1:<port>
//! let store = support::VictoriaMetrics::start().await?;     // http://127.0.0.1:<port>
//! store.write_lines("smoke,device_id=SM-1 obscuration_db_m=0.12 1700000000000").await?;
//! let series = store.export("{__name__=~\"smoke_.*\"}").await?;
//! broker.restart().await?;                                  // same port, same persistence directory
//! store.stop().await?;                                      // SIGTERM; data directory kept
//! store.start_again().await?;                               // same port, same data directory
//! ```
//!
//! # Processes
//!
//! The binaries are `/usr/sbin/mosquitto` and `/usr/bin/victoria-metrics` (Debian packages `mosquitto` and
//! `victoria-metrics`; `./scripts/test.sh` installs them when missing). The environment variables
//! `FIREGRID_TEST_MOSQUITTO` and `FIREGRID_TEST_VICTORIA_METRICS` override the paths. A missing binary is an error,
//! never a skipped test.
//!
//! Every wait is bounded: start waits at most [`START_TIMEOUT`] for the port (mosquitto) or `/health` (VictoriaMetrics),
//! stop waits at most [`STOP_TIMEOUT`] after SIGTERM and then kills. Dropping a handle — also while unwinding from a
//! panic — kills the process by its PID (SIGKILL), reaps it, and then removes the temporary directory. The servers'
//! stdout and stderr go to `server.log` in that directory; [`Mosquitto::logs`] and [`VictoriaMetrics::logs`] read it,
//! and a handle dropped during a panic prints the last lines of its log to stderr, so a failing test shows them. A
//! test that fails by returning `Err` does not panic: run it with `FIREGRID_TEST_KEEP_DIRS=1` to print every log tail
//! and keep the directories (their paths are printed).
//!
//! # mosquitto configuration (mosquitto 2.0.11)
//!
//! ```text
//! listener <port> 127.0.0.1
//! allow_anonymous true
//! persistence true
//! persistence_location <tempdir>/        # trailing slash: mosquitto appends "mosquitto.db" to it
//! autosave_interval 1                    # seconds; the in-memory database is saved every second, so even a
//! autosave_on_changes false              #   SIGKILL loses at most ~1 s; SIGTERM always saves on exit
//! max_queued_messages 1000000            # per client, above the in-flight ones (default 1000, then silent drops)
//! max_queued_bytes 0                     # no byte limit
//! max_inflight_messages 1000             # broker -> MQTT 3.1.1 client window (default 20); MQTT 5 clients set
//!                                        #   their own with Receive Maximum
//! set_tcp_nodelay true
//! log_dest stderr                        # unbuffered, captured in server.log
//! log_type error / warning / notice / information
//! user root                              # only when the tests run as root: otherwise mosquitto 2.0 switches to
//!                                        #   the `mosquitto` user, which cannot write the persistence directory
//! ```
//!
//! [`MosquittoOptions`] changes the window, the queue limit and the autosave interval. mosquitto also announces
//! `max_inflight_messages` to MQTT 5 clients as the CONNACK's Receive Maximum (1000 here), which caps how many QoS 1
//! publishes a *publisher* may have unacknowledged. Verified by `tests/harness.rs`: a 3.1.1 consumer that holds its
//! acks receives exactly 1000 messages of a 1500 backlog; a persistent session's queue survives a SIGTERM restart
//! and, after an autosave, a SIGKILL.
//!
//! # VictoriaMetrics (1.79) and InfluxDB line protocol — verified against the Debian build, 1.79.5
//!
//! Started as `victoria-metrics -storageDataPath=<tempdir>/data -httpListenAddr=127.0.0.1:<port>
//! -retentionPeriod=100y -dedup.minScrapeInterval=1ms` (see [`VmOptions`]).
//!
//! * `POST /api/v2/write?org=..&bucket=..&precision=ms` answers **204 No Content** (header `X-Influxdb-Version:
//!   1.8.0`). `org` and `bucket` are ignored: they add no label. (`?db=NAME`, on `/write` or `/api/v2/write`, adds
//!   the label `db="NAME"`.) `precision` accepts `ns` (the default), `us`, `ms`, `s`.
//! * Each field becomes its own series named `{measurement}_{field}`: measurement `smoke` with field
//!   `obscuration_db_m` is the metric `smoke_obscuration_db_m` — also when the line has a single field. Tags become
//!   labels, with escapes (`\ `, `\,`, `\=`) resolved and UTF-8 (Chinese) kept as is, in label names and values and in
//!   the metric name. Every series of a line carries all of the line's tags.
//! * Field values are all stored as float64: a float is itself; an integer `42i` is 42 (`7u` is 7); a boolean
//!   `true`/`T`/`TRUE` is 1 and `false`/`F` is 0; a string field is parsed as a number if it is one (`"12.5"` is 12.5)
//!   and is **0** otherwise — text such as an incident summary cannot be read back from VictoriaMetrics. `NaN` is
//!   accepted and is not returned by export.
//! * A malformed line is skipped and logged (`cannot unmarshal InfluxDB line ...; skipping it`), the other lines of
//!   the body are stored, and the answer is still **204**. VictoriaMetrics 1.79 answers 400 only for an unreadable
//!   body (e.g. `Content-Encoding: gzip` that is not gzip); it never answers 422, so a writer's 400/422 handling
//!   cannot be exercised against it.
//! * A point more than 2 days in the future is dropped (a warning in the log, still 204). A point older than the
//!   retention is dropped too, hence the 100-year retention (the default is one month).
//! * Data is visible to reads only after an in-memory flush (about a second); `GET /internal/force_flush` forces it,
//!   and [`VictoriaMetrics::export`] calls it first.
//! * `/api/v1/export` streams one JSON object per series and line:
//!   `{"metric":{"__name__":"smoke_alarm","device_id":"SM-1",...},"values":[1],"timestamps":[1700000000000]}`
//!   (timestamps in milliseconds). Without an `end` parameter it stops at *now*; [`VictoriaMetrics::export`] passes an
//!   `end` three days ahead so slightly-future points are included.
//! * Duplicates: without deduplication, the same point written twice is exported twice (and counted twice by
//!   `count_over_time`). With `-dedup.minScrapeInterval=1ms` only one sample per series and millisecond is kept —
//!   export returns it once — which is the idempotency DESIGN §4 promises (InfluxDB overwrites a point with the same
//!   series and timestamp). With two *different* values at the same timestamp one of them survives.
//! * Authentication is off: an `Authorization: Token ...` header is ignored. `GET /ping` answers 204 and `GET /health`
//!   200 `OK`, but the InfluxDB 2 endpoints `/api/v2/health` and `/api/v2/ready` answer **400** (unsupported path), so
//!   a readiness check through them fails against VictoriaMetrics. Even `GET /api/v2/write` answers 204.
//! * A line without a field (`m,tag=v 1700000000000`) is malformed (skipped); a line without a timestamp gets the
//!   time of arrival.
//! * SIGTERM stops it in well under a second, with all accepted data on disk; it restarts in ~0.2 s on the same data
//!   directory.

// Every test file includes this module and uses only part of it.
#![allow(dead_code)]

pub mod fleet;
pub mod process;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use tempfile::TempDir;

/// How long a server may take to accept connections after it is spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of every HTTP request the harness makes.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";
const VICTORIA_METRICS_BIN: &str = "/usr/bin/victoria-metrics";
const LOG_FILE: &str = "server.log";
const LOG_TAIL_LINES: usize = 80;
/// Attempts at a fresh port when a just-chosen free port was taken by someone else before the server bound it.
const START_ATTEMPTS: usize = 3;
/// When set (and not `0`), temporary directories are kept and every server's log tail is printed on drop.
pub const KEEP_DIRS_ENV: &str = "FIREGRID_TEST_KEEP_DIRS";

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr().context("reading the bound address")?.port())
}

fn binary(env_var: &str, default: &str) -> Result<PathBuf> {
    let path = std::env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    if !path.is_file() {
        bail!(
            "{} not found (set {env_var} to override); run ./scripts/test.sh, which installs the Debian packages \
             mosquitto and victoria-metrics",
            path.display()
        );
    }
    Ok(path)
}

fn temp_dir(prefix: &str) -> Result<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir().context("creating a temporary directory")
}

/// A spawned server process: its command line, its log file and its child handle.
struct Server {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn new(name: &'static str, program: PathBuf, args: Vec<String>, dir: &Path) -> Self {
        Self { name, program, args, log_path: dir.join(LOG_FILE), child: None }
    }

    /// Spawns the process; stdout and stderr are appended to the log file.
    fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        writeln!(log, "=== harness: starting {} {}", self.program.display(), self.args.join(" "))
            .context("writing the log file")?;
        let stderr = log.try_clone().context("cloning the log file handle")?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| format!("spawning {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has exited (it is then reaped and forgotten).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }

    fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`]; kills it if it is still running then.
    async fn terminate(&mut self) -> Result<()> {
        let Some(pid) = self.pid() else { return Ok(()) };
        // The child is not reaped before `wait`/`try_wait` says so, so the PID cannot have been reused.
        let status = Command::new("sh")
            .args(["-c", "kill -s TERM \"$1\"", "sh", &pid.to_string()])
            .status()
            .context("running sh -c kill")?;
        if !status.success() && self.exited().is_none() {
            bail!("kill -s TERM {pid} failed: {status}");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.child.is_some() {
            if self.exited().is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                bail!("{} (pid {pid}) did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed it", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// SIGKILL and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    fn log_tail(&self) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Error for a process that exited while the harness waited for it.
    fn exited_error(&self, status: ExitStatus) -> anyhow::Error {
        anyhow::anyhow!("{} exited during start-up ({status}); its log:\n{}", self.name, self.log_tail())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Shared `Drop` of [`Mosquitto`] and [`VictoriaMetrics`]: kill, report, and keep the directory if asked to.
fn shut_down(server: &mut Server, dir: &mut TempDir) {
    server.kill();
    let keep = std::env::var_os(KEEP_DIRS_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    if std::thread::panicking() || keep {
        eprintln!("--- last lines of {} ({}):\n{}\n---", server.name, server.log_path.display(), server.log_tail());
    }
    if keep {
        dir.disable_cleanup(true);
        eprintln!("--- {KEEP_DIRS_ENV} is set: kept {}", dir.path().display());
    }
}

/// Settings of a harness mosquitto; `Default` is what [`Mosquitto::start`] uses.
#[derive(Debug, Clone)]
pub struct MosquittoOptions {
    /// `max_inflight_messages`: unacknowledged QoS 1/2 messages the broker sends an MQTT 3.1.1 client (0 = no limit).
    pub max_inflight_messages: u32,
    /// `max_queued_messages`: messages queued per client above the in-flight ones (0 = no limit).
    pub max_queued_messages: u32,
    /// `autosave_interval` in seconds (0 = save only on exit).
    pub autosave_interval_secs: u32,
    /// Appended verbatim to the configuration file.
    pub extra_config: String,
}

impl Default for MosquittoOptions {
    fn default() -> Self {
        Self {
            max_inflight_messages: 1000,
            max_queued_messages: 1_000_000,
            autosave_interval_secs: 1,
            extra_config: String::new(),
        }
    }
}

/// A mosquitto broker on `127.0.0.1:<port>` with persistence in its own temporary directory.
pub struct Mosquitto {
    // Declared before `dir`: the process is killed before its directory is removed.
    server: Server,
    port: u16,
    options: MosquittoOptions,
    dir: TempDir,
}

impl Mosquitto {
    /// Starts a broker with [`MosquittoOptions::default`] on a free port and waits until it accepts connections.
    pub async fn start() -> Result<Mosquitto> {
        Self::start_with(MosquittoOptions::default()).await
    }

    /// Starts a broker with the given options on a free port and waits until it accepts connections.
    pub async fn start_with(options: MosquittoOptions) -> Result<Mosquitto> {
        let program = binary("FIREGRID_TEST_MOSQUITTO", MOSQUITTO_BIN)?;
        let dir = temp_dir("firegrid-mosquitto-")?;
        let conf_path = dir.path().join("mosquitto.conf");
        let server = Server::new("mosquitto", program, vec!["-c".into(), conf_path.display().to_string()], dir.path());
        let mut broker = Mosquitto { server, port: 0, options, dir };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            broker.port = free_port()?;
            broker.write_config()?;
            match broker.launch().await {
                Ok(()) => return Ok(broker),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("mosquitto did not start")))
    }

    fn write_config(&self) -> Result<()> {
        let dir = self.dir.path();
        let o = &self.options;
        let mut conf = format!(
            "# written by the firegrid test harness\n\
             listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_interval {autosave}\n\
             autosave_on_changes false\n\
             max_queued_messages {queued}\n\
             max_queued_bytes 0\n\
             max_inflight_messages {inflight}\n\
             set_tcp_nodelay true\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n\
             log_type information\n",
            port = self.port,
            dir = dir.display(),
            autosave = o.autosave_interval_secs,
            queued = o.max_queued_messages,
            inflight = o.max_inflight_messages,
        );
        // Running as root, mosquitto 2.0 would switch to the `mosquitto` user, which cannot write our directory.
        let owner = std::fs::metadata(dir).context("reading the temporary directory's metadata")?.uid();
        if owner == 0 {
            conf.push_str("user root\n");
        }
        conf.push_str(&o.extra_config);
        conf.push('\n');
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))
    }

    /// Spawns the process and waits until the port accepts TCP connections.
    async fn launch(&mut self) -> Result<()> {
        self.server.spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.server.exited() {
                return Err(self.server.exited_error(status));
            }
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", self.port));
            if let Ok(Ok(_stream)) = tokio::time::timeout(Duration::from_millis(250), connect).await {
                // Listening — and ours, unless it just died of "address in use".
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Some(status) = self.server.exited() {
                    return Err(self.server.exited_error(status));
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.server.kill();
                bail!(
                    "mosquitto did not accept connections on 127.0.0.1:{} within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
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

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The PID of the running broker, `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// Whether the broker process is alive.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// The temporary directory (configuration, `mosquitto.db`, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the broker has logged so far, over all its starts.
    pub fn logs(&self) -> String {
        self.server.logs()
    }

    /// SIGTERM and wait (bounded): mosquitto disconnects its clients and saves its database before it exits.
    pub async fn stop(&mut self) -> Result<()> {
        self.server.terminate().await
    }

    /// SIGKILL and reap: a crash. Only what the last autosave wrote survives.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the stopped broker again on the same port with the same persistence directory.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.server.is_running() {
            bail!("mosquitto is already running");
        }
        // The port is ours no longer while the broker is down; retry briefly if someone holds it.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again): same port, same persistence.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.start_again().await
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        shut_down(&mut self.server, &mut self.dir);
    }
}

/// Settings of a harness VictoriaMetrics; `Default` is what [`VictoriaMetrics::start`] uses.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Adds `-dedup.minScrapeInterval=1ms`: one sample per series and millisecond, so a point written twice is one
    /// point (DESIGN §4). Turn it off to see every write, e.g. to prove that something was written only once.
    pub dedup: bool,
    /// More command-line flags.
    pub extra_args: Vec<String>,
}

impl Default for VmOptions {
    fn default() -> Self {
        Self { dedup: true, extra_args: Vec::new() }
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
        let http =
            reqwest::Client::builder().no_proxy().timeout(HTTP_TIMEOUT).build().context("building the HTTP client")?;
        let server = Server::new("victoria-metrics", program, Vec::new(), dir.path());
        let mut store = VictoriaMetrics { server, port: 0, http, dir };
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

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
