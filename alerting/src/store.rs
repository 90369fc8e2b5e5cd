//! The durable incident store: embedded SQLite (bundled, WAL, `synchronous=FULL`) holding
//! incidents, their evidence, the audit trail, the id counters, the dispatch outbox and the
//! per-device rule state of the detection rules (`rule_state`: one row per device whose state is
//! not the default). One [`Outcome`] is written in one transaction, so a crash leaves either all
//! of a change or none — the rule state of a reading is never ahead of, or behind, its incidents.
//!
//! An outbox row is pending until it is delivered (`delivered_at_ms`) or, for a webhook only,
//! abandoned (`abandoned_at_ms`: its incident closed or it outlived `webhook_max_age_seconds`);
//! the two are exclusive.
//!
//! Schema versions (`PRAGMA user_version`): 1 = incidents, evidence, audit, counters, outbox,
//! dispatch state; 3 adds `rule_state` and `outbox.abandoned_at_ms` (2 was either one of them on
//! a development branch). Tables are `CREATE … IF NOT EXISTS` and [`migrate`] adds missing
//! columns, so opening an older database migrates it in place; incident documents written before
//! a field existed still decode (new fields are `#[serde(default)]`).
//! SQLite calls never run on the async runtime: [`StoreThread`] owns a connection on a dedicated
//! thread and runs closures there.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::correlate::Outcome;
use crate::incident::{AuditEntry, Class, Event, Evidence, Incident, Severity, Status};

mod outbox;

pub use outbox::{Abandon, AbandonReason, OutboxRow, Unroutable};

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
    /// The store thread has stopped.
    #[error("incident store thread has stopped")]
    Closed,
}

/// Filters of the incident list (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Lifecycle state.
    pub status: Option<Status>,
    /// Class.
    pub class: Option<Class>,
    /// County code.
    pub county: Option<String>,
    /// Township code.
    pub township: Option<String>,
    /// Opened at or after, epoch ms.
    pub since_ms: Option<i64>,
    /// Only incidents this station was notified of.
    pub notified_station: Option<String>,
    /// Only incidents this grid was notified of.
    pub notified_grid: Option<String>,
    /// At most this many, newest first (0 = the default of 500).
    pub limit: usize,
}

/// An incident with its evidence and audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The incident.
    pub incident: Incident,
    /// Its evidence, oldest first.
    pub evidence: Vec<Evidence>,
    /// Its audit trail, oldest first.
    pub audit: Vec<AuditEntry>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    class TEXT NOT NULL,
    severity TEXT NOT NULL,
    county TEXT NOT NULL,
    township TEXT NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status);
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents(opened_at_ms);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    seq INTEGER,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    values_json TEXT NOT NULL,
    UNIQUE (incident_id, device_id, ts_ms, reason)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    severity TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_incident ON audit(incident_id);
CREATE TABLE IF NOT EXISTS id_counters (
    key TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at_ms INTEGER,
    last_error TEXT,
    abandoned_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(delivered_at_ms, next_attempt_ms);
CREATE INDEX IF NOT EXISTS outbox_incident ON outbox(incident_id, target);
CREATE TABLE IF NOT EXISTS dispatch_state (
    incident_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_state (
    device_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
";

/// The schema version [`SCHEMA`] and [`migrate`] leave.
const SCHEMA_VERSION: i64 = 3;

/// Brings a file of an older schema up to [`SCHEMA_VERSION`] (after [`SCHEMA`] ran).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_abandoned: i64 =
        conn.query_row("SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'abandoned_at_ms'", [], |r| {
            r.get(0)
        })?;
    if has_abandoned == 0 {
        conn.execute_batch("ALTER TABLE outbox ADD COLUMN abandoned_at_ms INTEGER")?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
}

/// Incident statuses that close an incident.
const CLOSED: &str = "('resolved', 'false_alarm', 'rectified')";

/// A connection to the incident database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: String,
}

/// The database file inside the data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("incidents.sqlite3")
}

impl Store {
    /// Opens (creating when needed) the database in `data_dir`, read-write.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Dir { dir: data_dir.to_owned(), source })?;
        let path = db_path(data_dir);
        let p = path.display().to_string();
        let err = |what| {
            let path = p.clone();
            move |source| StoreError::Sqlite { path, what, source }
        };
        let conn = Connection::open(&path).map_err(err("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err("set synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err("set busy timeout"))?;
        conn.execute_batch(SCHEMA).map_err(err("create schema"))?;
        migrate(&conn).map_err(err("migrate schema"))?;
        Ok(Store { conn, path: path.display().to_string() })
    }

    /// Opens a read-only connection to an existing database (API queries beside the writer).
    pub fn open_reader(data_dir: &Path) -> Result<Store, StoreError> {
        let path = db_path(data_dir);
        let p = path.display().to_string();
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|source| StoreError::Sqlite { path: p.clone(), what: "open reader", source })?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|source| StoreError::Sqlite {
            path: p,
            what: "set busy timeout",
            source,
        })?;
        Ok(Store { conn, path: path.display().to_string() })
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.clone(), what, source }
    }

    /// Writes one outcome in one transaction.
    pub fn write(&mut self, out: &Outcome) -> Result<(), StoreError> {
        if out.is_empty() && out.counters.is_empty() && out.outbox.is_empty() && out.dispatch_state.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path, what: "begin", source })?;
        write_changes(&tx, out, &self.path)?;
        write_rule_state(&tx, &out.rule_state, &self.path)?;
        tx.commit().map_err(|source| StoreError::Sqlite { path: self.path.clone(), what: "commit", source })
    }

    /// The rule-state rows `(device_id, json)` (to resume detection after a restart).
    pub fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut st =
            self.conn.prepare("SELECT device_id, doc FROM rule_state").map_err(self.err("prepare rule state"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err("query rule state"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read rule state"))?;
        Ok(rows)
    }
}

/// Upserts and deletes rule-state rows in order (a later change of a device wins).
fn write_rule_state(
    tx: &rusqlite::Transaction<'_>,
    rows: &[(String, Option<String>)],
    path: &str,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let e = |what| move |source| StoreError::Sqlite { path: path.to_owned(), what, source };
    let mut up = tx
        .prepare_cached(
            "INSERT INTO rule_state (device_id, doc) VALUES (?1, ?2) ON CONFLICT(device_id) DO UPDATE SET doc = ?2",
        )
        .map_err(e("prepare rule state upsert"))?;
    let mut del =
        tx.prepare_cached("DELETE FROM rule_state WHERE device_id = ?1").map_err(e("prepare rule state delete"))?;
    for (device, doc) in rows {
        match doc {
            Some(doc) => up.execute(params![device, doc]).map_err(e("upsert rule state"))?,
            None => del.execute(params![device]).map_err(e("delete rule state"))?,
        };
    }
    Ok(())
}

/// Writes the incident side of an outcome into an open transaction.
fn write_changes(tx: &rusqlite::Transaction<'_>, out: &Outcome, path: &str) -> Result<(), StoreError> {
    {
        let e = |what| {
            let path = path.to_owned();
            move |source| StoreError::Sqlite { path, what, source }
        };
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO incidents (id, status, class, severity, county, township, opened_at_ms, updated_at_ms, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(id) DO UPDATE SET status = ?2, class = ?3, severity = ?4, updated_at_ms = ?8, doc = ?9",
                )
                .map_err(e("prepare incident upsert"))?;
            for inc in &out.incidents {
                let doc =
                    serde_json::to_string(inc).map_err(|source| StoreError::Decode { what: "incident", source })?;
                up.execute(params![
                    inc.id,
                    inc.status.as_str(),
                    inc.class.as_str(),
                    inc.severity.as_str(),
                    inc.county,
                    inc.township,
                    inc.opened_at_ms,
                    inc.updated_at_ms,
                    doc
                ])
                .map_err(e("upsert incident"))?;
            }
            let mut ev = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO evidence
                     (incident_id, device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(e("prepare evidence insert"))?;
            for x in &out.evidence {
                let seq = x.seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
                ev.execute(params![
                    x.incident_id,
                    x.device_id,
                    x.kind,
                    x.ts_ms,
                    x.received_at_ms,
                    seq,
                    x.status,
                    x.reason,
                    x.values.to_string()
                ])
                .map_err(e("insert evidence"))?;
            }
            let mut au = tx
                .prepare_cached(
                    "INSERT INTO audit (incident_id, at_ms, event, from_status, to_status, severity, actor, note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e("prepare audit insert"))?;
            for a in &out.audit {
                au.execute(params![
                    a.incident_id,
                    a.at_ms,
                    a.event.as_str(),
                    a.from_status.map(Status::as_str),
                    a.to_status.as_str(),
                    a.severity.as_str(),
                    a.actor,
                    a.note
                ])
                .map_err(e("insert audit"))?;
            }
            let mut ct = tx
                .prepare_cached(
                    "INSERT INTO id_counters (key, n) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET n = max(n, ?2)",
                )
                .map_err(e("prepare counter upsert"))?;
            for (k, n) in &out.counters {
                ct.execute(params![k, i64::try_from(*n).unwrap_or(i64::MAX)]).map_err(e("upsert counter"))?;
            }
            let mut ob = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO outbox
                     (idempotency_key, incident_id, target, role, channel, payload, created_at_ms, next_attempt_ms, attempts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(e("prepare outbox insert"))?;
            for o in &out.outbox {
                ob.execute(params![
                    o.idempotency_key,
                    o.incident_id,
                    o.target,
                    o.role,
                    o.channel,
                    o.payload,
                    o.created_at_ms,
                    o.next_attempt_ms,
                    o.attempts
                ])
                .map_err(e("insert outbox entry"))?;
            }
            let mut ds = tx
                .prepare_cached(
                    "INSERT INTO dispatch_state (incident_id, doc) VALUES (?1, ?2)
                     ON CONFLICT(incident_id) DO UPDATE SET doc = ?2",
                )
                .map_err(e("prepare dispatch state upsert"))?;
            for (id, doc) in &out.dispatch_state {
                ds.execute(params![id, doc]).map_err(e("upsert dispatch state"))?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Incidents not yet closed (to resume correlation after a restart).
    pub fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents_where("status NOT IN ('resolved', 'false_alarm', 'rectified')", &[], usize::MAX)
    }

    fn incidents_where(
        &self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!("SELECT doc FROM incidents WHERE {cond} ORDER BY opened_at_ms DESC, id DESC LIMIT {limit}");
        let mut st = self.conn.prepare(&sql).map_err(self.err("prepare incident query"))?;
        let docs = st
            .query_map(args, |row| row.get::<_, String>(0))
            .map_err(self.err("query incidents"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read incidents"))?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(|source| StoreError::Decode { what: "incident", source }))
            .collect()
    }

    /// Id counters.
    pub fn counters(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut st = self.conn.prepare("SELECT key, n FROM id_counters").map_err(self.err("prepare counters"))?;
        let rows = st
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
            .map_err(self.err("query counters"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read counters"))?;
        Ok(rows.into_iter().map(|(k, n)| (k, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// Incidents matching the filter, newest first.
    pub fn list(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut cond = vec!["1 = 1".to_owned()];
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        let mut add = |c: &str, v: Box<dyn rusqlite::ToSql>| {
            args.push(v);
            cond.push(c.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = f.status {
            add("status = ?", Box::new(s.as_str()));
        }
        if let Some(c) = f.class {
            add("class = ?", Box::new(c.as_str()));
        }
        if let Some(c) = &f.county {
            add("county = ?", Box::new(c.clone()));
        }
        if let Some(t) = &f.township {
            add("township = ?", Box::new(t.clone()));
        }
        if let Some(s) = f.since_ms {
            add("opened_at_ms >= ?", Box::new(s));
        }
        if let Some(s) = &f.notified_station {
            add("EXISTS (SELECT 1 FROM json_each(doc, '$.notified_stations') WHERE value = ?)", Box::new(s.clone()));
        }
        if let Some(g) = &f.notified_grid {
            add("EXISTS (SELECT 1 FROM json_each(doc, '$.notified_grids') WHERE value = ?)", Box::new(g.clone()));
        }
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let limit = if f.limit == 0 { 500 } else { f.limit };
        self.incidents_where(&cond.join(" AND "), &refs, limit)
    }

    /// One incident with its evidence and audit trail.
    pub fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let doc: Option<String> = self
            .conn
            .query_row("SELECT doc FROM incidents WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.err("read incident"))?;
        let Some(doc) = doc else { return Ok(None) };
        let incident: Incident =
            serde_json::from_str(&doc).map_err(|source| StoreError::Decode { what: "incident", source })?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json
                 FROM evidence WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(self.err("prepare evidence query"))?;
        let rows = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(self.err("query evidence"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read evidence"))?;
        let mut evidence = Vec::with_capacity(rows.len());
        for (device_id, kind, ts_ms, received_at_ms, seq, status, reason, values) in rows {
            evidence.push(Evidence {
                incident_id: id.to_owned(),
                device_id,
                kind,
                ts_ms,
                received_at_ms,
                seq: seq.and_then(|s| u64::try_from(s).ok()),
                status,
                reason,
                values: serde_json::from_str(&values)
                    .map_err(|source| StoreError::Decode { what: "evidence values", source })?,
            });
        }
        let audit = self.audit(id)?;
        Ok(Some(IncidentRecord { incident, evidence, audit }))
    }

    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT at_ms, event, from_status, to_status, severity, actor, note
                 FROM audit WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(self.err("prepare audit query"))?;
        let rows = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(self.err("query audit"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read audit"))?;
        let bad = |what: &str, v: &str| StoreError::Decode {
            what: "audit entry",
            source: serde::de::Error::custom(format!("unknown {what} `{v}`")),
        };
        rows.into_iter()
            .map(|(at_ms, event, from, to, severity, actor, note)| {
                Ok(AuditEntry {
                    incident_id: id.to_owned(),
                    at_ms,
                    event: Event::parse(&event).ok_or_else(|| bad("event", &event))?,
                    from_status: match from {
                        Some(f) => Some(Status::parse(&f).ok_or_else(|| bad("status", &f))?),
                        None => None,
                    },
                    to_status: Status::parse(&to).ok_or_else(|| bad("status", &to))?,
                    severity: Severity::parse(&severity).ok_or_else(|| bad("severity", &severity))?,
                    actor,
                    note,
                })
            })
            .collect()
    }

    /// The dispatch state of every incident not yet closed, `(incident_id, json)`.
    pub fn dispatch_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT d.incident_id, d.doc FROM dispatch_state d JOIN incidents i ON i.id = d.incident_id
                 WHERE i.status NOT IN ('resolved', 'false_alarm', 'rectified')",
            )
            .map_err(self.err("prepare dispatch state query"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err("query dispatch state"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read dispatch state"))?;
        Ok(rows)
    }
}

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A [`Store`] on its own thread; clones share the thread. The thread ends when the last clone drops.
#[derive(Debug, Clone)]
pub struct StoreThread {
    tx: mpsc::Sender<Job>,
}

impl StoreThread {
    /// Moves the store to a new thread named `name`.
    pub fn spawn(mut store: Store, name: &str) -> Result<StoreThread, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut store);
                }
            })
            .map_err(|source| StoreError::Dir { dir: PathBuf::from(name), source })?;
        Ok(StoreThread { tx })
    }

    /// Runs `f` on the store thread and awaits its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}
