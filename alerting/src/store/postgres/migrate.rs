//! The PostgreSQL schema's versioned migrations (`alerting/migrations/postgres/NNNN_*.sql`,
//! embedded in the binary) and their runner: every pending migration is applied at start-up in
//! one transaction that first takes `pg_advisory_xact_lock(MIGRATION_LOCK)`, so instances that
//! start at once migrate once — the others wait on the lock, then find nothing pending. Each
//! applied version is a row of `schema_migrations(version, name, applied_at)`.

use tokio_postgres::Client;

/// One migration: its version (the file's number), name and SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in version order. A new one is a new file and a new row here; an applied
/// file is never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_incident_store",
        sql: include_str!("../../../migrations/postgres/0001_incident_store.sql"),
    },
    Migration {
        version: 2,
        name: "0002_forwarded_actions",
        sql: include_str!("../../../migrations/postgres/0002_forwarded_actions.sql"),
    },
];

/// The advisory lock key of the migration transaction (`firegrid` in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x6669_7265_6772_6964;

/// The table of applied versions.
const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// What the database holds against what this binary knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Apply these, in order.
    Apply(Vec<Migration>),
    /// The database was migrated by a newer binary (it has `found`; this one knows up to `known`).
    TooNew { found: i64, known: i64 },
}

/// The migrations of `known` not yet in `applied` (pure).
pub(crate) fn plan(known: &[Migration], applied: &[i64]) -> Plan {
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied.iter().copied().filter(|v| *v > newest_known).max() {
        return Plan::TooNew { found, known: newest_known };
    }
    Plan::Apply(known.iter().filter(|m| !applied.contains(&m.version)).copied().collect())
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    /// A statement failed (`what` says which).
    #[error("{what}: {}", super::describe(source))]
    Sql {
        /// What was being done.
        what: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// See [`Plan::TooNew`].
    #[error(
        "the database's schema is version {found}, newer than this binary knows ({known}): run the newer binary, \
         or restore the database it was written for"
    )]
    TooNew {
        /// Newest applied version.
        found: i64,
        /// Newest known version.
        known: i64,
    },
}

fn sql(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let what = what.into();
    move |source| MigrateError::Sql { what, source }
}

/// Applies the pending migrations in one transaction under the migration lock; returns the
/// versions this call applied (empty when another instance, or an earlier start, did).
pub(crate) async fn migrate(client: &mut Client) -> Result<Vec<i64>, MigrateError> {
    let tx = client.transaction().await.map_err(sql("begin the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(sql("take the migration lock"))?;
    tx.batch_execute(SCHEMA_MIGRATIONS).await.map_err(sql("create schema_migrations"))?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(sql("read schema_migrations"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pending = match plan(MIGRATIONS, &applied) {
        Plan::Apply(p) => p,
        Plan::TooNew { found, known } => return Err(MigrateError::TooNew { found, known }),
    };
    for m in &pending {
        tx.batch_execute(m.sql).await.map_err(sql(format!("apply migration {}", m.name)))?;
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&m.version, &m.name])
            .await
            .map_err(sql(format!("record migration {}", m.name)))?;
    }
    tx.commit().await.map_err(sql("commit the migration"))?;
    Ok(pending.iter().map(|m| m.version).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Migration = Migration { version: 1, name: "0001_a", sql: "" };
    const B: Migration = Migration { version: 2, name: "0002_b", sql: "" };

    #[test]
    fn only_the_migrations_not_yet_applied_are_planned_in_order() {
        assert_eq!(plan(&[A, B], &[]), Plan::Apply(vec![A, B]));
        assert_eq!(plan(&[A, B], &[1]), Plan::Apply(vec![B]));
        assert_eq!(plan(&[A, B], &[1, 2]), Plan::Apply(vec![]));
    }

    #[test]
    fn a_database_migrated_by_a_newer_binary_is_refused() {
        assert_eq!(plan(&[A], &[1, 2]), Plan::TooNew { found: 2, known: 1 });
    }

    #[test]
    fn the_embedded_migrations_are_numbered_in_order_and_named_by_their_file() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i64::try_from(i).expect("few") + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
    }
}
