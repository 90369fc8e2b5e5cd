//! The embedded MQTT broker (`[mqtt] url = "embedded"`): rumqttd in-process, so one command runs
//! the whole pipeline with nothing else installed. External publishers (the simulator, a real
//! gateway) connect with MQTT 3.1.1 on `mqtt.embedded_listen`; with `mqtt.embedded_users_file`
//! only the users of that file get in (a non-loopback `embedded_listen` without it is refused at
//! load: DESIGN §7). firegrid's own consumer and dispatch connection use MQTT 5 on a second,
//! internal listener on a free loopback port, which takes only credentials generated at each
//! start (so another local user cannot reach it as an anonymous client either).
//!
//! The embedded broker has no per-topic ACLs: a user it lets in may publish to any topic — an
//! acknowledgement for any station included. Where stations connect over MQTT, use mosquitto or
//! EMQX with the ACLs of docs/operations.md.
//!
//! rumqttd keeps sessions in memory: queued messages for a disconnected client survive a
//! reconnect but not a restart of firegrid — production deployments use mosquitto or EMQX.
//! Its per-topic-filter log is capped at `mqtt.embedded_log_bytes` (default 80 MiB; rumqttd's own
//! default, 10 × 100 MiB, let a demo grow by ~0.6 MiB/s): a subscriber further behind loses the
//! oldest messages.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub mod users;

use crate::broker::users::{random_secret, BrokerUsers, SharedUsers};

/// The broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The generated configuration was refused.
    #[error("embedded broker configuration: {0}")]
    Config(String),
    /// It did not accept connections in time (port taken?).
    #[error("embedded broker on {0} did not start listening (is the port in use? set mqtt.embedded_listen)")]
    NotListening(SocketAddr),
}

/// Where firegrid's own clients reach the started broker.
#[derive(Clone)]
pub(crate) struct Internal {
    /// The internal MQTT 5 listener (loopback).
    pub(crate) addr: SocketAddr,
    /// Generated username.
    pub(crate) username: String,
    /// Generated password (128 random bits).
    pub(crate) password: String,
}

impl std::fmt::Debug for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Internal").field("addr", &self.addr).field("username", &self.username).finish_non_exhaustive()
    }
}

/// Full segments rumqttd keeps per filter, besides the active one.
const LOG_SEGMENTS: u64 = 4;
/// The smallest log per filter: rumqttd's segments are at least 1 MiB each.
pub const MIN_LOG_BYTES: u64 = (LOG_SEGMENTS + 1) << 20;
/// The largest log per filter `mqtt.embedded_log_bytes` may ask for (held in memory, ~3×).
pub const MAX_LOG_BYTES: u64 = 4 << 30;

/// Starts the broker: MQTT 3.1.1 on `listen` for publishers (only `users`, when given; anyone
/// otherwise), and MQTT 5 on a free loopback port for firegrid's own clients, with credentials
/// generated now (returned). Returns once both accept connections; the broker's threads live as
/// long as the process.
pub(crate) fn start(
    listen: SocketAddr,
    max_packet_bytes: u32,
    users: Option<SharedUsers>,
    log_bytes: u64,
) -> Result<Internal, BrokerError> {
    if std::net::TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
        return Err(BrokerError::NotListening(listen));
    }
    let internal = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| BrokerError::Config(format!("no free loopback port: {e}")))?;
    // rumqttd keeps, per subscribed filter, an in-memory log of LOG_SEGMENTS full segments and
    // the active one, whether or not the subscribers have read it: that is most of the demo's
    // memory. A subscriber further behind than the log loses what fell out of it.
    let segment = (log_bytes / (LOG_SEGMENTS + 1)).max(1 << 20);
    let toml = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 10010
max_outgoing_packet_count = 1000
max_segment_size = {segment}
max_segment_count = {LOG_SEGMENTS}

[v4.1]
name = "firegrid-v4"
listen = "{listen}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = {max_packet_bytes}
max_inflight_count = 1000
dynamic_filters = true

[v5.1]
name = "firegrid-v5"
listen = "{internal}"
next_connection_delay_ms = 1
[v5.1.connections]
connection_timeout_ms = 60000
max_payload_size = {max_packet_bytes}
max_inflight_count = 10000
dynamic_filters = true
"#
    );
    let mut config: rumqttd::Config = toml::from_str(&toml).map_err(|e| BrokerError::Config(e.to_string()))?;
    let password = random_secret().map_err(|e| BrokerError::Config(e.to_string()))?;
    let own = Internal { addr: internal, username: "firegrid-internal".to_owned(), password };
    let own_users = SharedUsers::fixed(BrokerUsers::single(&own.username, &own.password));
    for server in config.v5.iter_mut().flat_map(|m| m.values_mut()) {
        require_login(server, own_users.clone());
    }
    if let Some(users) = users {
        for server in config.v4.iter_mut().flat_map(|m| m.values_mut()) {
            require_login(server, users.clone());
        }
    }
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(event = "embedded_broker_failed", error = %e);
            }
        })
        .map_err(|e| BrokerError::Config(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let up = |a: &SocketAddr| std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok();
    while Instant::now() < deadline {
        if up(&listen) && up(&internal) {
            tracing::info!(event = "embedded_broker_started", listen = %listen, internal_v5 = %internal);
            return Ok(own);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotListening(listen))
}

/// Makes a listener let in only `users` (checked at each CONNECT, so a reload applies to new
/// connections). rumqttd refuses a client without or with wrong credentials before its session.
fn require_login(server: &mut rumqttd::ServerSettings, users: SharedUsers) {
    server.set_auth_handler(move |_client_id: String, username: String, password: String| {
        std::future::ready(users.check(&username, &password))
    });
}
