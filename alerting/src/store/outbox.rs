//! The dispatch outbox in the store (DESIGN §6): rows are inserted with the incident change that
//! caused them ([`IncidentStore::write`]); a row is pending until it is delivered
//! (`delivered_at_ms`) or, for a webhook only, abandoned (`abandoned_at_ms`: its incident closed or
//! it outlived `webhook_max_age_seconds`) — the two are exclusive. The delivery loop reads due
//! rows and records attempts; the console reads an incident's dispatch log; the permission table
//! reads how a recipient was notified.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{sqlite, SqliteStore, StoreError, CLOSED};
use crate::incident::{Channel, NotifyRole, OutboxEntry, Recipient, RecipientTier};

/// The columns [`decode_entry`] reads, in order.
pub(super) const ENTRY_COLUMNS: &str =
    "idempotency_key, incident_id, target, role, channel, tier, seq, received_at_ms, payload,
                             created_at_ms, next_attempt_ms, attempts";

/// Inserts outbox rows (a key already present is left as it is).
pub(super) fn insert(tx: &Transaction<'_>, rows: &[OutboxEntry], path: &str) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut ob = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO outbox
             (idempotency_key, incident_id, target, role, channel, tier, seq, received_at_ms, payload, created_at_ms,
              next_attempt_ms, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(sqlite(path, "prepare outbox insert"))?;
    for o in rows {
        ob.execute(params![
            o.idempotency_key,
            o.incident_id,
            o.recipient.target(),
            o.role.as_str(),
            o.channel.as_str(),
            o.tier_label(),
            o.seq,
            o.received_at_ms,
            o.payload,
            o.created_at_ms,
            o.next_attempt_ms,
            o.attempts
        ])
        .map_err(sqlite(path, "insert outbox entry"))?;
    }
    Ok(())
}

/// A pending row whose columns name no known role or channel (a file edited by hand): it cannot
/// be sent, and the delivery loop records it as done rather than read it again on every pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UndecodableRow {
    pub(crate) idempotency_key: String,
    /// What does not decode.
    pub(crate) problem: String,
}

/// The columns of [`ENTRY_COLUMNS`] as stored (names not yet decoded); both backends decode
/// them with [`RawEntry::decode`].
pub(super) struct RawEntry {
    pub(super) key: String,
    pub(super) incident_id: String,
    pub(super) target: String,
    pub(super) role: String,
    pub(super) channel: String,
    pub(super) tier: String,
    pub(super) seq: i64,
    pub(super) received_at_ms: Option<i64>,
    pub(super) payload: String,
    pub(super) created_at_ms: i64,
    pub(super) next_attempt_ms: i64,
    pub(super) attempts: i64,
}

impl RawEntry {
    /// The entry; the error names what does not decode.
    pub(super) fn decode(self) -> Result<OutboxEntry, UndecodableRow> {
        let (Some(role), Some(channel)) = (NotifyRole::parse(&self.role), Channel::parse(&self.channel)) else {
            let problem = format!("role `{}`, channel `{}`", self.role, self.channel);
            return Err(UndecodableRow { idempotency_key: self.key, problem });
        };
        Ok(OutboxEntry {
            idempotency_key: self.key,
            incident_id: self.incident_id,
            recipient: Recipient::from_target(&self.target),
            role,
            channel,
            tier: RecipientTier::parse(&self.tier),
            seq: u32::try_from(self.seq).unwrap_or(0),
            received_at_ms: self.received_at_ms,
            payload: self.payload,
            created_at_ms: self.created_at_ms,
            next_attempt_ms: self.next_attempt_ms,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
        })
    }
}

/// An outbox row read from [`ENTRY_COLUMNS`]; the inner error names what does not decode.
fn decode_entry(r: &Row<'_>) -> rusqlite::Result<Result<OutboxEntry, UndecodableRow>> {
    Ok(RawEntry {
        key: r.get(0)?,
        incident_id: r.get(1)?,
        target: r.get(2)?,
        role: r.get(3)?,
        channel: r.get(4)?,
        tier: r.get(5)?,
        seq: r.get(6)?,
        received_at_ms: r.get(7)?,
        payload: r.get(8)?,
        created_at_ms: r.get(9)?,
        next_attempt_ms: r.get(10)?,
        attempts: r.get(11)?,
    }
    .decode())
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

/// A pending webhook row to give up ([`IncidentStore::webhooks_to_abandon`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Abandon {
    /// The row's key.
    pub idempotency_key: String,
    /// Its recipient's tier (the metric's label).
    pub tier: Option<RecipientTier>,
    /// Why.
    pub reason: AbandonReason,
}

/// One outbox row of an incident with its delivery outcome (the console's dispatch log).
#[derive(Debug, Clone, PartialEq)]
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

impl SqliteStore {
    /// Outbox entries pending (neither delivered nor abandoned) whose next attempt is due by
    /// `now_ms`, oldest first, past their first `offset` rows, undecodable rows included
    /// ([`IncidentStore::due_outbox`] leaves those out): the
    /// delivery loop pages past the rows it has in flight, so many of them (a broker outage) never
    /// hide a new fire's row.
    pub(crate) fn due_outbox_page(
        &self,
        now_ms: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Result<OutboxEntry, UndecodableRow>>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS}
                 FROM outbox WHERE delivered_at_ms IS NULL AND abandoned_at_ms IS NULL AND next_attempt_ms <= ?1
                 ORDER BY id LIMIT ?2 OFFSET ?3"
            ))
            .map_err(self.err("prepare outbox query"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![now_ms, limit, offset], decode_entry)
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
        let webhook = Channel::Webhook.as_str();
        let sql = format!(
            "SELECT o.idempotency_key, o.tier, i.status IN {CLOSED}
             FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id
             WHERE o.channel = '{webhook}' AND o.delivered_at_ms IS NULL AND o.abandoned_at_ms IS NULL
               AND (o.created_at_ms < ?1 OR i.status IN {CLOSED})
             ORDER BY o.id"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(self.err("prepare abandon query"))?;
        let rows = st
            .query_map([created_before_ms], |r| {
                let closed: Option<bool> = r.get(2)?;
                Ok(Abandon {
                    idempotency_key: r.get(0)?,
                    tier: RecipientTier::parse(&r.get::<_, String>(1)?),
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
        let path = self.path.as_str();
        let tx = self.conn.transaction().map_err(sqlite(path, "begin"))?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET abandoned_at_ms = ?2,
                            last_error = ?3 || COALESCE('; last attempt: ' || last_error, '')
                     WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                )
                .map_err(sqlite(path, "prepare outbox abandoned"))?;
            for (k, why) in rows {
                n += st
                    .execute(params![k, at_ms, why.message()])
                    .map_err(sqlite(path, "mark outbox entry abandoned"))?;
            }
        }
        tx.commit().map_err(sqlite(path, "commit"))?;
        Ok(n)
    }

    /// Deletes outbox rows delivered or abandoned before `before_ms` (never those of an incident
    /// still open: they say how its recipients were notified); returns how many.
    pub fn prune_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                &format!(
                    "DELETE FROM outbox WHERE ((delivered_at_ms IS NOT NULL AND delivered_at_ms < ?1)
                        OR (abandoned_at_ms IS NOT NULL AND abandoned_at_ms < ?1))
                      AND incident_id NOT IN (SELECT id FROM incidents WHERE status NOT IN {CLOSED})"
                ),
                [before_ms],
            )
            .map_err(self.err("prune delivered outbox rows"))
    }

    /// The distinct roles `who` was notified as of an incident (names no longer known are left out).
    pub(crate) fn notification_roles(&self, incident_id: &str, who: &Recipient) -> Result<Vec<NotifyRole>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT role FROM outbox WHERE incident_id = ?1 AND target = ?2 ORDER BY role")
            .map_err(self.err("prepare notification roles query"))?;
        let rows = st
            .query_map(params![incident_id, who.target()], |r| r.get::<_, String>(0))
            .map_err(self.err("query notification roles"))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.err("read notification roles"))?;
        let mut roles: Vec<NotifyRole> = rows.iter().filter_map(|r| NotifyRole::parse(r)).collect();
        roles.sort();
        Ok(roles)
    }

    /// Marks outbox entries delivered in one transaction; returns how many were not already.
    pub fn mark_delivered_many(&mut self, keys: &[String], at_ms: i64) -> Result<usize, StoreError> {
        let path = self.path.as_str();
        let tx = self.conn.transaction().map_err(sqlite(path, "begin"))?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET delivered_at_ms = ?2, attempts = attempts + 1
                     WHERE idempotency_key = ?1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                )
                .map_err(sqlite(path, "prepare outbox delivered"))?;
            for k in keys {
                n += st.execute(params![k, at_ms]).map_err(sqlite(path, "mark outbox entry delivered"))?;
            }
        }
        tx.commit().map_err(sqlite(path, "commit"))?;
        Ok(n)
    }

    /// Marks an outbox entry delivered (false when it already was).
    pub(crate) fn mark_delivered(&self, idempotency_key: &str, at_ms: i64) -> Result<bool, StoreError> {
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

    /// The dispatch log of an incident: its outbox rows, oldest first, and its dispatch state
    /// (escalation timers, JSON) when it has one. Read-only (the console's detail view).
    pub fn dispatch_log(&self, incident_id: &str) -> Result<(Vec<OutboxRow>, Option<String>), StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS}, delivered_at_ms, last_error, abandoned_at_ms
                 FROM outbox WHERE incident_id = ?1 ORDER BY id"
            ))
            .map_err(self.err("prepare dispatch log query"))?;
        let rows = st
            .query_map([incident_id], |r| {
                let row = decode_entry(r)?.ok().map(|entry| -> rusqlite::Result<OutboxRow> {
                    Ok(OutboxRow {
                        entry,
                        delivered_at_ms: r.get(12)?,
                        last_error: r.get(13)?,
                        abandoned_at_ms: r.get(14)?,
                    })
                });
                row.transpose()
            })
            .map_err(self.err("query dispatch log"))?
            .filter_map(Result::transpose)
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
