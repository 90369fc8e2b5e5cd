//! The embedded store: readings kept in a SQLite file under `[data] dir` when no time-series
//! server is configured (the one-machine default, small deployments, the demo).
//!
//! Why SQLite: it holds a township's fleet for a month in one file, answers queries by index, and
//! anyone can query it with the `sqlite3` shell, Python or Grafana's SQLite data source — no
//! server to run. It takes the same line-protocol batches as an InfluxDB server (so the writer,
//! the spool and the tests are the same), and a point is keyed like one: (series, time), so a
//! replayed batch writes each point once.
//!
//! Layout (schema version 2, see [`schema`] and docs/DESIGN.md §4): a `series` table holds each
//! tag set once under an integer id; each UTC day has its own table `points_YYYYMMDD` keyed by
//! `(series_id, ts_ms)` whose only other column `v` is the field values as a JSON array in the
//! order of the `fields` table (the demo uses hour tables); retention and the size cap drop whole
//! tables. The view `points` joins them:
//!
//! ```sql
//! -- the last hour of one device (positions: SELECT * FROM fields)
//! SELECT datetime(ts_ms/1000, 'unixepoch', '+8 hours'), status, v FROM points
//!  WHERE device_id = 'sd-000017' AND ts_ms > (strftime('%s','now') - 3600) * 1000 ORDER BY ts_ms;
//! -- obscuration (position 0 of smoke) of one township's smoke detectors
//! SELECT device_id, json_extract(v, '$[0]') FROM points WHERE measurement = 'smoke' AND township = '500112002';
//! ```
//!
//! - `values`: day tables and the positional JSON array (pure);
//! - [`export`]: the stored points read back as line protocol (`firegrid export`);
//! - [`schema`]: the tables, the view, day tables created and dropped, an old file kept beside;
//! - `write`: one body in one transaction, through a cache of series ids and field positions.

pub mod export;
pub mod schema;
mod values;
mod write;

pub use values::Partition;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::{LineStore, WriteResult};
use write::Catalog;

pub use schema::KeptBeside;

/// The embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedStoreError {
    /// SQLite could not open the database or create its schema.
    #[error("embedded store {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The directory could not be created, or the old file not renamed.
    #[error("embedded store {}: {source}", path.display())]
    Io {
        /// The data directory or file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An old-schema file is to be kept beside the new one, but that name is taken.
    #[error(
        "embedded store {}: it has the old schema (version 1) and would be kept as {}, which exists: move one of \
         them away",
        path.display(),
        beside.display()
    )]
    OldFileInTheWay {
        /// The old-schema file.
        path: PathBuf,
        /// The name it would be kept under.
        beside: PathBuf,
    },
}

/// When a commit is durable (SQLite's `synchronous`, the file in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every commit syncs the write-ahead log before it returns, so what the
    /// writer acknowledges survives a power cut (one `fdatasync` per batch).
    Full,
    /// `synchronous=NORMAL`: commits are not synced (the log is synced at checkpoints); a crash of
    /// firegrid loses nothing committed, a power cut may lose the last commits — acknowledged ones.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "PRAGMA synchronous = FULL;",
            Durability::Normal => "PRAGMA synchronous = NORMAL;",
        }
    }
}

/// How the embedded store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Point tables wholly older than this are dropped.
    pub retention: Duration,
    /// When a commit (and so an acknowledgement) is durable.
    pub durability: Durability,
    /// One table per day, or per hour.
    pub partition: Partition,
    /// While the file's pages in use take more than this, its oldest table is dropped (never the
    /// newest); 0 = no cap.
    pub max_bytes: u64,
}

/// The connection and what it knows of the file, behind one lock.
#[derive(Debug)]
struct Inner {
    conn: Connection,
    catalog: Catalog,
}

/// The embedded store; cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
    retention: Duration,
    max_bytes: u64,
    kept: Option<KeptBeside>,
}

impl EmbeddedStore {
    /// Opens (creating) `dir/readings.sqlite3`; an old-schema file there is kept beside it
    /// first (see [`EmbeddedStore::kept_beside`]).
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<EmbeddedStore, EmbeddedStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| EmbeddedStoreError::Io { path: dir.to_owned(), source })?;
        let path = dir.join("readings.sqlite3");
        let kept = schema::keep_old_file(&path)?;
        let sql = |source| EmbeddedStoreError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        schema::create(&conn).map_err(sql)?;
        conn.execute_batch(options.durability.pragma()).map_err(sql)?;
        let catalog = Catalog::load(&conn, options.partition).map_err(sql)?;
        let inner = Arc::new(Mutex::new(Inner { conn, catalog }));
        Ok(EmbeddedStore { inner, path, retention: options.retention, max_bytes: options.max_bytes, kept })
    }

    /// The database file (for users' own queries).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The old-schema file this open kept beside the new one, if it found one.
    pub fn kept_beside(&self) -> Option<&KeptBeside> {
        self.kept.as_ref()
    }

    /// Drops the tables wholly older than the retention, then the oldest while the file is over
    /// its size cap (never the newest table), then the series no remaining table references;
    /// returns how many tables.
    pub fn expire(&self, now_ms: i64) -> Result<usize, rusqlite::Error> {
        let cutoff = now_ms - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let mut inner = lock(&self.inner);
        let old: Vec<String> =
            inner.catalog.tables.iter().filter(|(_, (_, end))| *end <= cutoff).map(|(n, _)| n.clone()).collect();
        for name in &old {
            schema::drop_table(&inner.conn, name)?;
            inner.catalog.tables.remove(name);
        }
        let mut dropped = old.len();
        while self.max_bytes > 0 && inner.catalog.tables.len() > 1 && schema::used_bytes(&inner.conn)? > self.max_bytes
        {
            let oldest = inner.catalog.tables.iter().min_by_key(|(_, span)| **span).map(|(n, _)| n.clone());
            let Some(name) = oldest else { break };
            schema::drop_table(&inner.conn, &name)?;
            inner.catalog.tables.remove(&name);
            dropped += 1;
        }
        if dropped > 0 {
            let Inner { conn, catalog } = &mut *inner;
            if schema::drop_unreferenced_series(conn, catalog.tables.keys().map(String::as_str))? > 0 {
                // Their ids are gone from the file: a device that reports again gets a new one.
                catalog.forget_series();
            }
        }
        Ok(dropped)
    }

    /// Drops expired tables now and then every `every` until `stop` is cancelled.
    pub async fn run_retention(self, every: Duration, stop: tokio_util::sync::CancellationToken) {
        loop {
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.expire(crate::clock::now_ms())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(event = "embedded_store_expired", tables = n),
                Ok(Err(e)) => tracing::warn!(event = "embedded_store_expire_failed", error = %e),
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Points stored (all measurements).
    #[cfg(test)]
    pub(crate) fn count(&self) -> Result<u64, rusqlite::Error> {
        lock(&self.inner).conn.query_row("SELECT count(*) FROM points", [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
    }

    /// Writes a body in one transaction (blocking).
    fn write_blocking(&self, body: &str) -> WriteResult {
        let mut guard = lock(&self.inner);
        let Inner { conn, catalog } = &mut *guard;
        catalog.write(conn, body)
    }
}

/// A poisoned lock means a panic mid-transaction, which SQLite rolled back: safe to reuse (the
/// catalog learns what a transaction created only after its commit).
fn lock(c: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LineStore for EmbeddedStore {
    async fn write(&self, body: &str) -> WriteResult {
        let this = self.clone();
        let body = body.to_owned();
        match tokio::task::spawn_blocking(move || this.write_blocking(&body)).await {
            Ok(r) => r,
            Err(e) => WriteResult::Retry { after: None, reason: format!("store task failed: {e}") },
        }
    }
}

#[cfg(test)]
mod tests;
