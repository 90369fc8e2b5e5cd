//! A server process of the harness (mosquitto, VictoriaMetrics): spawned with its output in
//! `server.log` in its own temporary directory, stopped with SIGTERM within a bound, killed by
//! its PID and reaped on drop, its log tail printed when a test panics.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tempfile::TempDir;

use super::base::{KEEP_DIRS_ENV, STOP_TIMEOUT};

pub(super) const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";
pub(super) const VICTORIA_METRICS_BIN: &str = "/usr/bin/victoria-metrics";
const LOG_FILE: &str = "server.log";
const LOG_TAIL_LINES: usize = 80;
/// Attempts at a fresh port when a just-chosen free port was taken by someone else before the server bound it.
pub(super) const START_ATTEMPTS: usize = 3;
pub(super) fn binary(env_var: &str, default: &str) -> Result<PathBuf> {
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

pub(super) fn temp_dir(prefix: &str) -> Result<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir().context("creating a temporary directory")
}

/// A spawned server process: its command line, its log file and its child handle.
pub(super) struct Server {
    pub(super) name: &'static str,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) log_path: PathBuf,
    pub(super) child: Option<Child>,
}

impl Server {
    pub(super) fn new(name: &'static str, program: PathBuf, args: Vec<String>, dir: &Path) -> Self {
        Self { name, program, args, log_path: dir.join(LOG_FILE), child: None }
    }

    /// Spawns the process; stdout and stderr are appended to the log file.
    pub(super) fn spawn(&mut self) -> Result<()> {
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

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has exited (it is then reaped and forgotten).
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }

    pub(super) fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`]; kills it if it is still running then.
    pub(super) async fn terminate(&mut self) -> Result<()> {
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
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(super) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    pub(super) fn log_tail(&self) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Error for a process that exited while the harness waited for it.
    pub(super) fn exited_error(&self, status: ExitStatus) -> anyhow::Error {
        anyhow::anyhow!("{} exited during start-up ({status}); its log:\n{}", self.name, self.log_tail())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Shared `Drop` of [`Mosquitto`] and [`VictoriaMetrics`]: kill, report, and keep the directory if asked to.
pub(super) fn shut_down(server: &mut Server, dir: &mut TempDir) {
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
