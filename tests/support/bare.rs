//! The real `firegrid` binary run as a newcomer runs it: in a working directory of the test's
//! choosing (outside the repository), with no configuration file unless the arguments give one.
//! Output goes to a log file the test reads; the process is killed by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A `firegrid` process started in a chosen working directory.
pub struct BareRun {
    child: Option<Child>,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// Its HTTP port.
    pub http_port: u16,
}

impl BareRun {
    /// Starts `firegrid {args}` in `cwd` with `env`, an HTTP listener and an embedded-broker
    /// listener on free loopback ports, and waits (at most 30 s) for `/healthz`.
    pub async fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<BareRun> {
        let http_port = super::free_port()?;
        let log = cwd.join("firegrid.log");
        let mut run = BareRun { child: Some(spawn(cwd, args, env, http_port, &log)?), log, http_port };
        let port = http_port;
        let up = super::eventually(Duration::from_secs(30), || async move {
            let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
            Ok(r.ok().filter(|r| r.status().is_success()).map(|_| ()))
        })
        .await;
        if let Err(e) = up {
            run.kill();
            bail!("{e}; log:\n{}", run.output());
        }
        Ok(run)
    }

    /// SIGTERM, and wait at most `limit` for a successful exit.
    pub async fn stop(&mut self, limit: Duration) -> Result<()> {
        let Some(c) = self.child.take() else { return Ok(()) };
        super::process::terminate(c, limit, || self.output()).await
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for BareRun {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `firegrid {args}` in `cwd` to its exit (at most `limit`, then it is killed and that is an
/// error); returns whether it succeeded and what it printed.
pub fn run_to_exit_in(cwd: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Result<(bool, String)> {
    let log = cwd.join("firegrid-once.log");
    let mut child = spawn(cwd, args, env, super::free_port()?, &log)?;
    let status = super::process::wait_to_exit(&mut child, args, limit)?;
    Ok((status.success(), std::fs::read_to_string(&log)?))
}

fn spawn(cwd: &Path, args: &[&str], env: &[(&str, &str)], http_port: u16, log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log)?;
    Command::new(env!("CARGO_BIN_EXE_firegrid"))
        .args(args)
        .current_dir(cwd)
        .env("FIREGRID_HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env("FIREGRID_MQTT__EMBEDDED_LISTEN", format!("127.0.0.1:{}", super::free_port()?))
        .env("FIREGRID_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting the firegrid binary")
}
