//! firegrid.toml (DESIGN §7): one table per component, every key defaulted and documented in
//! `deploy/firegrid.toml`, unknown keys refused, and any key overridable from the environment
//! as `FIREGRID_` + the key path in capitals joined by `__` (`FIREGRID_MQTT__URL`).

use std::path::{Path, PathBuf};

use firegrid_alerting::{AlertSettings, AlertingConfig, DispatchConfig, DispatchSettings};
use firegrid_ingest::config::{duration, SpoolSettings};
use firegrid_ingest::config::{
    ConfigError, EmbeddedStoreConfig, InfluxConfig, InfluxSettings, IngestConfig, IngestSettings, MqttConfig,
    MqttSettings, SpoolConfig,
};
use firegrid_ingest::RegistryPaths;
use serde::{Deserialize, Serialize};

use crate::role::Role;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// An environment override names no key or holds a bad value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A value is invalid.
    #[error("{source}")]
    Invalid {
        /// The key and what is wrong.
        #[from]
        source: ConfigError,
    },
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `influxdb`: the InfluxDB write API (InfluxDB 1.x/2.x/3.x/Cloud, VictoriaMetrics);
    /// `embedded`: a SQLite file under `[data] dir`, no server needed.
    pub backend: String,
    /// `[store.influxdb]`.
    pub influxdb: InfluxConfig,
    /// `[store.embedded]`.
    pub embedded: EmbeddedStoreConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: "influxdb".into(),
            influxdb: InfluxConfig::default(),
            embedded: EmbeddedStoreConfig::default(),
        }
    }
}

/// The validated store choice.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// The InfluxDB write API.
    Influx(InfluxSettings),
    /// The embedded store: its retention and durability.
    Embedded(firegrid_ingest::store::embedded::EmbeddedOptions),
}

/// `[registry]`: the three registry files (paths relative to the working directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// devices.csv
    pub devices: String,
    /// stations.csv
    pub stations: String,
    /// grids.csv
    pub grids: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            devices: "deploy/registry/devices.csv".into(),
            stations: "deploy/registry/stations.csv".into(),
            grids: "deploy/registry/grids.csv".into(),
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz`, the API and the console.
    pub listen: String,
    /// Connections served at once; past it new ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client has to send a request's whole header, from the connection's first
    /// byte or the previous response: a client that withholds it is disconnected, so idle or
    /// trickling sockets cannot hold the `max_connections` slots.
    #[serde(deserialize_with = "firegrid_ingest::config::duration::millis")]
    pub header_read_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: "127.0.0.1:8080".into(), max_connections: 1024, header_read_timeout_ms: 10_000 }
    }
}

/// Validated connection limits of `[http]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `http.max_connections`.
    pub max_connections: usize,
    /// `http.header_read_timeout_ms`.
    pub header_read_timeout: std::time::Duration,
}

impl HttpConfig {
    /// The connection limits, checked.
    fn limits(&self) -> Result<HttpLimits, ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError { key: "http.max_connections".into(), message: "must be above 0".into() });
        }
        if self.header_read_timeout_ms == 0 {
            return Err(ConfigError {
                key: "http.header_read_timeout_ms".into(),
                message: "must be above 0 (10000 is the default)".into(),
            });
        }
        Ok(HttpLimits {
            max_connections: self.max_connections,
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
        })
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// CSV `token,role,subject` of the API's bearer tokens.
    pub tokens_file: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { tokens_file: "deploy/tokens.csv".into() }
    }
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Directory of the spool, the incident store and the embedded store.
    pub dir: String,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { dir: "firegrid-data".into() }
    }
}

/// `[node]`: what this process does (DESIGN §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `all` (ingest, alerting, dispatch, API and console in one process), `ingest` (readings to
    /// the store; may share a subscription) or `alert` (alerting, dispatch, API and console; no
    /// readings stored). `firegrid run --role` overrides it.
    pub role: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig { role: Role::All.as_str().into() }
    }
}

impl NodeConfig {
    /// The role, checked against the subscription: only `ingest` instances may share one.
    fn validate(&self, shared_group: &str) -> Result<Role, ConfigError> {
        let role = Role::parse(&self.role).ok_or_else(|| ConfigError {
            key: "node.role".into(),
            message: format!("`{}` is not all, ingest or alert", self.role),
        })?;
        if !shared_group.is_empty() && !role.may_share_subscription() {
            return Err(ConfigError {
                key: "mqtt.shared_group".into(),
                message: format!(
                    "role `{role}` evaluates alarms and must receive every reading of its counties; a shared \
                     subscription (`{shared_group}`) would split them between instances. Set shared_group only on \
                     role = \"ingest\" instances"
                ),
            });
        }
        Ok(role)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[mqtt]`
    pub mqtt: MqttConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[registry]`
    pub registry: RegistryConfig,
    /// `[http]`
    pub http: HttpConfig,
    /// `[api]`
    pub api: ApiConfig,
    /// `[data]`
    pub data: DataConfig,
    /// `[ingest]`
    pub ingest: IngestConfig,
    /// `[spool]`
    pub spool: SpoolConfig,
    /// `[alerting]`: detection thresholds and windows, per kind and per site type.
    pub alerting: AlertingConfig,
    /// `[dispatch]`: routing range, escalation timers, webhook secret and delivery retries.
    pub dispatch: DispatchConfig,
    /// `[node]`: the role of this process.
    pub node: NodeConfig,
    /// `[incidents]`: the incident store (SQLite in `[data] dir`, or a shared PostgreSQL).
    pub incidents: firegrid_alerting::store::IncidentsConfig,
    /// Where `[registry]` was set; not part of the configuration's value (equal configs may
    /// come from different places).
    #[serde(skip)]
    pub registry_set_by: Origin,
}

/// Where a table was set (`set in {file}`, `set by FIREGRID_…`); `None` when it takes its
/// defaults (for `[registry]` they may then be absent: an empty registry, see `registry_files`).
/// Any two origins compare equal: where a value came from is not part of the value.
#[derive(Debug, Clone, Default)]
pub struct Origin(pub Option<String>);

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

/// Validated configuration: what `run` takes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// MQTT.
    pub mqtt: MqttSettings,
    /// Store.
    pub store: StoreSettings,
    /// Store write retry backoff (first delay, cap).
    pub store_retry: (std::time::Duration, std::time::Duration),
    /// Registry files.
    pub registry: RegistryPaths,
    /// HTTP listen address.
    pub http_listen: std::net::SocketAddr,
    /// HTTP connection limits.
    pub http_limits: HttpLimits,
    /// API tokens file (mode 0600; reloaded on SIGHUP).
    pub tokens_file: PathBuf,
    /// The embedded broker's users file (mode 0600), when set and the broker is embedded.
    pub embedded_users_file: Option<PathBuf>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The incident store (`[incidents]`).
    pub incidents: firegrid_alerting::store::IncidentBackend,
    /// Ingest limits and batching.
    pub ingest: IngestSettings,
    /// The disk spool, unless disabled.
    pub spool: Option<SpoolSettings>,
    /// Alert engine settings (validated).
    pub alerting: AlertSettings,
    /// Dispatch settings (validated).
    pub dispatch: DispatchSettings,
    /// What this process runs (`[node] role`).
    pub role: Role,
    /// Where the registry files were configured; `None` = the defaults (see `registry_files`).
    pub registry_set_by: Option<String>,
    /// Bytes of the embedded broker's in-memory log per subscribed filter
    /// (`mqtt.embedded_log_bytes`).
    pub embedded_broker_log_bytes: u64,
    /// The alert partition (`[alerting] partition`), when this instance is one of its
    /// leader/standby instances; its MQTT client id and subscriptions are already the
    /// partition's (`{client_id}-{partition}`, its counties).
    pub partition: Option<firegrid_alerting::partition::PartitionSettings>,
    /// The leader term being run (not a config key: set by `run` for each term it leads).
    pub term: Option<firegrid_alerting::partition::Term>,
}

impl Config {
    /// What `firegrid run` uses with no configuration file at all: the embedded broker and the
    /// embedded store, so one command runs everything on one machine. With a file, every key
    /// not in it takes its documented default (`deploy/firegrid.toml`).
    pub fn standalone() -> Config {
        let mut c = Config::default();
        c.mqtt.url = "embedded".into();
        c.store.backend = "embedded".into();
        c
    }

    /// Reads `path` (or, when `None`, starts from [`Config::standalone`]) and applies the
    /// environment.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, LoadError> {
        let mut value = toml::Value::try_from(Config::standalone())
            .map_err(|e| LoadError::Parse { path: PathBuf::from("<defaults>"), message: e.to_string() })?;
        let mut registry_set_by = None;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.into(), source })?;
            // Parse the file alone first: its errors then carry the file's own line and column.
            let parsed: Config =
                toml::from_str(&text).map_err(|e| LoadError::Parse { path: path.into(), message: e.to_string() })?;
            if toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("registry")) {
                registry_set_by = Some(format!("set in {}", path.display()));
            }
            value = toml::Value::try_from(parsed)
                .map_err(|e| LoadError::Parse { path: path.into(), message: e.to_string() })?;
        }
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix("FIREGRID_") else { continue };
            if !rest.contains("__") {
                continue;
            }
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut value, &keys, &raw).map_err(|message| LoadError::Env { var: var.clone(), message })?;
            if keys.first().is_some_and(|k| k == "registry") {
                registry_set_by = Some(format!("set by {var}"));
            }
        }
        let mut config = Config::deserialize(value)
            .map_err(|e| LoadError::Parse { path: PathBuf::from("<environment>"), message: e.to_string() })?;
        config.registry_set_by = Origin(registry_set_by);
        Ok(config)
    }

    /// Validates every component.
    pub fn validate(&self) -> Result<Settings, LoadError> {
        let influx = self.store.influxdb.validate()?;
        let store_retry = (influx.retry_min, influx.retry_max);
        let store = match self.store.backend.as_str() {
            "influxdb" => StoreSettings::Influx(influx),
            "embedded" if self.store.embedded.retention_days > 366 => {
                return Err(ConfigError {
                    key: "store.embedded.retention_days".into(),
                    message: format!(
                        "{} is more than 366: keep at most a year in the embedded store (export older readings \
                         to InfluxDB)",
                        self.store.embedded.retention_days
                    ),
                }
                .into())
            }
            "embedded" => StoreSettings::Embedded(firegrid_ingest::store::embedded::EmbeddedOptions {
                retention: std::time::Duration::from_secs(
                    u64::from(self.store.embedded.retention_days.max(1)) * 86_400,
                ),
                durability: self.store.embedded.durability()?,
                partition: firegrid_ingest::store::embedded::Partition::Day,
                max_bytes: self.store.embedded.max_bytes,
            }),
            other => {
                return Err(ConfigError {
                    key: "store.backend".into(),
                    message: format!("`{other}` is not influxdb or embedded"),
                }
                .into())
            }
        };
        let alerting = self.alerting.validate()?;
        let http_listen = self.http.listen.parse().map_err(|_| ConfigError {
            key: "http.listen".into(),
            message: format!("`{}` is not host:port (e.g. 127.0.0.1:8080)", self.http.listen),
        })?;
        let incidents = self.incidents.validate(Path::new(&self.data.dir))?;
        let role = self.node.validate(&self.mqtt.shared_group)?;
        let partition = self.alerting.partition(&incidents)?;
        let mqtt = self.partition_mqtt(partition.as_ref(), role)?.validate()?;
        let embedded_users_file = self.embedded_users(&mqtt)?;
        Ok(Settings {
            mqtt,
            store,
            store_retry,
            registry: RegistryPaths {
                devices: self.registry.devices.clone().into(),
                stations: self.registry.stations.clone().into(),
                grids: self.registry.grids.clone().into(),
            },
            http_listen,
            http_limits: self.http.limits()?,
            tokens_file: self.api.tokens_file.clone().into(),
            embedded_users_file,
            data_dir: self.data.dir.clone().into(),
            incidents,
            ingest: self.ingest.validate()?,
            spool: self.spool.validate(Path::new(&self.data.dir))?,
            alerting,
            dispatch: self.dispatch.validate()?,
            role,
            // Paths changed in code (as `demo` does) count as configured.
            registry_set_by: self.registry_set_by.0.clone().or_else(|| {
                (self.registry != RegistryConfig::default()).then(|| "set in the configuration".to_owned())
            }),
            embedded_broker_log_bytes: self.embedded_log_bytes()?,
            partition,
            term: None,
        })
    }

    /// `[mqtt]` as a partition's instance uses it: client id `{client_id}-{partition}` (one
    /// persistent session per partition, which each new leader resumes) subscribed to the
    /// partition's counties. A partition is refused on `ingest` (it runs no alerting) and with
    /// `[mqtt] counties` other than its own.
    fn partition_mqtt(
        &self,
        partition: Option<&firegrid_alerting::partition::PartitionSettings>,
        role: Role,
    ) -> Result<MqttConfig, ConfigError> {
        let Some(p) = partition else { return Ok(self.mqtt.clone()) };
        if !role.parts().alerting {
            return Err(ConfigError {
                key: "alerting.partition".into(),
                message: format!("role `{role}` runs no alerting: set partition only on alert instances"),
            });
        }
        if !self.mqtt.counties.is_empty() && self.mqtt.counties != p.counties {
            return Err(ConfigError {
                key: "mqtt.counties".into(),
                message: format!(
                    "partition `{}` subscribes to its own counties (alerting.counties); leave mqtt.counties empty",
                    p.name
                ),
            });
        }
        let mut mqtt = self.mqtt.clone();
        mqtt.client_id = format!("{}-{}", self.mqtt.client_id, p.name);
        mqtt.counties.clone_from(&p.counties);
        Ok(mqtt)
    }
}

impl Config {
    /// The embedded broker's users file. Anonymous clients are allowed only on a loopback
    /// `embedded_listen`: anything that can reach the port may be hostile, and an anonymous client
    /// could forge a station's acknowledgement or read every dispatch.
    fn embedded_users(&self, mqtt: &firegrid_ingest::config::MqttSettings) -> Result<Option<PathBuf>, ConfigError> {
        let Some(listen) = mqtt.embedded else { return Ok(None) };
        let file = &self.mqtt.embedded_users_file;
        if file.is_empty() && !listen.ip().is_loopback() {
            return Err(ConfigError {
                key: "mqtt.embedded_users_file".into(),
                message: format!(
                    "mqtt.embedded_listen {listen} is not a loopback address, so the embedded broker needs users: set \
                     mqtt.embedded_users_file to a CSV `username,password` (chmod 600), or listen on 127.0.0.1. \
                     It has no per-topic ACLs either: where stations connect over MQTT, use mosquitto or EMQX \
                     (docs/operations.md)"
                ),
            });
        }
        Ok((!file.is_empty()).then(|| PathBuf::from(file)))
    }
}

impl Config {
    /// `mqtt.embedded_log_bytes`, within what rumqttd can take and memory can hold.
    fn embedded_log_bytes(&self) -> Result<u64, ConfigError> {
        use crate::broker::{MAX_LOG_BYTES, MIN_LOG_BYTES};
        let bytes = self.mqtt.embedded_log_bytes;
        if !(MIN_LOG_BYTES..=MAX_LOG_BYTES).contains(&bytes) {
            return Err(ConfigError {
                key: "mqtt.embedded_log_bytes".into(),
                message: format!(
                    "{bytes} is not between {MIN_LOG_BYTES} (5 MiB) and {MAX_LOG_BYTES} (4 GiB): it is the embedded \
                     broker's in-memory log per subscribed filter, held at about three times its size \
                     (default 83886080, 80 MiB)"
                ),
            });
        }
        Ok(bytes)
    }
}

/// Sets `keys` in `root` to `raw`, typed like the value it replaces.
fn set_path(root: &mut toml::Value, keys: &[String], raw: &str) -> Result<(), String> {
    let mut cur = root;
    for (i, k) in keys.iter().enumerate() {
        let table = cur.as_table_mut().ok_or_else(|| format!("`{}` is not a table", keys[..i].join(".")))?;
        let known: Vec<String> = table.keys().cloned().collect();
        cur = table.get_mut(k).ok_or_else(|| {
            format!("`{}` is not a configuration key (known here: {})", keys[..=i].join("."), known.join(", "))
        })?;
    }
    let new = match cur {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        // A duration key takes "30s" or "7d" too; its own deserializer judges the text.
        toml::Value::Integer(_) if keys.last().is_some_and(|k| duration::is_duration_key(k)) => {
            raw.trim().parse().map_or_else(|_| toml::Value::String(raw.trim().to_owned()), toml::Value::Integer)
        }
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| format!("`{raw}` is not an integer"))?)
        }
        toml::Value::Float(_) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| format!("`{raw}` is not a number"))?)
        }
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(raw.trim().parse().map_err(|_| format!("`{raw}` is not true or false"))?)
        }
        toml::Value::Array(_) => {
            let doc: toml::Table =
                toml::from_str(&format!("v = {raw}")).map_err(|e| format!("`{raw}` is not a TOML array: {e}"))?;
            doc.get("v").cloned().ok_or("missing value")?
        }
        _ => return Err("a whole table cannot be set from the environment; set its keys".into()),
    };
    *cur = new;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn defaults_load_and_validate_without_a_file() {
        let c = Config::load(None, env(&[])).expect("defaults");
        assert_eq!(c, Config::standalone());
        let s = c.validate().expect("valid");
        assert_eq!(s.mqtt.port, 1883);
        assert!(s.mqtt.embedded.is_some() && matches!(s.store, StoreSettings::Embedded(_)));
        assert_eq!(s.http_listen.port(), 8080);
    }

    #[test]
    fn duration_keys_take_a_number_in_their_unit_or_a_humantime_duration_from_file_and_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.toml");
        let file = "[mqtt]\nsession_expiry_seconds = \"7d\"\nreconnect_max_ms = \"30s\"\nkeep_alive_seconds = 45\n";
        std::fs::write(&p, file).expect("write");
        let c = Config::load(Some(&p), env(&[("FIREGRID_HTTP__HEADER_READ_TIMEOUT_MS", "5s")])).expect("loads");
        assert_eq!((c.mqtt.session_expiry_seconds, c.mqtt.reconnect_max_ms), (604_800, 30_000));
        assert_eq!((c.mqtt.keep_alive_seconds, c.http.header_read_timeout_ms), (45, 5_000));
        let e = Config::load(Some(&p), env(&[("FIREGRID_MQTT__KEEP_ALIVE_SECONDS", "soon")])).expect_err("bad");
        let e = e.to_string();
        assert!(e.contains("keep_alive_seconds") && e.contains("\"30s\""), "{e}");
    }

    #[test]
    fn environment_overrides_are_typed_by_the_key_they_replace() {
        let c = Config::load(
            None,
            env(&[
                ("FIREGRID_MQTT__URL", "mqtt://127.0.0.1:1999"),
                ("FIREGRID_MQTT__RECEIVE_MAXIMUM", "500"),
                ("FIREGRID_MQTT__COUNTIES", r#"["500112"]"#),
                ("FIREGRID_STORE__INFLUXDB__TOKEN", "t0k"),
                ("FIREGRID_LOG", "ignored: not a key path"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.mqtt.url, "mqtt://127.0.0.1:1999");
        assert_eq!(c.mqtt.receive_maximum, 500);
        assert_eq!(c.mqtt.counties, vec!["500112"]);
        assert_eq!(c.store.influxdb.token.0, "t0k");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_file_line_or_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.toml");
        std::fs::write(&p, "[mqtt]\nurl = \"mqtt://h:1\"\nurll = \"x\"\n").expect("write");
        let e = Config::load(Some(&p), env(&[])).expect_err("unknown key").to_string();
        assert!(e.contains("f.toml") && e.contains("line 3") && e.contains("urll"), "{e}");
        let e = Config::load(None, env(&[("FIREGRID_MQTT__URLL", "x")])).expect_err("unknown").to_string();
        assert!(e.contains("FIREGRID_MQTT__URLL") && e.contains("mqtt.urll"), "{e}");
        let e = Config::load(None, env(&[("FIREGRID_MQTT__RECEIVE_MAXIMUM", "lots")])).expect_err("bad").to_string();
        assert!(e.contains("not an integer"), "{e}");
    }

    #[test]
    fn an_embedded_broker_off_loopback_needs_a_users_file() {
        let mut c = Config::standalone();
        c.mqtt.embedded_listen = "0.0.0.0:1883".into();
        let e = c.validate().expect_err("anonymous on every interface").to_string();
        assert!(e.starts_with("mqtt.embedded_users_file:") && e.contains("0.0.0.0:1883"), "{e}");
        assert!(e.contains("mosquitto or EMQX"), "{e}");
        c.mqtt.embedded_users_file = "users.csv".into();
        assert_eq!(c.validate().expect("with users").embedded_users_file, Some(PathBuf::from("users.csv")));
        let mut c = Config::standalone();
        c.mqtt.embedded_listen = "[::1]:1883".into();
        assert_eq!(c.validate().expect("loopback").embedded_users_file, None);
        let mut c = Config::default();
        c.mqtt.embedded_users_file = "users.csv".into();
        assert_eq!(c.validate().expect("external broker").embedded_users_file, None, "only the embedded broker");
    }

    #[test]
    fn the_embedded_broker_log_is_80_mib_per_filter_unless_set_and_out_of_range_values_name_the_key() {
        assert_eq!(Config::standalone().validate().expect("defaults").embedded_broker_log_bytes, 80 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.toml");
        std::fs::write(&p, "[mqtt]\nurl = \"embedded\"\nembedded_log_bytes = 16777216\n").expect("write");
        let c = Config::load(Some(&p), env(&[])).expect("loads");
        assert_eq!(c.validate().expect("valid").embedded_broker_log_bytes, 16 << 20);
        let c = Config::load(None, env(&[("FIREGRID_MQTT__EMBEDDED_LOG_BYTES", "8388608")])).expect("loads");
        assert_eq!(c.validate().expect("valid").embedded_broker_log_bytes, 8 << 20);
        for bad in [0_u64, (5_u64 << 20) - 1, (4_u64 << 30) + 1] {
            let c = Config::load(None, env(&[("FIREGRID_MQTT__EMBEDDED_LOG_BYTES", &bad.to_string())])).expect("loads");
            let e = c.validate().expect_err("out of range").to_string();
            assert!(e.starts_with("mqtt.embedded_log_bytes:") && e.contains(&bad.to_string()), "{e}");
        }
    }

    #[test]
    fn the_role_defaults_to_all_and_only_ingest_instances_may_share_a_subscription() {
        assert_eq!(Config::default().validate().expect("valid").role, Role::All);
        let mut c = Config::default();
        c.node.role = "ingest".into();
        c.mqtt.shared_group = "firegrid".into();
        assert_eq!(c.validate().expect("ingest may share").role, Role::Ingest);
        for role in ["all", "alert"] {
            c.node.role = role.into();
            let e = c.validate().expect_err("shared alerting").to_string();
            assert!(e.starts_with("mqtt.shared_group:") && e.contains(role), "{e}");
        }
        c.mqtt.shared_group.clear();
        c.node.role = "alerting".into();
        let e = c.validate().expect_err("unknown role").to_string();
        assert!(e.starts_with("node.role:") && e.contains("`alerting`"), "{e}");
        let c = Config::load(None, env(&[("FIREGRID_NODE__ROLE", "alert")])).expect("loads");
        assert_eq!(c.validate().expect("valid").role, Role::Alert);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let mut c = Config::default();
        c.http.listen = "localhost".into();
        assert!(c.validate().expect_err("bad").to_string().starts_with("http.listen:"));
        let mut c = Config::default();
        c.store.backend = "sqlite".into();
        assert!(c.validate().expect_err("bad").to_string().starts_with("store.backend:"));
        let mut c = Config::standalone();
        c.store.embedded.retention_days = 400;
        assert!(c.validate().expect_err("bad").to_string().starts_with("store.embedded.retention_days:"));
        let mut c = Config::standalone();
        c.store.embedded.synchronous = "off".into();
        assert!(c.validate().expect_err("bad").to_string().starts_with("store.embedded.synchronous:"));
    }
}
