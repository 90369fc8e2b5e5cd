//! The incident side of the store: incident documents (with the columns the list filters on),
//! their evidence, the audit trail and the id counters — written with an [`Outcome`], read by the
//! API and at start-up.

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::{sqlite, unknown, SqliteStore, StoreError, CLOSED};
use crate::incident::{AuditEntry, Class, Event, Evidence, EvidenceStatus, Incident, Outcome, Severity, Status};

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

/// One condition of an [`IncidentFilter`], for a backend to write in its own SQL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FilterCond<'a> {
    /// `status = ?`
    Status(&'a str),
    /// `class = ?`
    Class(&'a str),
    /// `county = ?`
    County(&'a str),
    /// `township = ?`
    Township(&'a str),
    /// `opened_at_ms >= ?`
    OpenedSince(i64),
    /// The station is in the incident's `notified_stations`.
    NotifiedStation(&'a str),
    /// The grid is in the incident's `notified_grids`.
    NotifiedGrid(&'a str),
}

impl IncidentFilter {
    /// The filter's conditions (combined with AND), the same for every backend.
    pub(crate) fn conditions(&self) -> Vec<FilterCond<'_>> {
        let mut c = Vec::new();
        c.extend(self.status.map(|s| FilterCond::Status(s.as_str())));
        c.extend(self.class.map(|k| FilterCond::Class(k.as_str())));
        c.extend(self.county.as_deref().map(FilterCond::County));
        c.extend(self.township.as_deref().map(FilterCond::Township));
        c.extend(self.since_ms.map(FilterCond::OpenedSince));
        c.extend(self.notified_station.as_deref().map(FilterCond::NotifiedStation));
        c.extend(self.notified_grid.as_deref().map(FilterCond::NotifiedGrid));
        c
    }

    /// How many incidents the list returns at most (0 means the default of 500).
    pub(crate) fn row_limit(&self) -> usize {
        if self.limit == 0 {
            500
        } else {
            self.limit
        }
    }
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

/// Writes the incident side of an outcome into an open transaction.
pub(super) fn write(tx: &Transaction<'_>, out: &Outcome, path: &str) -> Result<(), StoreError> {
    upsert_incidents(tx, &out.incidents, path)?;
    insert_evidence(tx, &out.evidence, path)?;
    insert_audit(tx, &out.audit, path)?;
    upsert_counters(tx, &out.counters, path)
}

fn upsert_incidents(tx: &Transaction<'_>, incidents: &[Incident], path: &str) -> Result<(), StoreError> {
    let e = |what| sqlite(path, what);
    let mut up = tx
        .prepare_cached(
            "INSERT INTO incidents (id, status, class, severity, county, township, opened_at_ms, updated_at_ms, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(id) DO UPDATE SET status = ?2, class = ?3, severity = ?4, updated_at_ms = ?8, doc = ?9",
        )
        .map_err(e("prepare incident upsert"))?;
    for inc in incidents {
        let doc = serde_json::to_string(inc).map_err(|source| StoreError::Decode { what: "incident", source })?;
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
    Ok(())
}

fn insert_evidence(tx: &Transaction<'_>, evidence: &[Evidence], path: &str) -> Result<(), StoreError> {
    let e = |what| sqlite(path, what);
    let mut ev = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO evidence
             (incident_id, device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(e("prepare evidence insert"))?;
    for x in evidence {
        let seq = x.seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        ev.execute(params![
            x.incident_id,
            x.device_id,
            x.kind.as_str(),
            x.ts_ms,
            x.received_at_ms,
            seq,
            x.status.as_str(),
            x.reason,
            x.values.to_string()
        ])
        .map_err(e("insert evidence"))?;
    }
    Ok(())
}

fn insert_audit(tx: &Transaction<'_>, audit: &[AuditEntry], path: &str) -> Result<(), StoreError> {
    let e = |what| sqlite(path, what);
    let mut au = tx
        .prepare_cached(
            "INSERT INTO audit (incident_id, at_ms, event, from_status, to_status, severity, actor, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(e("prepare audit insert"))?;
    for a in audit {
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
    Ok(())
}

fn upsert_counters(tx: &Transaction<'_>, counters: &[(String, u64)], path: &str) -> Result<(), StoreError> {
    let e = |what| sqlite(path, what);
    let mut ct = tx
        .prepare_cached(
            "INSERT INTO id_counters (key, n) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET n = max(n, ?2)",
        )
        .map_err(e("prepare counter upsert"))?;
    for (k, n) in counters {
        ct.execute(params![k, i64::try_from(*n).unwrap_or(i64::MAX)]).map_err(e("upsert counter"))?;
    }
    Ok(())
}

/// An incident document as stored.
pub(super) fn decode_incident(doc: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(doc).map_err(|source| StoreError::Decode { what: "incident", source })
}

impl SqliteStore {
    /// Incidents not yet closed (to resume correlation after a restart).
    pub(crate) fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents_where(&format!("status NOT IN {CLOSED}"), &[], usize::MAX)
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
        docs.iter().map(|d| decode_incident(d)).collect()
    }

    /// Id counters `(county-yyyymmdd, last n)`.
    pub(crate) fn counters(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut st = self.conn.prepare("SELECT key, n FROM id_counters").map_err(self.err("prepare counters"))?;
        let rows = st
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
            .map_err(self.err("query counters"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read counters"))?;
        Ok(rows.into_iter().map(|(k, n)| (k, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// Incidents matching the filter, newest first.
    pub(crate) fn list(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut cond = vec!["1 = 1".to_owned()];
        let mut args: Vec<Box<dyn rusqlite::ToSql + '_>> = Vec::new();
        for c in f.conditions() {
            let (sql, v): (&str, Box<dyn rusqlite::ToSql + '_>) = match c {
                FilterCond::Status(s) => ("status = ?", Box::new(s)),
                FilterCond::Class(k) => ("class = ?", Box::new(k)),
                FilterCond::County(c) => ("county = ?", Box::new(c)),
                FilterCond::Township(t) => ("township = ?", Box::new(t)),
                FilterCond::OpenedSince(ms) => ("opened_at_ms >= ?", Box::new(ms)),
                FilterCond::NotifiedStation(s) => {
                    ("EXISTS (SELECT 1 FROM json_each(doc, '$.notified_stations') WHERE value = ?)", Box::new(s))
                }
                FilterCond::NotifiedGrid(g) => {
                    ("EXISTS (SELECT 1 FROM json_each(doc, '$.notified_grids') WHERE value = ?)", Box::new(g))
                }
            };
            args.push(v);
            cond.push(sql.replace('?', &format!("?{}", args.len())));
        }
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let limit = f.row_limit();
        self.incidents_where(&cond.join(" AND "), &refs, limit)
    }

    /// One incident with its evidence and audit trail.
    pub(crate) fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let doc: Option<String> = self
            .conn
            .query_row("SELECT doc FROM incidents WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.err("read incident"))?;
        let Some(doc) = doc else { return Ok(None) };
        let incident = decode_incident(&doc)?;
        let evidence = self.evidence(id)?;
        let audit = self.audit(id)?;
        Ok(Some(IncidentRecord { incident, evidence, audit }))
    }

    fn evidence(&self, id: &str) -> Result<Vec<Evidence>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT incident_id, device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json
                 FROM evidence WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(self.err("prepare evidence query"))?;
        let rows = st
            .query_map([id], StoredEvidence::read)
            .map_err(self.err("query evidence"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read evidence"))?;
        rows.into_iter().map(StoredEvidence::decode).collect()
    }

    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT incident_id, at_ms, event, from_status, to_status, severity, actor, note
                 FROM audit WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(self.err("prepare audit query"))?;
        let rows = st
            .query_map([id], StoredAudit::read)
            .map_err(self.err("query audit"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read audit"))?;
        rows.into_iter().map(StoredAudit::decode).collect()
    }
}

/// An evidence row as stored (names not yet decoded); both backends decode it here.
pub(super) struct StoredEvidence {
    pub(super) incident_id: String,
    pub(super) device_id: String,
    pub(super) kind: String,
    pub(super) ts_ms: i64,
    pub(super) received_at_ms: i64,
    pub(super) seq: Option<i64>,
    pub(super) status: String,
    pub(super) reason: String,
    pub(super) values: String,
}

impl StoredEvidence {
    fn read(r: &Row<'_>) -> rusqlite::Result<StoredEvidence> {
        Ok(StoredEvidence {
            incident_id: r.get(0)?,
            device_id: r.get(1)?,
            kind: r.get(2)?,
            ts_ms: r.get(3)?,
            received_at_ms: r.get(4)?,
            seq: r.get(5)?,
            status: r.get(6)?,
            reason: r.get(7)?,
            values: r.get(8)?,
        })
    }

    pub(super) fn decode(self) -> Result<Evidence, StoreError> {
        Ok(Evidence {
            kind: firegrid_ingest::Kind::parse(&self.kind).ok_or_else(|| unknown("evidence kind", &self.kind))?,
            status: EvidenceStatus::parse(&self.status).ok_or_else(|| unknown("evidence status", &self.status))?,
            values: serde_json::from_str(&self.values)
                .map_err(|source| StoreError::Decode { what: "evidence values", source })?,
            incident_id: self.incident_id,
            device_id: self.device_id,
            ts_ms: self.ts_ms,
            received_at_ms: self.received_at_ms,
            seq: self.seq.and_then(|s| u64::try_from(s).ok()),
            reason: self.reason,
        })
    }
}

/// An audit row as stored (names not yet decoded); both backends decode it here.
pub(super) struct StoredAudit {
    pub(super) incident_id: String,
    pub(super) at_ms: i64,
    pub(super) event: String,
    pub(super) from: Option<String>,
    pub(super) to: String,
    pub(super) severity: String,
    pub(super) actor: String,
    pub(super) note: String,
}

impl StoredAudit {
    fn read(r: &Row<'_>) -> rusqlite::Result<StoredAudit> {
        Ok(StoredAudit {
            incident_id: r.get(0)?,
            at_ms: r.get(1)?,
            event: r.get(2)?,
            from: r.get(3)?,
            to: r.get(4)?,
            severity: r.get(5)?,
            actor: r.get(6)?,
            note: r.get(7)?,
        })
    }

    pub(super) fn decode(self) -> Result<AuditEntry, StoreError> {
        let status = |s: &str| Status::parse(s).ok_or_else(|| unknown("audit status", s));
        Ok(AuditEntry {
            event: Event::parse(&self.event).ok_or_else(|| unknown("audit event", &self.event))?,
            from_status: self.from.as_deref().map(status).transpose()?,
            to_status: status(&self.to)?,
            severity: Severity::parse(&self.severity).ok_or_else(|| unknown("audit severity", &self.severity))?,
            incident_id: self.incident_id,
            at_ms: self.at_ms,
            actor: self.actor,
            note: self.note,
        })
    }
}
