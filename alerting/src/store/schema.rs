//! The incident database's schema and its migrations (`PRAGMA user_version`):
//!
//! - 1: incidents, evidence, audit, id counters, outbox, dispatch state;
//! - 3: adds `rule_state` and `outbox.abandoned_at_ms` (2 was either one of them on a development
//!   branch);
//! - 4: adds `outbox.tier`, `outbox.seq` and `outbox.received_at_ms`, so the delivery loop reads
//!   what it needs from typed columns instead of parsing the message it sends. Rows written before
//!   get them from their message.
//!
//! Tables are `CREATE … IF NOT EXISTS` and [`migrate`] adds the missing columns, so opening an
//! older file migrates it in place; incident documents written before a field existed still
//! decode (new fields are `#[serde(default)]`).

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The tables of the current version.
pub(super) const SCHEMA: &str = "
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
    abandoned_at_ms INTEGER,
    tier TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 0,
    received_at_ms INTEGER
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

/// The version [`SCHEMA`] and [`migrate`] leave.
pub(super) const SCHEMA_VERSION: i64 = 4;

/// Columns added to a table after version 1: `(table, column, declaration)`.
const ADDED_COLUMNS: [(&str, &str, &str); 4] = [
    ("outbox", "abandoned_at_ms", "INTEGER"),
    ("outbox", "tier", "TEXT NOT NULL DEFAULT ''"),
    ("outbox", "seq", "INTEGER NOT NULL DEFAULT 0"),
    ("outbox", "received_at_ms", "INTEGER"),
];

/// Version 4: the new outbox columns of older rows, from the message each carries (the same
/// fields the delivery loop used to parse out of it; a row whose message lacks one keeps the
/// default, as the loop did).
const FILL_OUTBOX_COLUMNS: &str = "
UPDATE outbox SET
    tier = CASE WHEN json_type(payload, '$.tier') = 'text' THEN json_extract(payload, '$.tier') ELSE '' END,
    seq = CASE WHEN json_type(payload, '$.seq') = 'integer' THEN json_extract(payload, '$.seq') ELSE 0 END,
    received_at_ms = CASE WHEN json_type(payload, '$.received_at') = 'integer'
                          THEN json_extract(payload, '$.received_at') END
WHERE json_valid(payload)
";

/// Brings a file of an older version up to [`SCHEMA_VERSION`] (after [`SCHEMA`] ran), in one
/// transaction that takes the write lock first (another connection may be writing): a crash
/// leaves the old version, migrated again at the next open. A current file is not written.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for (table, column, declaration) in ADDED_COLUMNS {
        let present: i64 =
            tx.query_row("SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| r.get(0))?;
        if present == 0 {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"))?;
        }
    }
    tx.execute_batch(FILL_OUTBOX_COLUMNS)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}
