//! The read side of [`PgStore`]: incidents (the list's filters, one with its evidence and audit
//! trail), id counters, rule state, dispatch state and station availability — the same answers
//! as the SQLite store's.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{pg, PgStore};
use crate::incident::Incident;
use crate::store::incidents::{decode_incident, FilterCond, StoredAudit, StoredEvidence};
use crate::store::{IncidentFilter, IncidentRecord, StoreError, Unroutable, CLOSED};

/// Parameters of one query.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

impl PgStore {
    /// Runs a query and returns its rows.
    pub(super) fn rows(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let (client, rt) = self.conn()?;
        rt.block_on(async {
            let st = self.stmts.get(&*client, sql).await?;
            client.query(&st, params).await
        })
        .map_err(pg(&self.url, what))
    }

    /// Incidents not yet closed.
    pub fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents_where(&format!("status NOT IN {CLOSED}"), Vec::new(), i64::MAX)
    }

    fn incidents_where(&self, cond: &str, params: Params, limit: i64) -> Result<Vec<Incident>, StoreError> {
        let sql = format!("SELECT doc FROM incidents WHERE {cond} ORDER BY opened_at_ms DESC, id DESC LIMIT {limit}");
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = self.rows("query incidents", &sql, &refs)?;
        rows.iter().map(|r| decode_incident(r.get(0))).collect()
    }

    /// Id counters `(county-yyyymmdd, last n)`.
    pub fn counters(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.rows("query counters", "SELECT key, n FROM id_counters", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0))).collect())
    }

    /// Incidents matching the filter, newest first.
    pub fn list(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut cond = vec!["TRUE".to_owned()];
        let mut params: Params = Vec::new();
        for c in f.conditions() {
            let (sql, v): (&str, Box<dyn ToSql + Sync + Send>) = match c {
                FilterCond::Status(s) => ("status = ?", Box::new(s.to_owned())),
                FilterCond::Class(k) => ("class = ?", Box::new(k.to_owned())),
                FilterCond::County(c) => ("county = ?", Box::new(c.to_owned())),
                FilterCond::Township(t) => ("township = ?", Box::new(t.to_owned())),
                FilterCond::OpenedSince(ms) => ("opened_at_ms >= ?", Box::new(ms)),
                FilterCond::NotifiedStation(s) => {
                    ("jsonb_exists(doc::jsonb -> 'notified_stations', ?)", Box::new(s.to_owned()))
                }
                FilterCond::NotifiedGrid(g) => {
                    ("jsonb_exists(doc::jsonb -> 'notified_grids', ?)", Box::new(g.to_owned()))
                }
            };
            params.push(v);
            cond.push(sql.replace('?', &format!("${}", params.len())));
        }
        let limit = f.row_limit();
        self.incidents_where(&cond.join(" AND "), params, i64::try_from(limit).unwrap_or(i64::MAX))
    }

    /// One incident with its evidence and audit trail.
    pub fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let rows = self.rows("read incident", "SELECT doc FROM incidents WHERE id = $1", &[&id])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let incident = decode_incident(row.get(0))?;
        let evidence = self
            .rows(
                "query evidence",
                "SELECT incident_id, device_id, kind, ts_ms, received_at_ms, seq, status, reason, values_json
                 FROM evidence WHERE incident_id = $1 ORDER BY id",
                &[&id],
            )?
            .iter()
            .map(|r| {
                StoredEvidence {
                    incident_id: r.get(0),
                    device_id: r.get(1),
                    kind: r.get(2),
                    ts_ms: r.get(3),
                    received_at_ms: r.get(4),
                    seq: r.get(5),
                    status: r.get(6),
                    reason: r.get(7),
                    values: r.get(8),
                }
                .decode()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let audit = self
            .rows(
                "query audit",
                "SELECT incident_id, at_ms, event, from_status, to_status, severity, actor, note
                 FROM audit WHERE incident_id = $1 ORDER BY id",
                &[&id],
            )?
            .iter()
            .map(|r| {
                StoredAudit {
                    incident_id: r.get(0),
                    at_ms: r.get(1),
                    event: r.get(2),
                    from: r.get(3),
                    to: r.get(4),
                    severity: r.get(5),
                    actor: r.get(6),
                    note: r.get(7),
                }
                .decode()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(IncidentRecord { incident, evidence, audit }))
    }

    /// The rule-state rows `(device_id, json)`.
    pub fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.rows("query rule state", "SELECT device_id, doc FROM rule_state", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The dispatch state of every incident not yet closed, `(incident_id, json)`.
    pub fn dispatch_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let sql = format!(
            "SELECT d.incident_id, d.doc FROM dispatch_state d JOIN incidents i ON i.id = d.incident_id
             WHERE i.status NOT IN {CLOSED}"
        );
        let rows = self.rows("query dispatch state", &sql, &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Active incidents whose dispatch state says no recipient was found, longest first.
    pub fn unroutable(&self) -> Result<Vec<Unroutable>, StoreError> {
        let sql = format!(
            "SELECT i.doc, s.since FROM dispatch_state d JOIN incidents i ON i.id = d.incident_id,
                    LATERAL (SELECT (d.doc::jsonb ->> 'unroutable_since_ms')::bigint AS since) s
             WHERE i.status NOT IN {CLOSED} AND s.since IS NOT NULL
             ORDER BY s.since, i.id"
        );
        let rows = self.rows("query unroutable", &sql, &[])?;
        rows.iter().map(|r| Ok(Unroutable { incident: decode_incident(r.get(0))?, since_ms: r.get(1) })).collect()
    }

    /// Station availability set at run time, `(station_id, status)`.
    pub fn station_availability(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            self.rows("query station availability", "SELECT station_id, status FROM station_availability", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Sets a station's availability for every instance.
    pub fn set_station_availability(&self, station_id: &str, status: &str) -> Result<(), StoreError> {
        self.rows(
            "set station availability",
            "INSERT INTO station_availability (station_id, status) VALUES ($1, $2)
             ON CONFLICT (station_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
            &[&station_id, &status],
        )?;
        Ok(())
    }
}
