//! The dispatch outbox in PostgreSQL: the same rows, states and queries as the SQLite store's
//! (`store/outbox.rs`), written with the outcome that caused them and updated by the delivery
//! loop. Updates that must be atomic (many rows delivered, many abandoned) are one transaction,
//! fenced like every write.

use tokio_postgres::{Row, Transaction};

use super::{begin, pg, PgStore, PgUrl, Stmts};
use crate::incident::{Channel, NotifyRole, OutboxEntry, Recipient, RecipientTier};
use crate::store::outbox::{RawEntry, ENTRY_COLUMNS};
use crate::store::{Abandon, AbandonReason, OutboxRow, StoreError, UndecodableRow, CLOSED};

/// Inserts outbox rows (a key already present is left as it is).
pub(super) async fn insert(
    tx: &Transaction<'_>,
    rows: &[OutboxEntry],
    url: &PgUrl,
    c: &Stmts,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let st = c
        .get(
            tx,
            "INSERT INTO outbox (idempotency_key, incident_id, target, role, channel, tier, seq, received_at_ms,
                                 payload, created_at_ms, next_attempt_ms, attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .await
        .map_err(pg(url, "prepare outbox insert"))?;
    for o in rows {
        let (seq, attempts) = (i64::from(o.seq), i64::from(o.attempts));
        tx.execute(
            &st,
            &[
                &o.idempotency_key,
                &o.incident_id,
                &o.recipient.target(),
                &o.role.as_str(),
                &o.channel.as_str(),
                &o.tier_label(),
                &seq,
                &o.received_at_ms,
                &o.payload,
                &o.created_at_ms,
                &o.next_attempt_ms,
                &attempts,
            ],
        )
        .await
        .map_err(pg(url, "insert outbox entry"))?;
    }
    Ok(())
}

/// The row's [`ENTRY_COLUMNS`] from column 0.
fn raw(r: &Row) -> RawEntry {
    RawEntry {
        key: r.get(0),
        incident_id: r.get(1),
        target: r.get(2),
        role: r.get(3),
        channel: r.get(4),
        tier: r.get(5),
        seq: r.get(6),
        received_at_ms: r.get(7),
        payload: r.get(8),
        created_at_ms: r.get(9),
        next_attempt_ms: r.get(10),
        attempts: r.get(11),
    }
}

impl PgStore {
    /// Pending entries due by `now_ms`, oldest first, past the first `offset`.
    pub(crate) fn due_outbox_page(
        &self,
        now_ms: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Result<OutboxEntry, UndecodableRow>>, StoreError> {
        let (limit, offset) = (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox
             WHERE delivered_at_ms IS NULL AND abandoned_at_ms IS NULL AND next_attempt_ms <= $1
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let rows = self.rows("query outbox", &sql, &[&now_ms, &limit, &offset])?;
        Ok(rows.iter().map(|r| raw(r).decode()).collect())
    }

    /// Records a failed delivery attempt.
    pub fn mark_failed(&self, key: &str, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        let (mut client, rt) = self.conn()?;
        let url = &self.url;
        rt.block_on(async {
            let tx = begin(&mut client, url, self.fence.as_ref()).await?;
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2, last_error = $3
                     WHERE idempotency_key = $1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                &[&key, &next_attempt_ms, &error],
            )
            .await
            .map_err(pg(url, "record failed outbox attempt"))?;
            tx.commit().await.map_err(pg(url, "commit"))?;
            Ok(())
        })
    }

    /// Pending webhook rows of closed incidents or enqueued before `created_before_ms`.
    pub fn webhooks_to_abandon(&self, created_before_ms: i64) -> Result<Vec<Abandon>, StoreError> {
        let webhook = Channel::Webhook.as_str();
        let sql = format!(
            "SELECT o.idempotency_key, o.tier, i.status IN {CLOSED}
             FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id
             WHERE o.channel = '{webhook}' AND o.delivered_at_ms IS NULL AND o.abandoned_at_ms IS NULL
               AND (o.created_at_ms < $1 OR i.status IN {CLOSED})
             ORDER BY o.id"
        );
        let rows = self.rows("query abandon", &sql, &[&created_before_ms])?;
        Ok(rows
            .iter()
            .map(|r| Abandon {
                idempotency_key: r.get(0),
                tier: RecipientTier::parse(r.get(1)),
                reason: if r.get::<_, Option<bool>>(2) == Some(true) {
                    AbandonReason::IncidentClosed
                } else {
                    AbandonReason::MaxAge
                },
            })
            .collect())
    }

    /// Records rows as abandoned at `at_ms`, in one transaction; returns how many changed.
    pub fn mark_abandoned(&self, rows: &[(String, AbandonReason)], at_ms: i64) -> Result<usize, StoreError> {
        let (mut client, rt) = self.conn()?;
        let url = &self.url;
        rt.block_on(async {
            let tx = begin(&mut client, url, self.fence.as_ref()).await?;
            let mut n = 0;
            for (k, why) in rows {
                n += tx
                    .execute(
                        "UPDATE outbox SET abandoned_at_ms = $2,
                                last_error = $3 || COALESCE('; last attempt: ' || last_error, '')
                         WHERE idempotency_key = $1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                        &[k, &at_ms, &why.message()],
                    )
                    .await
                    .map_err(pg(url, "mark outbox entry abandoned"))?;
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            tx.commit().await.map_err(pg(url, "commit"))?;
            Ok(n)
        })
    }

    /// Deletes rows delivered or abandoned before `before_ms` (never those of an open incident).
    pub fn prune_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "DELETE FROM outbox WHERE ((delivered_at_ms IS NOT NULL AND delivered_at_ms < $1)
                OR (abandoned_at_ms IS NOT NULL AND abandoned_at_ms < $1))
              AND incident_id NOT IN (SELECT id FROM incidents WHERE status NOT IN {CLOSED})"
        );
        let (mut client, rt) = self.conn()?;
        let url = &self.url;
        rt.block_on(async {
            let tx = begin(&mut client, url, self.fence.as_ref()).await?;
            let n = tx.execute(&sql, &[&before_ms]).await.map_err(pg(url, "prune delivered outbox rows"))?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            tx.commit().await.map_err(pg(url, "commit"))?;
            Ok(n)
        })
    }

    /// The distinct roles `who` was notified as of an incident.
    pub fn notification_roles(&self, incident_id: &str, who: &Recipient) -> Result<Vec<NotifyRole>, StoreError> {
        let target: &str = &who.target();
        let rows = self.rows(
            "query notification roles",
            "SELECT DISTINCT role FROM outbox WHERE incident_id = $1 AND target = $2 ORDER BY role",
            &[&incident_id, &target],
        )?;
        let mut roles: Vec<NotifyRole> = rows.iter().filter_map(|r| NotifyRole::parse(r.get(0))).collect();
        roles.sort();
        Ok(roles)
    }

    /// Marks entries delivered in one transaction; returns how many were not already.
    pub fn mark_delivered_many(&self, keys: &[String], at_ms: i64) -> Result<usize, StoreError> {
        let (mut client, rt) = self.conn()?;
        let url = &self.url;
        rt.block_on(async {
            let tx = begin(&mut client, url, self.fence.as_ref()).await?;
            let mut n = 0;
            for k in keys {
                n += tx
                    .execute(
                        "UPDATE outbox SET delivered_at_ms = $2, attempts = attempts + 1
                         WHERE idempotency_key = $1 AND delivered_at_ms IS NULL AND abandoned_at_ms IS NULL",
                        &[k, &at_ms],
                    )
                    .await
                    .map_err(pg(url, "mark outbox entry delivered"))?;
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            tx.commit().await.map_err(pg(url, "commit"))?;
            Ok(n)
        })
    }

    /// Marks an entry delivered (false when it already was).
    pub fn mark_delivered(&self, key: &str, at_ms: i64) -> Result<bool, StoreError> {
        Ok(self.mark_delivered_many(&[key.to_owned()], at_ms)? == 1)
    }

    /// The dispatch log of an incident: its outbox rows, oldest first, and its dispatch state.
    pub fn dispatch_log(&self, incident_id: &str) -> Result<(Vec<OutboxRow>, Option<String>), StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, delivered_at_ms, last_error, abandoned_at_ms
             FROM outbox WHERE incident_id = $1 ORDER BY id"
        );
        let rows = self.rows("query dispatch log", &sql, &[&incident_id])?;
        let log = rows
            .iter()
            .filter_map(|r| {
                let entry = raw(r).decode().ok()?;
                Some(OutboxRow { entry, delivered_at_ms: r.get(12), last_error: r.get(13), abandoned_at_ms: r.get(14) })
            })
            .collect();
        let state = self
            .rows("read dispatch state", "SELECT doc FROM dispatch_state WHERE incident_id = $1", &[&incident_id])?
            .first()
            .map(|r| r.get(0));
        Ok((log, state))
    }
}
