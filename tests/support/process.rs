//! The real `firegrid` binary as a child process: started with a config file and environment
//! overrides, killed with SIGKILL or stopped with SIGTERM by PID, measured through
//! `/proc/{pid}/status`, and always killed on drop; and a one-off run of the binary to its exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A running firegrid process.
pub struct Firegrid {
    child: Option<Child>,
    config: PathBuf,
    env: Vec<(String, String)>,
    /// Global options before the `run` subcommand (`--log-format json`).
    global_args: Vec<String>,
    pub http_port: u16,
    log: PathBuf,
}

impl Firegrid {
    /// Writes nothing: takes a config file and overrides, and starts the binary.
    pub async fn start(config: &Path, env: Vec<(String, String)>, log: &Path) -> Result<Firegrid> {
        Self::start_with_args(config, env, log, &[]).await
    }

    /// [`start`](Self::start) with global options before `run` (such as `--log-format json`).
    pub async fn start_with_args(
        config: &Path,
        env: Vec<(String, String)>,
        log: &Path,
        global_args: &[&str],
    ) -> Result<Firegrid> {
        let http_port = super::free_port()?;
        let global_args = global_args.iter().map(|a| (*a).to_owned()).collect();
        let mut f =
            Firegrid { child: None, config: config.to_owned(), env, global_args, http_port, log: log.to_owned() };
        f.spawn().await?;
        Ok(f)
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_firegrid"))
            .args(&self.global_args)
            .args(["run", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().cloned())
            .env("FIREGRID_HTTP__LISTEN", format!("127.0.0.1:{}", self.http_port))
            .env("FIREGRID_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the firegrid binary")?;
        self.child = Some(child);
        let port = self.http_port;
        super::eventually(Duration::from_secs(20), || async move {
            let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
            Ok(r.ok().filter(|r| r.status().is_success()).map(|_| ()))
        })
        .await
        .with_context(|| format!("firegrid did not come up; log:\n{}", self.log_tail()))
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, then start again with the same config.
    pub async fn kill9_and_restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    /// Starts the binary again (after [`stop`](Self::stop) or an exit), same config and port.
    pub async fn start_again(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    /// Sends signal `name` (`TERM`, `HUP`, `STOP`, …) to the running process.
    pub fn signal(&self, name: &str) -> Result<()> {
        signal(self.pid().context("firegrid is not running")?, name)
    }

    /// Waits up to `limit` for the process to exit (it is killed after that, and that is an
    /// error); returns its exit status.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        let Some(mut c) = self.child.take() else { bail!("firegrid is not running") };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status);
            }
            if tokio::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                bail!("firegrid did not exit within {limit:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// Everything the process wrote to its log so far.
    pub fn log_text(&self) -> Result<String> {
        std::fs::read_to_string(&self.log).with_context(|| format!("reading {}", self.log.display()))
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and wait for a clean exit (exit code 0) within `limit`.
    pub async fn stop(&mut self, limit: Duration) -> Result<()> {
        let Some(c) = self.child.take() else { return Ok(()) };
        terminate(c, limit, || self.log_tail()).await
    }

    /// Resident set size now and at its peak, KiB (see [`rss_kib`]).
    pub fn rss_kib(&self) -> Result<(u64, u64)> {
        rss_kib(self.pid().context("firegrid is not running")?)
    }

    /// `/readyz` as JSON.
    pub async fn readyz(&self) -> Result<serde_json::Value> {
        Ok(reqwest::get(format!("http://127.0.0.1:{}/readyz", self.http_port)).await?.json().await?)
    }

    /// One series' value from `/metrics` (see [`super::api::metric`]).
    pub async fn metric(&self, series: &str) -> Result<f64> {
        super::api::metric(&format!("http://127.0.0.1:{}", self.http_port), series).await
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Firegrid {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Resident set size of process `pid` now and at its peak (`VmRSS`, `VmHWM`), KiB. An unreadable
/// `/proc` is an error: a memory check must never pass because it could not look.
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Sends signal `name` (`STOP`, `CONT`, `HUP`, `TERM`, …) to process `pid`, which the test started.
pub fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name, &pid.to_string()])
        .status()
        .context("running sh -c kill")?;
    if !status.success() {
        bail!("kill -s {name} {pid} failed: {status}");
    }
    Ok(())
}

/// Runs `firegrid {args}` (with `env`, and an HTTP listener on a free loopback port) to its exit,
/// at most `limit` (then it is killed and that is an error); returns whether it succeeded and
/// its stderr followed by its stdout.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Result<(bool, String)> {
    run_to_status(args, env, limit).map(|(code, text)| (code == Some(0), text))
}

/// [`run_to_exit`] with the exit code (`None` when a signal ended the process).
pub fn run_to_status(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Result<(Option<i32>, String)> {
    run_split(args, env, limit).map(|(code, out, err)| (code, format!("{err}{out}")))
}

/// [`run_to_status`] with stdout and stderr apart (both files, not terminals): `(code, stdout, stderr)`.
pub fn run_split(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Result<(Option<i32>, String, String)> {
    let dir = tempfile::tempdir()?;
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_firegrid"))
        .args(args)
        .env("FIREGRID_HTTP__LISTEN", format!("127.0.0.1:{}", super::free_port()?))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()
        .context("starting the firegrid binary")?;
    let status = wait_to_exit(&mut child, args, limit)?;
    Ok((status.code(), std::fs::read_to_string(out)?, std::fs::read_to_string(err)?))
}

/// Waits for `child` (`firegrid {args}`) to exit, at most `limit`; past it the process is killed
/// and that is an error.
pub fn wait_to_exit(
    child: &mut std::process::Child,
    args: &[&str],
    limit: Duration,
) -> Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("firegrid {args:?} still running after {limit:?}");
        }
        std::thread::sleep(EXIT_POLL);
    }
}

/// How often [`run_to_exit`] and [`Firegrid::stop`] look whether the process has exited.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// SIGTERM to `c`, and wait at most `limit` for a clean exit (exit code 0); killed when it does not
/// stop in time. `log` is what the process printed, for the error.
pub async fn terminate(mut c: Child, limit: Duration, log: impl Fn() -> String) -> Result<()> {
    let pid = c.id().to_string();
    Command::new("sh").args(["-c", "kill -s TERM \"$1\"", "sh", &pid]).status()?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = c.try_wait()? {
            if !status.success() {
                bail!("firegrid exited with {status}; log:\n{}", log());
            }
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            let _ = c.kill();
            let _ = c.wait();
            bail!("firegrid did not stop within {limit:?} of SIGTERM");
        }
        tokio::time::sleep(EXIT_POLL).await;
    }
}
