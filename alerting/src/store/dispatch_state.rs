//! The dispatch stage's state per incident (`dispatch_state`: escalation timers and whether the
//! incident is unroutable, JSON), written with the change that caused it so timers resume after a
//! restart, and the console's list of unroutable incidents.

use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

use super::incidents::decode_incident;
use super::{sqlite, SqliteStore, StoreError, CLOSED};
use crate::incident::Incident;

/// Upserts the dispatch state `(incident_id, json)` of incidents.
pub(super) fn write(tx: &Transaction<'_>, states: &[(String, String)], path: &str) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    let mut ds = tx
        .prepare_cached(
            "INSERT INTO dispatch_state (incident_id, doc) VALUES (?1, ?2)
             ON CONFLICT(incident_id) DO UPDATE SET doc = ?2",
        )
        .map_err(sqlite(path, "prepare dispatch state upsert"))?;
    for (id, doc) in states {
        ds.execute(params![id, doc]).map_err(sqlite(path, "upsert dispatch state"))?;
    }
    Ok(())
}

/// An active incident the dispatch stage found no recipient for (the console's banner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unroutable {
    /// The incident.
    pub incident: Incident,
    /// Unroutable since, epoch ms.
    pub since_ms: i64,
}

impl SqliteStore {
    /// The dispatch state of every incident not yet closed, `(incident_id, json)`.
    pub(crate) fn dispatch_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT d.incident_id, d.doc FROM dispatch_state d JOIN incidents i ON i.id = d.incident_id
                 WHERE i.status NOT IN {CLOSED}"
            ))
            .map_err(self.err("prepare dispatch state query"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err("query dispatch state"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read dispatch state"))?;
        Ok(rows)
    }

    /// Active incidents whose dispatch state says no recipient was found, longest first.
    pub fn unroutable(&self) -> Result<Vec<Unroutable>, StoreError> {
        let sql = format!(
            "SELECT i.doc, json_extract(d.doc, '$.unroutable_since_ms') AS since
             FROM dispatch_state d JOIN incidents i ON i.id = d.incident_id
             WHERE i.status NOT IN {CLOSED} AND since IS NOT NULL
             ORDER BY since, i.id"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(self.err("prepare unroutable query"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.err("query unroutable"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read unroutable"))?;
        rows.into_iter().map(|(doc, since_ms)| Ok(Unroutable { incident: decode_incident(&doc)?, since_ms })).collect()
    }
}
