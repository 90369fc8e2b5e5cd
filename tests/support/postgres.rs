//! The PostgreSQL server of the harness (Debian package `postgresql`): a private cluster made by
//! `initdb` in a temporary directory, served on a free `127.0.0.1` port with no unix socket, and
//! stopped by its PID (a fast shutdown, then SIGKILL) on drop. A system cluster (Debian's package
//! starts one on 5432) is neither used nor disturbed. Shared with `alerting/tests` by `#[path]`.
//!
//! `initdb` and `postgres` refuse to run as root: when the tests run as root (euid 0) both run as
//! the `postgres` user through `setpriv` (which execs, so the PID the harness holds is the
//! server's own), and the temporary directory is given to that user. Authentication is `trust`
//! for the superuser `firegrid` on the loopback address only.

use super::base::*;
use super::server::*;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Where Debian installs the server binaries: `/usr/lib/postgresql/<major>/bin`.
const PG_LIB: &str = "/usr/lib/postgresql";
/// Overrides the directory of `initdb`, `postgres`, `pg_isready` and `createdb`.
const BIN_DIR_ENV: &str = "FIREGRID_TEST_POSTGRES_BIN_DIR";
/// The cluster's superuser (trust authentication on 127.0.0.1).
pub const PG_USER: &str = "firegrid";
/// The system user the server runs as when the tests run as root.
const RUN_AS: &str = "postgres";

/// A PostgreSQL server on `127.0.0.1:<port>` with its cluster in a temporary directory.
pub struct Postgres {
    // Declared before `dir`: the process is stopped before its directory is removed.
    server: Server,
    port: u16,
    bin: PathBuf,
    databases: std::sync::atomic::AtomicUsize,
    dir: TempDir,
}

impl Postgres {
    /// Runs `initdb` and starts the server on a free port; returns once it accepts connections.
    pub async fn start() -> Result<Postgres> {
        Postgres::start_with(None).await
    }

    /// [`Postgres::start`] with `ssl = on`, serving the certificate and key of the PEM files
    /// `(cert, key)` (copied into the cluster's directory, the key with mode 0600 as the server
    /// requires). Plaintext connections are still accepted: the client's `sslmode` decides.
    pub async fn start_tls(cert: &Path, key: &Path) -> Result<Postgres> {
        Postgres::start_with(Some((cert, key))).await
    }

    async fn start_with(tls: Option<(&Path, &Path)>) -> Result<Postgres> {
        let bin = bin_dir()?;
        let dir = temp_dir("firegrid-postgres-")?;
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(cert, &c).context("copying the server certificate")?;
            std::fs::copy(key, &k).context("copying the server key")?;
            std::fs::set_permissions(&k, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            settings.extend([
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", c.display()),
                format!("ssl_key_file={}", k.display()),
            ]);
        }
        let as_root = effective_uid()? == 0;
        if as_root {
            run(Command::new("chown").args(["-R", &format!("{RUN_AS}:{RUN_AS}")]).arg(dir.path()), "chown")?;
        }
        let data = dir.path().join("data");
        let mut initdb = as_user(as_root, &bin.join("initdb"));
        initdb.current_dir(dir.path()).arg("-D").arg(&data).args([
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let out = initdb.output().context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        let (program, prefix) = launcher(as_root, &bin.join("postgres"));
        let server = Server::new("postgres", program, Vec::new(), dir.path());
        let mut pg = Postgres { server, port: 0, bin, databases: 0.into(), dir };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            pg.port = free_port()?;
            let mut args = prefix.clone();
            args.extend([
                "-D".to_owned(),
                data.display().to_string(),
                "-p".to_owned(),
                pg.port.to_string(),
                "-c".to_owned(),
                "listen_addresses=127.0.0.1".to_owned(),
                "-c".to_owned(),
                "unix_socket_directories=".to_owned(),
                "-c".to_owned(),
                "max_connections=200".to_owned(),
            ]);
            args.extend(settings.iter().flat_map(|s| ["-c".to_owned(), s.clone()]));
            pg.server.args = args;
            match pg.launch().await {
                Ok(()) => return Ok(pg),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("postgres did not start")))
    }

    /// Spawns the server and waits until `pg_isready` says it accepts connections.
    async fn launch(&mut self) -> Result<()> {
        self.server.spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.server.exited() {
                return Err(self.server.exited_error(status));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", PG_USER, "-d", "postgres"])
                .status()
                .context("running pg_isready")?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.server.kill();
                bail!("postgres did not accept connections within {START_TIMEOUT:?}; its log:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://firegrid@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new empty database (`firegrid_1`, `firegrid_2`, …) and returns its URL: each
    /// test, or each instance of one, gets a database of its own on one server.
    pub fn create_database(&self) -> Result<String> {
        let n = self.databases.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let name = format!("firegrid_{n}");
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", PG_USER, &name])
            .output()
            .context("running createdb")?;
        if !out.status.success() {
            bail!("createdb {name} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        Ok(self.url(&name))
    }

    /// The PID of the running server, `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// The temporary directory (`data/`, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        self.server.logs()
    }

    /// A fast shutdown (SIGINT: sessions are ended, the cluster is checkpointed), bounded; then
    /// SIGKILL if it is still running.
    pub fn stop(&mut self) {
        let Some(pid) = self.server.pid() else { return };
        let _ = Command::new("sh").args(["-c", "kill -s INT \"$1\"", "sh", &pid.to_string()]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.server.exited().is_none() && self.server.child.is_some() {
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server.kill();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        shut_down(&mut self.server, &mut self.dir);
    }
}

/// The directory of the PostgreSQL binaries: [`BIN_DIR_ENV`], else the newest
/// `/usr/lib/postgresql/<major>/bin` that has `postgres`.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(PG_LIB)
        .with_context(|| {
            format!("{PG_LIB} not found: run ./scripts/test.sh, which installs the Debian package postgresql")
        })?
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin).with_context(|| {
        format!(
            "no {PG_LIB}/<version>/bin/postgres: run ./scripts/test.sh, which installs the Debian package postgresql"
        )
    })
}

/// This process's effective user id, from `/proc/self/status`.
fn effective_uid() -> Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1)?.parse().ok())
        .context("no effective uid in /proc/self/status")
}

/// The program and leading arguments that run `binary`: as is, or as [`RUN_AS`] through
/// `setpriv` (which execs it: the child's PID is the binary's own) when running as root.
fn launcher(as_root: bool, binary: &Path) -> (PathBuf, Vec<String>) {
    if !as_root {
        return (binary.to_owned(), Vec::new());
    }
    let args = ["--reuid", RUN_AS, "--regid", RUN_AS, "--clear-groups", "--"];
    let mut v: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    v.push(binary.display().to_string());
    (PathBuf::from("setpriv"), v)
}

/// A command that runs `binary` (see [`launcher`]).
fn as_user(as_root: bool, binary: &Path) -> Command {
    let (program, args) = launcher(as_root, binary);
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(())
}
