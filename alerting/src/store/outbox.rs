//! The dispatch side of the incident store (DESIGN §6): the delivery loop's outbox queries — due
//! rows, attempts, deliveries, abandoned webhooks, pruning — the console's dispatch log and its
//! list of unroutable incidents. Rows are inserted with the incident change that caused them
//! ([`Store::write`]); a row is `pending`, then `delivered` or (webhooks only) `abandoned`.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, CLOSED};
use crate::outbox::OutboxEntry;

impl Store {
    /// Outbox entries pending (neither delivered nor abandoned) whose next attempt is due by
    /// `now_ms`, oldest first.
    pub fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.due_outbox_page(now_ms, limit, 0)
    }

    /// [`Store::due_outbox`] past its first `offset` rows: the delivery loop pages past the rows
    /// it has in flight, so many of them (a broker outage) never hide a new fire's row.
    pub fn due_outbox_page(&self, now_ms: i64, limit: usize, offset: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT idempotency_key, incident_id, target, role, channel, payload, created_at_ms,
                        next_attempt_ms, attempts
                 FROM outbox WHERE delivered_at_ms IS NULL AND abandoned_at_ms IS NULL AND next_attempt_ms <= ?1
                 ORDER BY id LIMIT ?2 OFFSET ?3",
            )
            .map_err(self.err("prepare outbox query"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![now_ms, limit, offset], outbox_entry)
            .map_err(self.err("query outbox"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read outbox"))?;
        Ok(rows)
    }

    /// Records a failed delivery attempt: the entry is retried at `next_attempt_ms`.
    pub fn mark_failed(&self, idempotency_key: &str, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3
                 WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                params![idempotency_key, next_attempt_ms, error],
            )
            .map_err(self.err("record failed outbox attempt"))?;
        Ok(())
    }

    /// Pending webhook rows to give up: those of a closed incident, and those enqueued before
    /// `created_before_ms` (`webhook_max_age_seconds` ago). Oldest first, with why.
    pub fn webhooks_to_abandon(&self, created_before_ms: i64) -> Result<Vec<Abandon>, StoreError> {
        let sql = format!(
            "SELECT o.idempotency_key, o.payload, i.status IN {CLOSED}
             FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id
             WHERE o.channel = 'webhook' AND o.delivered_at_ms IS NULL AND o.abandoned_at_ms IS NULL
               AND (o.created_at_ms < ?1 OR i.status IN {CLOSED})
             ORDER BY o.id"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(self.err("prepare abandon query"))?;
        let rows = st
            .query_map([created_before_ms], |r| {
                let closed: Option<bool> = r.get(2)?;
                Ok(Abandon {
                    idempotency_key: r.get(0)?,
                    payload: r.get(1)?,
                    reason: if closed == Some(true) { AbandonReason::IncidentClosed } else { AbandonReason::MaxAge },
                })
            })
            .map_err(self.err("query abandon"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read abandon"))?;
        Ok(rows)
    }

    /// Records rows as abandoned at `at_ms` (pending ones only, in one transaction); the reason
    /// goes before the last attempt's error in `last_error`. Returns how many changed.
    pub fn mark_abandoned(&mut self, rows: &[(String, AbandonReason)], at_ms: i64) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |what| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, what, source }
        };
        let tx = self.conn.transaction().map_err(e("begin"))?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET abandoned_at_ms = ?2,
                            last_error = ?3 || COALESCE('; last attempt: ' || last_error, '')
                     WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                )
                .map_err(e("prepare outbox abandoned"))?;
            for (k, why) in rows {
                n += st.execute(params![k, at_ms, why.message()]).map_err(e("mark outbox entry abandoned"))?;
            }
        }
        tx.commit().map_err(e("commit"))?;
        Ok(n)
    }

    /// Deletes outbox rows delivered or abandoned before `before_ms`; returns how many.
    pub fn prune_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "DELETE FROM outbox WHERE ((delivered_at_ms IS NOT NULL AND delivered_at_ms < ?1)
                    OR (abandoned_at_ms IS NOT NULL AND abandoned_at_ms < ?1))
                  AND incident_id NOT IN
                      (SELECT id FROM incidents WHERE status NOT IN ('resolved', 'false_alarm', 'rectified'))",
                [before_ms],
            )
            .map_err(self.err("prune delivered outbox rows"))
    }

    /// The distinct notification roles of `target`'s outbox rows of an incident.
    pub fn notification_roles(&self, incident_id: &str, target: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT role FROM outbox WHERE incident_id = ?1 AND target = ?2 ORDER BY role")
            .map_err(self.err("prepare notification roles query"))?;
        let rows = st
            .query_map(params![incident_id, target], |r| r.get(0))
            .map_err(self.err("query notification roles"))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.err("read notification roles"))?;
        Ok(rows)
    }

    /// Marks outbox entries delivered in one transaction; returns how many were not already.
    pub fn mark_delivered_many(&mut self, keys: &[String], at_ms: i64) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |what| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, what, source }
        };
        let tx = self.conn.transaction().map_err(e("begin"))?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET delivered_at_ms = ?2, attempts = attempts + 1
                     WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                )
                .map_err(e("prepare outbox delivered"))?;
            for k in keys {
                n += st.execute(params![k, at_ms]).map_err(e("mark outbox entry delivered"))?;
            }
        }
        tx.commit().map_err(e("commit"))?;
        Ok(n)
    }

    /// Marks an outbox entry delivered.
    pub fn mark_delivered(&self, idempotency_key: &str, at_ms: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET delivered_at_ms = ?2, attempts = attempts + 1
                 WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                params![idempotency_key, at_ms],
            )
            .map_err(self.err("mark outbox entry delivered"))?;
        Ok(n == 1)
    }
}

fn outbox_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        idempotency_key: r.get(0)?,
        incident_id: r.get(1)?,
        target: r.get(2)?,
        role: r.get(3)?,
        channel: r.get(4)?,
        payload: r.get(5)?,
        created_at_ms: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        attempts: r.get(8)?,
    })
}

/// Why a webhook row is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    /// Its incident is resolved, a false alarm or rectified.
    IncidentClosed,
    /// It was enqueued more than `webhook_max_age_seconds` ago.
    MaxAge,
}

impl AbandonReason {
    /// The label of logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            AbandonReason::IncidentClosed => "incident_closed",
            AbandonReason::MaxAge => "max_age",
        }
    }

    /// What `last_error` says.
    pub const fn message(self) -> &'static str {
        match self {
            AbandonReason::IncidentClosed => "abandoned: the incident closed",
            AbandonReason::MaxAge => "abandoned: not delivered within dispatch.webhook_max_age_seconds",
        }
    }
}

/// A pending webhook row to give up ([`Store::webhooks_to_abandon`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Abandon {
    /// The row's key.
    pub idempotency_key: String,
    /// Its message (the delivery loop reads the tier for the metric).
    pub payload: String,
    /// Why.
    pub reason: AbandonReason,
}

/// One outbox row of an incident with its delivery outcome (the console's dispatch log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// The row.
    pub entry: OutboxEntry,
    /// Delivered at, epoch ms; `None` while pending (and when abandoned).
    pub delivered_at_ms: Option<i64>,
    /// The last failed attempt's error (for an abandoned row: why, then the last error).
    pub last_error: Option<String>,
    /// Given up at, epoch ms (webhooks only); `None` while pending or once delivered.
    pub abandoned_at_ms: Option<i64>,
}

impl OutboxRow {
    /// `delivered`, `abandoned` or `pending`.
    pub fn state(&self) -> &'static str {
        if self.delivered_at_ms.is_some() {
            "delivered"
        } else if self.abandoned_at_ms.is_some() {
            "abandoned"
        } else {
            "pending"
        }
    }
}

impl Store {
    /// The dispatch log of an incident: its outbox rows, oldest first, and its dispatch state
    /// (escalation timers, JSON) when it has one. Read-only (the console's detail view).
    pub fn dispatch_log(&self, incident_id: &str) -> Result<(Vec<OutboxRow>, Option<String>), StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT idempotency_key, incident_id, target, role, channel, payload, created_at_ms,
                        next_attempt_ms, attempts, delivered_at_ms, last_error, abandoned_at_ms
                 FROM outbox WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(self.err("prepare dispatch log query"))?;
        let rows = st
            .query_map([incident_id], |r| {
                Ok(OutboxRow {
                    entry: outbox_entry(r)?,
                    delivered_at_ms: r.get(9)?,
                    last_error: r.get(10)?,
                    abandoned_at_ms: r.get(11)?,
                })
            })
            .map_err(self.err("query dispatch log"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read dispatch log"))?;
        let state = self
            .conn
            .query_row("SELECT doc FROM dispatch_state WHERE incident_id = ?1", [incident_id], |r| r.get(0))
            .optional()
            .map_err(self.err("read dispatch state"))?;
        Ok((rows, state))
    }
}

/// An active incident the dispatch stage found no recipient for (the console's banner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unroutable {
    /// The incident.
    pub incident: crate::incident::Incident,
    /// Unroutable since, epoch ms.
    pub since_ms: i64,
}

impl Store {
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
        rows.into_iter()
            .map(|(doc, since_ms)| {
                let incident =
                    serde_json::from_str(&doc).map_err(|source| StoreError::Decode { what: "incident", source })?;
                Ok(Unroutable { incident, since_ms })
            })
            .collect()
    }
}
