//! The write side of [`PgStore`]: one [`Outcome`] in one transaction (fenced when a fence is
//! set), with the same statements as the SQLite store's in PostgreSQL's dialect.

use tokio_postgres::Transaction;

use super::{begin, pg, PgStore, PgUrl, Stmts};
use crate::incident::{Event, Outcome, Status};
use crate::store::StoreError;

impl PgStore {
    /// Writes one outcome in one transaction (see the module doc of [`super`] for the fence).
    pub fn write(&self, out: &Outcome) -> Result<(), StoreError> {
        if out.writes_nothing() {
            return Ok(());
        }
        let (mut client, rt) = self.conn()?;
        let (url, fence, c) = (&self.url, self.fence.as_ref(), &self.stmts);
        rt.block_on(async {
            let tx = begin(&mut client, url, fence).await?;
            write_incidents(&tx, out, url, c).await?;
            write_evidence(&tx, out, url, c).await?;
            write_audit(&tx, out, url, c).await?;
            write_counters(&tx, out, url, c).await?;
            super::outbox::insert(&tx, &out.outbox, url, c).await?;
            write_states(&tx, out, url, c).await?;
            super::forward::answer(&tx, out, url, c).await?;
            tx.commit().await.map_err(pg(url, "commit"))
        })
    }
}

/// Upserts the incidents; one this outcome opens (its `opened` audit entry) is a plain insert,
/// so a second writer opening the same id fails instead of overwriting it.
async fn write_incidents(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    if out.incidents.is_empty() {
        return Ok(());
    }
    let opened: Vec<&str> =
        out.audit.iter().filter(|a| a.event == Event::Opened).map(|a| a.incident_id.as_str()).collect();
    let insert = c
        .get(
            tx,
            "INSERT INTO incidents (id, status, class, severity, county, township, correlation_key, first_alarm_ms,
                                    opened_at_ms, updated_at_ms, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await
        .map_err(pg(url, "prepare incident insert"))?;
    let upsert = c
        .get(
            tx,
            "INSERT INTO incidents (id, status, class, severity, county, township, correlation_key, first_alarm_ms,
                                    opened_at_ms, updated_at_ms, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, class = EXCLUDED.class,
                severity = EXCLUDED.severity, updated_at_ms = EXCLUDED.updated_at_ms, doc = EXCLUDED.doc",
        )
        .await
        .map_err(pg(url, "prepare incident upsert"))?;
    for inc in &out.incidents {
        let doc = serde_json::to_string(inc).map_err(|source| StoreError::Decode { what: "incident", source })?;
        let st = if opened.contains(&inc.id.as_str()) { &insert } else { &upsert };
        tx.execute(
            st,
            &[
                &inc.id,
                &inc.status.as_str(),
                &inc.class.as_str(),
                &inc.severity.as_str(),
                &inc.county,
                &inc.township,
                &inc.correlation_key,
                &inc.first_alarm_ms,
                &inc.opened_at_ms,
                &inc.updated_at_ms,
                &doc,
            ],
        )
        .await
        .map_err(pg(url, "upsert incident"))?;
    }
    Ok(())
}

/// The evidence rows in one statement (arrays unnested: one round trip however many rows).
async fn write_evidence(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    if out.evidence.is_empty() {
        return Ok(());
    }
    let ev = &out.evidence;
    let incident: Vec<&str> = ev.iter().map(|x| x.incident_id.as_str()).collect();
    let device: Vec<&str> = ev.iter().map(|x| x.device_id.as_str()).collect();
    let kind: Vec<&str> = ev.iter().map(|x| x.kind.as_str()).collect();
    let ts: Vec<i64> = ev.iter().map(|x| x.ts_ms).collect();
    let received: Vec<i64> = ev.iter().map(|x| x.received_at_ms).collect();
    let seq: Vec<Option<i64>> = ev.iter().map(|x| x.seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX))).collect();
    let status: Vec<&str> = ev.iter().map(|x| x.status.as_str()).collect();
    let reason: Vec<&str> = ev.iter().map(|x| x.reason.as_str()).collect();
    let values: Vec<String> = ev.iter().map(|x| x.values.to_string()).collect();
    tx.execute(
        &c.get(tx, "INSERT INTO evidence (incident_id, device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                              $7::text[], $8::text[], $9::text[])
         ON CONFLICT DO NOTHING").await.map_err(pg(url, "prepare"))?,
        &[&incident, &device, &kind, &ts, &received, &seq, &status, &reason, &values],
    )
    .await
    .map_err(pg(url, "insert evidence"))?;
    Ok(())
}

async fn write_audit(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    if out.audit.is_empty() {
        return Ok(());
    }
    let st = c
        .get(
            tx,
            "INSERT INTO audit (incident_id, at_ms, event, from_status, to_status, severity, actor, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .map_err(pg(url, "prepare audit insert"))?;
    for a in &out.audit {
        let from = a.from_status.map(Status::as_str);
        tx.execute(
            &st,
            &[
                &a.incident_id,
                &a.at_ms,
                &a.event.as_str(),
                &from,
                &a.to_status.as_str(),
                &a.severity.as_str(),
                &a.actor,
                &a.note,
            ],
        )
        .await
        .map_err(pg(url, "insert audit"))?;
    }
    Ok(())
}

async fn write_counters(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    for (k, n) in &out.counters {
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        tx.execute(
            &c.get(
                tx,
                "INSERT INTO id_counters (key, n) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET n = GREATEST(id_counters.n, EXCLUDED.n)",
            )
            .await
            .map_err(pg(url, "prepare"))?,
            &[k, &n],
        )
        .await
        .map_err(pg(url, "upsert counter"))?;
    }
    Ok(())
}

/// The dispatch state and the rule state: the last change of each device wins (as applying
/// them in order would), upserts and deletes each in one statement.
async fn write_states(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    for (id, doc) in &out.dispatch_state {
        tx.execute(
            &c.get(
                tx,
                "INSERT INTO dispatch_state (incident_id, doc) VALUES ($1, $2)
             ON CONFLICT (incident_id) DO UPDATE SET doc = EXCLUDED.doc",
            )
            .await
            .map_err(pg(url, "prepare"))?,
            &[id, doc],
        )
        .await
        .map_err(pg(url, "upsert dispatch state"))?;
    }
    if out.rule_state.is_empty() {
        return Ok(());
    }
    let last: std::collections::HashMap<&str, Option<&str>> =
        out.rule_state.iter().map(|(d, doc)| (d.as_str(), doc.as_deref())).collect();
    let (mut up_ids, mut up_docs, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for (device, doc) in last {
        match doc {
            Some(doc) => {
                up_ids.push(device);
                up_docs.push(doc);
            }
            None => gone.push(device),
        }
    }
    if !up_ids.is_empty() {
        tx.execute(
            &c.get(
                tx,
                "INSERT INTO rule_state (device_id, doc) SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT (device_id) DO UPDATE SET doc = EXCLUDED.doc",
            )
            .await
            .map_err(pg(url, "prepare"))?,
            &[&up_ids, &up_docs],
        )
        .await
        .map_err(pg(url, "upsert rule state"))?;
    }
    if !gone.is_empty() {
        tx.execute(
            &c.get(tx, "DELETE FROM rule_state WHERE device_id = ANY($1)").await.map_err(pg(url, "prepare"))?,
            &[&gone],
        )
        .await
        .map_err(pg(url, "delete rule state"))?;
    }
    Ok(())
}
