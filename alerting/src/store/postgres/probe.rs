//! What `firegrid check-config --probe` asks the PostgreSQL incident store, reading only: it
//! connects as `run` would (TLS by the URL's `sslmode` and `ca_file`), and reads the schema
//! version (`schema_migrations`), whether the session is encrypted (`pg_stat_ssl`) and, for a
//! partition, who holds its lease at which epoch (`partition_leases`, timed by the database's
//! clock). Nothing is written: a database never migrated is reported as such, not migrated.

use super::migrate::MIGRATIONS;
use super::{describe, open, PgUrl};
use crate::store::StoreError;

/// A partition's lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// `{client_id}@{host}:{pid}:{start_ms}` of the instance that holds or last held it.
    pub holder: String,
    /// The epoch it was granted.
    pub epoch: i64,
    /// Milliseconds until it expires by the database's clock (negative: expired).
    pub expires_in_ms: i64,
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgProbe {
    /// The newest applied migration; `None` when the database was never migrated.
    pub schema_version: Option<i64>,
    /// The newest migration this binary has.
    pub binary_version: i64,
    /// Whether the session is encrypted.
    pub tls: bool,
    /// The partition's lease: `None` when no instance ever held it (or none was asked).
    pub lease: Option<LeaseRow>,
}

impl PgProbe {
    /// A database migrated by a newer binary: `run` refuses it.
    pub fn too_new(&self) -> bool {
        self.schema_version.is_some_and(|v| v > self.binary_version)
    }
}

/// Connects to `url` and reads (see the module doc); the lease of `partition` when given. On
/// the async runtime (the connection's task is spawned on it).
pub async fn probe(url: &PgUrl, partition: Option<&str>) -> Result<PgProbe, StoreError> {
    let client = open(url).await?;
    let fail = |what: &'static str| {
        move |e: tokio_postgres::Error| StoreError::Postgres {
            url: url.redacted().to_owned(),
            what,
            message: describe(&e),
        }
    };
    let migrated: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(fail("look for schema_migrations"))?
        .get(0);
    let schema_version = if migrated {
        client
            .query_one("SELECT max(version) FROM schema_migrations", &[])
            .await
            .map_err(fail("read the schema version"))?
            .get(0)
    } else {
        None
    };
    let tls: bool = client
        .query_one("SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)", &[])
        .await
        .map_err(fail("read pg_stat_ssl"))?
        .get(0);
    let lease = match (partition, migrated) {
        (Some(p), true) => client
            .query_opt(
                "SELECT holder, epoch, (extract(epoch FROM expires_at - now()) * 1000)::bigint
                 FROM partition_leases WHERE partition = $1",
                &[&p],
            )
            .await
            .map_err(fail("read the partition lease"))?
            .map(|r| LeaseRow { holder: r.get(0), epoch: r.get(1), expires_in_ms: r.get(2) }),
        _ => None,
    };
    let binary_version = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    Ok(PgProbe { schema_version, binary_version, tls, lease })
}
