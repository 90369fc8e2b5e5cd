//! The embedded store's schema (version 2) and what changes it: point tables (a day or an hour
//! each) created as points arrive and dropped by retention and the size cap, the `points` view over them, and an old (version 1) file
//! kept read-only beside the new one.
//!
//! ```sql
//! series(id INTEGER PRIMARY KEY, measurement, key UNIQUE, device_id, county, township,
//!        community, grid_id, site_type, status, extra JSON)    -- one row per tag set
//! fields(measurement, name, position, kind, PRIMARY KEY (measurement, name))  -- kind: f i u b s
//! points_YYYYMMDD[HH](series_id, ts_ms, v JSON array, PRIMARY KEY (series_id, ts_ms)) WITHOUT ROWID
//! VIEW points: every point table joined with series
//! ```

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use super::values::table_span;
use super::EmbeddedStoreError;

/// The tags that have a column of their own in `series`; any other tag goes to `extra`.
pub(crate) const TAG_COLUMNS: [&str; 7] =
    ["device_id", "county", "township", "community", "grid_id", "site_type", "status"];

/// The schema version this code writes (`PRAGMA user_version`).
pub(crate) const VERSION: i64 = 2;

/// The tables every file has. `auto_vacuum` must be set before the first table exists: it lets
/// a dropped day's pages go back to the file system (`PRAGMA incremental_vacuum`).
const BASE: &str = "
PRAGMA auto_vacuum = INCREMENTAL;
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    key         TEXT NOT NULL UNIQUE,
    device_id   TEXT,
    county      TEXT,
    township    TEXT,
    community   TEXT,
    grid_id     TEXT,
    site_type   TEXT,
    status      TEXT,
    extra       TEXT
);
CREATE INDEX IF NOT EXISTS series_by_device ON series (device_id);
CREATE INDEX IF NOT EXISTS series_by_township ON series (township, measurement);
CREATE TABLE IF NOT EXISTS fields (
    measurement TEXT NOT NULL,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    PRIMARY KEY (measurement, name)
) WITHOUT ROWID;
";

/// Creates the base tables (idempotent) and records the version.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(BASE)?;
    conn.pragma_update(None, "user_version", VERSION)?;
    rebuild_view(conn)
}

/// A point table of one partition (named by `Partition::table_of`).
pub(crate) fn create_table(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {name} (
             series_id INTEGER NOT NULL,
             ts_ms     INTEGER NOT NULL,
             v         TEXT NOT NULL,
             PRIMARY KEY (series_id, ts_ms)
         ) WITHOUT ROWID;"
    ))?;
    rebuild_view(conn)
}

/// Point tables with the time each covers, `(name, start_ms, end_ms)`, oldest first.
pub(crate) fn tables(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, i64)>> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'points_%'")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<(String, i64, i64)> =
        names.into_iter().filter_map(|n| table_span(&n).map(|(a, b)| (n, a, b))).collect();
    out.sort_by_key(|(_, start, end)| (*start, *end));
    Ok(out)
}

/// Drops a point table and gives its pages back to the file system.
pub(crate) fn drop_table(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {name};"))?;
    rebuild_view(conn)?;
    conn.execute_batch("PRAGMA incremental_vacuum;")
}

/// Deletes the series that no point table references any more (after tables were dropped), so
/// the `series` table holds the devices of the retained period instead of every device ever
/// seen; returns how many. Each remaining table is asked by its primary key, one seek per
/// series and table (a township's 2,000 series × 30 days: 60,000 seeks, milliseconds), never a
/// scan of the points.
pub(crate) fn drop_unreferenced_series<'a>(
    conn: &Connection,
    tables: impl Iterator<Item = &'a str>,
) -> rusqlite::Result<usize> {
    let unreferenced: Vec<String> =
        tables.map(|t| format!("NOT EXISTS (SELECT 1 FROM {t} WHERE series_id = series.id)")).collect();
    let sql = if unreferenced.is_empty() {
        "DELETE FROM series".to_owned()
    } else {
        format!("DELETE FROM series WHERE {}", unreferenced.join(" AND "))
    };
    conn.execute(&sql, [])
}

/// Bytes the file's pages in use take (its size less the free pages).
pub(crate) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    Ok(u64::try_from(used).unwrap_or_default())
}

/// `points`: every point table with its series' measurement and tags, for users' own queries.
fn rebuild_view(conn: &Connection) -> rusqlite::Result<()> {
    let cols = "s.measurement, s.device_id, s.county, s.township, s.community, s.grid_id, s.site_type, s.status, \
                s.extra, p.series_id, p.ts_ms, p.v";
    let branches: Vec<String> = tables(conn)?
        .into_iter()
        .map(|(name, _, _)| format!("SELECT {cols} FROM {name} p JOIN series s ON s.id = p.series_id"))
        .collect();
    let body = if branches.is_empty() {
        format!(
            "SELECT {cols} FROM series s JOIN (SELECT NULL AS series_id, NULL AS ts_ms, NULL AS v WHERE 0) p \
             ON s.id = p.series_id"
        )
    } else {
        branches.join("\nUNION ALL\n")
    };
    conn.execute_batch(&format!("DROP VIEW IF EXISTS points;\nCREATE VIEW points AS\n{body};"))
}

/// What [`keep_old_file`] did with a version-1 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptBeside {
    /// Where the old file is now (read-only for firegrid; query it with `sqlite3`).
    pub path: PathBuf,
    /// Its points.
    pub points: u64,
}

/// An old (version 1) `readings.sqlite3` — a `points` *table* — is checkpointed and renamed to
/// `readings-v1.sqlite3` beside the new file, which then starts empty. Why not migrate: at about
/// 1 KB per point a month of a township is gigabytes, and rewriting it would hold the start-up
/// for minutes; the old file stays queryable with the same SQL as before.
pub(crate) fn keep_old_file(path: &Path) -> Result<Option<KeptBeside>, EmbeddedStoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let sql = |source| EmbeddedStoreError::Sqlite { path: path.to_owned(), source };
    let conn = Connection::open(path).map_err(sql)?;
    let old: Option<String> = conn
        .query_row("SELECT type FROM sqlite_schema WHERE name = 'points'", [], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    if old.as_deref() != Some("table") {
        return Ok(None);
    }
    let beside = path.with_file_name("readings-v1.sqlite3");
    if beside.exists() {
        return Err(EmbeddedStoreError::OldFileInTheWay { path: path.to_owned(), beside });
    }
    let points: i64 = conn.query_row("SELECT count(*) FROM points", [], |r| r.get(0)).map_err(sql)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;").map_err(sql)?;
    drop(conn);
    std::fs::rename(path, &beside).map_err(|source| EmbeddedStoreError::Io { path: path.to_owned(), source })?;
    Ok(Some(KeptBeside { path: beside, points: u64::try_from(points).unwrap_or_default() }))
}
