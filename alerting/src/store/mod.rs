//! The durable incident store: incidents, their evidence, the audit trail, the id counters, the
//! dispatch outbox, the dispatch state and the per-device rule state of the detection rules, in
//! embedded SQLite ([`SqliteStore`]: bundled, WAL, `synchronous=FULL`; the single-node default) or
//! in a shared PostgreSQL ([`PgStore`], `[incidents] backend = "postgres"`). One [`Outcome`] is
//! written in one transaction ([`IncidentStore::write`]) on either, so a crash leaves either all
//! of a change or none — the rule state of a reading is never ahead of, or behind, its incidents.
//!
//! - `backend`: [`IncidentStore`], the one type the engine, planner and API call, over either.
//! - `config`: `[incidents]` and its validation into an [`IncidentBackend`].
//! - `postgres`: the PostgreSQL store, its migrations and its fencing hook.
//! - `schema`: the SQLite tables, their versions and the migration of older files.
//! - `incidents`: incidents, evidence, audit trail and id counters (write and read).
//! - `outbox`: the dispatch outbox (the delivery loop's queries, the console's dispatch log).
//! - `dispatch_state`, `rule_state`: the dispatch stage's and the rules' state per incident/device.
//! - `thread`: [`StoreThread`] — SQLite calls never run on the async runtime.

mod backend;
mod config;
mod dispatch_state;
mod incidents;
mod outbox;
pub mod postgres;
mod rule_state;
mod schema;
mod thread;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use backend::{blocking, IncidentBackend, IncidentStore};
pub use config::{IncidentsConfig, PostgresConfig};
pub use dispatch_state::Unroutable;
pub use incidents::{IncidentFilter, IncidentRecord};
pub(crate) use outbox::UndecodableRow;
pub use outbox::{Abandon, AbandonReason, OutboxRow};
pub use postgres::{Fence, PgStore, PgUrl};
pub(crate) use thread::StoreThread;

use crate::incident::Outcome;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("incident store {path}: {what}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A stored document does not decode.
    #[error("incident store: stored {what} does not decode: {source}")]
    Decode {
        /// What was read.
        what: &'static str,
        /// The decode error.
        source: serde_json::Error,
    },
    /// The data directory cannot be created.
    #[error("incident store: cannot create {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store thread could not be started.
    #[error("incident store: cannot start thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store thread has stopped.
    #[error("incident store thread has stopped")]
    Closed,
    /// PostgreSQL refused an operation (the URL and message are redacted).
    #[error("incident store {url}: {what}: {message}")]
    Postgres {
        /// The store's URL, password hidden.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The driver's message, passwords hidden.
        message: String,
    },
    /// A write would open a second incident from the same alarm (the unique index
    /// `incidents_one_open_per_alarm`), or an incident id another writer opened first. Rolled
    /// back.
    #[error("incident store: an incident for this alarm is already open (written by another instance): {detail}")]
    DuplicateOpen {
        /// PostgreSQL's detail (the key).
        detail: String,
    },
    /// The write's fence no longer holds: the partition's lease has another epoch (or no row).
    /// Rolled back; the instance must stop acting for the partition.
    #[error("incident store: fenced: partition {partition} is no longer at epoch {epoch} (found {found:?})")]
    Fenced {
        /// The partition.
        partition: String,
        /// The epoch this instance holds.
        epoch: i64,
        /// The epoch in `partition_leases`, if the row exists.
        found: Option<i64>,
    },
    /// A blocking store call was made on the async runtime (a bug: use the store thread or
    /// [`blocking`]).
    #[error("incident store: a blocking call was made on the async runtime")]
    OnRuntime,
}

/// A stored value that is not one of its names (an unknown status, kind, …).
fn unknown(what: &'static str, value: &str) -> StoreError {
    StoreError::Decode { what, source: serde::de::Error::custom(format!("unknown value `{value}`")) }
}

/// The SQL list of the statuses that close an incident.
const CLOSED: &str = "('resolved', 'false_alarm', 'rectified')";

/// The database file inside the data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("incidents.sqlite3")
}

/// A connection to the SQLite incident database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

/// The error of a failed SQLite call on the file at `path`, while doing `what`.
fn sqlite<'a>(path: &'a str, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sqlite { path: path.to_owned(), what, source }
}

impl SqliteStore {
    /// Opens (creating when needed) the database in `data_dir`, read-write, migrating an older
    /// file in place.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Dir { dir: data_dir.to_owned(), source })?;
        let path = db_path(data_dir).display().to_string();
        let err = |what| sqlite(&path, what);
        let conn = Connection::open(&path).map_err(err("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err("set synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err("set busy timeout"))?;
        conn.execute_batch(schema::SCHEMA).map_err(err("create schema"))?;
        schema::migrate(&conn).map_err(err("migrate schema"))?;
        Ok(SqliteStore { conn, path })
    }

    /// Opens a read-only connection to an existing database (API queries beside the writer).
    pub(crate) fn open_reader(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = db_path(data_dir).display().to_string();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(sqlite(&path, "open reader"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite(&path, "set busy timeout"))?;
        Ok(SqliteStore { conn, path })
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sqlite(&self.path, what)
    }

    /// Deletes the incidents closed before `before_ms` with their evidence, audit trail, outbox
    /// rows and dispatch state, in one transaction (the demo's retention; `run` keeps every
    /// incident). The engine holds only open incidents, so nothing it knows goes; returns how many.
    pub fn prune_closed(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let old = format!("SELECT id FROM incidents WHERE status IN {CLOSED} AND updated_at_ms < ?1");
        let path = self.path.as_str();
        let tx = self.conn.transaction().map_err(sqlite(path, "begin"))?;
        for table in ["evidence", "audit", "outbox", "dispatch_state"] {
            let sql = format!("DELETE FROM {table} WHERE incident_id IN ({old})");
            tx.execute(&sql, [before_ms]).map_err(sqlite(path, "prune closed incidents"))?;
        }
        let n = tx.execute(&format!("DELETE FROM incidents WHERE id IN ({old})"), [before_ms]);
        let n = n.map_err(sqlite(path, "prune closed incidents"))?;
        tx.commit().map_err(sqlite(path, "commit"))?;
        Ok(n)
    }

    /// Writes one outcome in one transaction.
    pub fn write(&mut self, out: &Outcome) -> Result<(), StoreError> {
        if out.writes_nothing() {
            return Ok(());
        }
        let path = self.path.as_str();
        let tx = self.conn.transaction().map_err(sqlite(path, "begin"))?;
        incidents::write(&tx, out, path)?;
        outbox::insert(&tx, &out.outbox, path)?;
        dispatch_state::write(&tx, &out.dispatch_state, path)?;
        rule_state::write(&tx, &out.rule_state, path)?;
        tx.commit().map_err(sqlite(path, "commit"))
    }
}
