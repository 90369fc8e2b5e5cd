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
    /// A PEM bundle of the CA(s) that signed the server's certificate, for the URL's
    /// `sslmode=verify-full`, `verify-ca` or `require` (empty: the system's roots for the
    /// `verify-*` modes, no check for `require`).
    pub ca_file: String,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("url_file", &self.url_file)
            .field("ca_file", &self.ca_file)
            .finish()
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
        let url = PgUrl::parse(&text).map_err(|e| invalid(key, e.to_string()))?;
        let ca_file = self.ca_file()?;
        if ca_file.is_some() && !url.ssl_mode().requires_tls() {
            return Err(invalid(
                "incidents.postgres.ca_file",
                format!(
                    "is set, but the URL's sslmode is {}, which checks no certificate: add sslmode=verify-full \
                     (or verify-ca) to the URL",
                    url.ssl_mode()
                ),
            ));
        }
        Ok(url.with_ca_file(ca_file))
    }

    /// `ca_file`, checked: a PEM bundle with a certificate, used by the URL's mode.
    fn ca_file(&self) -> Result<Option<PathBuf>, ConfigError> {
        if self.ca_file.is_empty() {
            return Ok(None);
        }
        let key = "incidents.postgres.ca_file";
        let path = PathBuf::from(&self.ca_file);
        firegrid_ingest::mqtt::tls::certs(&path, key).map_err(|e| invalid(key, e.to_string()))?;
        Ok(Some(path))
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
            postgres: PostgresConfig { url: url.into(), url_file: url_file.into(), ca_file: String::new() },
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

    #[test]
    fn a_ca_file_must_hold_a_certificate_and_be_used_by_the_urls_sslmode() {
        let dir = tempfile::tempdir().expect("temp");
        let (empty, pem) = (dir.path().join("empty.pem"), dir.path().join("ca.pem"));
        std::fs::write(&empty, "").expect("write");
        // A syntactically valid PEM certificate block (the check at load reads PEM, not X.509).
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n").expect("write");
        let with = |url: &str, ca: &Path| {
            let mut c = pg(url, "");
            c.postgres.ca_file = ca.display().to_string();
            c.validate(Path::new("/d"))
        };
        let ok = with("postgres://fg:s3cret@db/x?sslmode=verify-full", &pem).expect("valid");
        let IncidentBackend::Postgres { url } = ok else { panic!("postgres") };
        assert_eq!((url.ssl_mode(), url.ca_file()), (super::super::postgres::SslMode::VerifyFull, Some(pem.as_path())));
        for (url, ca, says) in [
            ("postgres://fg:s3cret@db/x?sslmode=verify-full", empty.as_path(), "no CERTIFICATE"),
            ("postgres://fg:s3cret@db/x?sslmode=verify-full", Path::new("/no/such.pem"), "/no/such.pem"),
            ("postgres://fg:s3cret@db/x", pem.as_path(), "sslmode is prefer"),
            ("postgres://fg:s3cret@db/x?sslmode=disable", pem.as_path(), "sslmode is disable"),
        ] {
            let e = with(url, ca).expect_err(url);
            assert_eq!(e.key, "incidents.postgres.ca_file", "{e}");
            assert!(e.to_string().contains(says) && !e.to_string().contains("s3cret"), "{e}");
        }
        let e = pg("postgres://fg:s3cret@db/x?sslmode=allow", "").validate(Path::new("/d")).expect_err("allow");
        assert_eq!(e.key, "incidents.postgres.url");
        assert!(e.to_string().contains("sslmode `allow`") && !e.to_string().contains("s3cret"), "{e}");
    }
}
