//! The embedded store: readings kept in a SQLite file under `[data] dir` when no time-series
//! server is configured (the one-machine default, small deployments, the demo).
//!
//! Why SQLite: it holds a small town's fleet for weeks in one file (a point is one row of
//! about 200 bytes; 2,000 devices reporting every minute is ~3 M rows a day), answers the
//! console's queries by index, and anyone can query it with the `sqlite3` shell, Python or
//! Grafana's SQLite data source — no server to run. It takes the same line-protocol batches as
//! an InfluxDB server (so the writer, the spool and the tests are the same), and a point is
//! keyed like one: (measurement, tag set, time), so a replayed batch writes each point once.
//!
//! ```sql
//! -- the last hour of one device
//! SELECT datetime(ts_ms/1000, 'unixepoch', '+8 hours'), status, fields FROM points
//!  WHERE device_id = 'sd-000017' AND ts_ms > (strftime('%s','now') - 3600) * 1000 ORDER BY ts_ms;
//! -- obscuration of one township's smoke detectors
//! SELECT device_id, json_extract(fields, '$.obscuration_db_m') FROM points
//!  WHERE measurement = 'smoke' AND township = '500112002';
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection};

use super::{LineStore, WriteResult};
use crate::lineproto::parse::{parse_line, FieldValue};

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
    /// The directory could not be created.
    #[error("embedded store {}: {source}", path.display())]
    Io {
        /// The data directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
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
    /// Points older than this are deleted.
    pub retention: Duration,
    /// When a commit (and so an acknowledgement) is durable.
    pub durability: Durability,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    series      TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    device_id   TEXT,
    county      TEXT,
    township    TEXT,
    community   TEXT,
    grid_id     TEXT,
    site_type   TEXT,
    status      TEXT,
    tags        TEXT NOT NULL,
    fields      TEXT NOT NULL,
    PRIMARY KEY (measurement, series, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (ts_ms);
CREATE INDEX IF NOT EXISTS points_by_device ON points (device_id, ts_ms);
CREATE INDEX IF NOT EXISTS points_by_township ON points (township, measurement, ts_ms);
";

/// The embedded store; cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    retention: Duration,
}

impl EmbeddedStore {
    /// Opens (creating) `dir/readings.sqlite3`.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<EmbeddedStore, EmbeddedStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| EmbeddedStoreError::Io { path: dir.to_owned(), source })?;
        let path = dir.join("readings.sqlite3");
        let sql = |source| EmbeddedStoreError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        conn.execute_batch(options.durability.pragma()).map_err(sql)?;
        Ok(EmbeddedStore { conn: Arc::new(Mutex::new(conn)), path, retention: options.retention })
    }

    /// The database file (for users' own queries).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes points older than the retention; returns how many.
    pub(crate) fn expire(&self, now_ms: i64) -> Result<usize, rusqlite::Error> {
        let cutoff = now_ms - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        lock(&self.conn).execute("DELETE FROM points WHERE ts_ms < ?1", params![cutoff])
    }

    /// Deletes expired points now and then every `every` until `stop` is cancelled.
    pub async fn run_retention(self, every: Duration, stop: tokio_util::sync::CancellationToken) {
        loop {
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.expire(crate::clock::now_ms())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(event = "embedded_store_expired", points = n),
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
        lock(&self.conn).query_row("SELECT count(*) FROM points", [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
    }

    /// Writes a body in one transaction (blocking).
    fn write_blocking(&self, body: &str) -> WriteResult {
        let mut conn = lock(&self.conn);
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return WriteResult::Retry { after: None, reason: format!("sqlite: {e}") },
        };
        {
            let mut stmt = match tx.prepare_cached(
                "INSERT OR REPLACE INTO points
                 (measurement, series, ts_ms, device_id, county, township, community, grid_id, site_type, status, tags, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            ) {
                Ok(s) => s,
                Err(e) => return WriteResult::Retry { after: None, reason: format!("sqlite: {e}") },
            };
            for line in body.lines().filter(|l| !l.trim().is_empty()) {
                let p = match parse_line(line) {
                    Ok(p) => p,
                    Err(e) => return WriteResult::Rejected(format!("unable to parse line: {e}")),
                };
                let Some(ts) = p.timestamp else {
                    return WriteResult::Rejected("a line without a timestamp".into());
                };
                let tag = |k: &str| p.tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
                let tags: serde_json::Map<String, serde_json::Value> =
                    p.tags.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
                let fields: serde_json::Map<String, serde_json::Value> =
                    p.fields.iter().map(|(k, v)| (k.clone(), json_value(v))).collect();
                let r = stmt.execute(params![
                    p.measurement,
                    p.series,
                    ts,
                    tag("device_id"),
                    tag("county"),
                    tag("township"),
                    tag("community"),
                    tag("grid_id"),
                    tag("site_type"),
                    tag("status"),
                    serde_json::Value::Object(tags).to_string(),
                    serde_json::Value::Object(fields).to_string(),
                ]);
                if let Err(e) = r {
                    return WriteResult::Retry { after: None, reason: format!("sqlite: {e}") };
                }
            }
        }
        match tx.commit() {
            Ok(()) => WriteResult::Ok,
            Err(e) => WriteResult::Retry { after: None, reason: format!("sqlite commit: {e}") },
        }
    }
}

fn json_value(v: &FieldValue) -> serde_json::Value {
    match v {
        FieldValue::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        FieldValue::Int(i) => (*i).into(),
        FieldValue::UInt(u) => (*u).into(),
        FieldValue::Bool(b) => (*b).into(),
        FieldValue::Str(s) => s.clone().into(),
    }
}

/// A poisoned lock means a panic mid-transaction, which SQLite rolled back: safe to reuse.
fn lock(c: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
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
mod tests {
    use super::*;

    fn opts(retention_seconds: u64) -> EmbeddedOptions {
        EmbeddedOptions { retention: Duration::from_secs(retention_seconds), durability: Durability::Full }
    }

    #[test]
    fn the_file_is_opened_with_the_configured_synchronous_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (durability, want) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let store = EmbeddedStore::open(dir.path(), EmbeddedOptions { durability, ..opts(60) }).expect("opens");
            let got: i64 = lock(&store.conn).query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
            assert_eq!(got, want, "{durability:?}");
        }
    }

    #[tokio::test]
    async fn points_are_stored_once_per_series_and_time_and_queryable_with_sql() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path(), opts(86_400)).expect("opens");
        let body = "smoke,device_id=sd-1,county=500112,township=500112002,status=normal obscuration_db_m=0.03,alarm=false,seq=1i 1000\n\
                    smoke,device_id=sd-1,county=500112,township=500112002,status=normal obscuration_db_m=0.04,seq=2i 2000\n";
        assert_eq!(store.write(body).await, WriteResult::Ok);
        assert_eq!(store.write(body).await, WriteResult::Ok, "a replay is harmless");
        assert_eq!(store.count().expect("count"), 2);
        let conn = Connection::open(store.path()).expect("a second reader, as a user would");
        let v: f64 = conn
            .query_row(
                "SELECT json_extract(fields, '$.obscuration_db_m') FROM points WHERE device_id='sd-1' AND ts_ms=2000",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(v, 0.04);
        assert_eq!(store.expire(86_400_000 + 1500).expect("expire"), 1);
    }

    #[tokio::test]
    async fn the_retention_task_deletes_expired_points_when_it_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path(), opts(3600)).expect("opens");
        let old = crate::clock::now_ms() - 2 * 3_600_000;
        let fresh = crate::clock::now_ms();
        let body = format!("smoke,device_id=a f=1 {old}\nsmoke,device_id=a f=2 {fresh}\n");
        assert_eq!(store.write(&body).await, WriteResult::Ok);
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(store.clone().run_retention(Duration::from_secs(3600), stop.clone()));
        tokio::time::timeout(Duration::from_secs(10), async {
            while store.count().expect("count") != 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the expired point is deleted");
        stop.cancel();
        task.await.expect("the task stops when cancelled");
    }

    #[tokio::test]
    async fn a_malformed_line_is_refused_so_the_writer_can_isolate_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path(), opts(60)).expect("opens");
        assert!(matches!(store.write("smoke f=1 1\nnot a line\n").await, WriteResult::Rejected(_)));
        assert_eq!(store.count().expect("count"), 0, "the transaction is all or nothing");
    }
}
