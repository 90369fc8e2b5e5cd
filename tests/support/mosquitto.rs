//! The mosquitto broker of the harness: a private config, persistence and port per test.

use super::base::*;
use super::server::*;
use anyhow::{bail, Context as _, Result};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

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
