//! `[incidents]`: which incident store the alert path uses — `sqlite` (the default: a file in
//! `[data] dir`, one node) or `postgres` (shared by every alert instance) with
//! `[incidents.postgres] url` or `url_file` (a file holding the URL, so the password stays out
//! of the configuration). Validated at load into an [`IncidentBackend`]; errors never repeat a
//! password.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::postgres::{redact, PgUrl};
use super::IncidentBackend;
use firegrid_ingest::config::ConfigError;

/// `[incidents]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// `sqlite` (`{data.dir}/incidents.sqlite3`, one node) or `postgres` (`[incidents.postgres]`).
    pub backend: String,
    /// `[incidents.postgres]`.
    pub postgres: PostgresConfig,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig { backend: "sqlite".into(), postgres: PostgresConfig::default() }
    }
}

/// `[incidents.postgres]`: exactly one of `url` and `url_file`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:5432/db` (prefer `url_file` when it has a password).
    pub url: String,
    /// A file (mode 0600) holding the URL on its first line.
    pub url_file: String,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig").field("url", &redact(&self.url)).field("url_file", &self.url_file).finish()
    }
}

impl IncidentsConfig {
    /// The store to open: SQLite in `data_dir`, or PostgreSQL at the checked URL (read from
    /// `url_file` when set).
    pub fn validate(&self, data_dir: &Path) -> Result<IncidentBackend, ConfigError> {
        match self.backend.as_str() {
            "sqlite" => Ok(IncidentBackend::Sqlite { data_dir: data_dir.to_owned() }),
            "postgres" => Ok(IncidentBackend::Postgres { url: self.postgres.validate()? }),
            other => Err(invalid("incidents.backend", format!("`{other}` is not sqlite or postgres"))),
        }
    }
}

impl PostgresConfig {
    fn validate(&self) -> Result<PgUrl, ConfigError> {
        let (key, text) =
            match (self.url.is_empty(), self.url_file.is_empty()) {
                (false, true) => ("incidents.postgres.url", self.url.clone()),
                (true, false) => {
                    let path = PathBuf::from(&self.url_file);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        invalid("incidents.postgres.url_file", format!("cannot read {}: {e}", path.display()))
                    })?;
                    ("incidents.postgres.url_file", text.lines().next().unwrap_or_default().to_owned())
                }
                (true, true) => return Err(invalid(
                    "incidents.postgres.url",
                    "backend = \"postgres\" needs url (postgres://user@host:5432/db) or url_file (a file holding it)",
                )),
                (false, false) => {
                    return Err(invalid("incidents.postgres.url", "set url or url_file, not both"));
                }
            };
        PgUrl::parse(&text).map_err(|e| invalid(key, e.to_string()))
    }
}

/// A bad value of `key`.
fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str, url_file: &str) -> IncidentsConfig {
        IncidentsConfig {
            backend: "postgres".into(),
            postgres: PostgresConfig { url: url.into(), url_file: url_file.into() },
        }
    }

    #[test]
    fn the_default_is_sqlite_in_the_data_directory() {
        let b = IncidentsConfig::default().validate(Path::new("/d")).expect("valid");
        assert_eq!(b, IncidentBackend::Sqlite { data_dir: "/d".into() });
    }

    #[test]
    fn a_postgres_backend_needs_exactly_one_valid_url_and_errors_hide_the_password() {
        let dir = Path::new("/d");
        assert!(pg("postgres://fg:pw@db/x", "").validate(dir).is_ok());
        assert!(pg("", "").validate(dir).is_err());
        assert!(pg("postgres://fg:pw@db/x", "/f").validate(dir).is_err());
        let e = pg("postgres://fg:s3cret@db:port/x", "").validate(dir).expect_err("bad port");
        assert_eq!(e.key, "incidents.postgres.url");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let other = IncidentsConfig { backend: "mysql".into(), ..IncidentsConfig::default() };
        assert_eq!(other.validate(dir).expect_err("unknown").key, "incidents.backend");
    }

    #[test]
    fn the_url_file_supplies_the_url_and_a_missing_file_names_the_key() {
        let f = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(f.path(), "postgres://fg:s3cret@127.0.0.1:5432/firegrid\n").expect("write");
        let b = pg("", &f.path().display().to_string()).validate(Path::new("/d")).expect("valid");
        assert!(!format!("{b:?}").contains("s3cret"));
        let e = pg("", "/no/such/file").validate(Path::new("/d")).expect_err("missing");
        assert_eq!(e.key, "incidents.postgres.url_file");
    }
}
