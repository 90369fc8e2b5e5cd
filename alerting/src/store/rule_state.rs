//! The detection rules' state per device (`rule_state`: one JSON row per device whose state is
//! not the default), written with the incidents it led to and read back at start-up.

use rusqlite::{params, Transaction};

use super::{sqlite, SqliteStore, StoreError};
use crate::detect::RowChange;

/// Upserts and deletes rule-state rows in order (a later change of a device wins).
pub(super) fn write(tx: &Transaction<'_>, rows: &[RowChange], path: &str) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let e = |what| sqlite(path, what);
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

impl SqliteStore {
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
