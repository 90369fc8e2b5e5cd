//! Writing a line-protocol body into the compact schema in one transaction: each point's series
//! (measurement and tag set, stored once), its fields' positions in its measurement, its
//! partition's table, and one row `(series_id, ts_ms, v)` — replaced when the same series and time come again,
//! so a redelivered reading overwrites instead of adding a row.
//!
//! The [`Catalog`] caches series ids, field positions and existing point tables; what a transaction
//! creates is held apart ([`Pending`]) and joins the catalog only after the commit, so a rolled
//! back batch leaves no id in the cache that the file does not have.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::schema;
use super::values::{encode, table_span, Partition};
use crate::lineproto::parse::{parse_line, FieldValue, Point};
use crate::store::WriteResult;

/// What the file holds, as far as writing needs it.
#[derive(Debug)]
pub(crate) struct Catalog {
    partition: Partition,
    series: HashMap<String, i64>,
    fields: HashMap<String, HashMap<String, usize>>,
    /// Point tables by name, with the time each covers `[start, end)`.
    pub(crate) tables: BTreeMap<String, (i64, i64)>,
}

/// What one transaction created.
#[derive(Default)]
struct Pending {
    series: HashMap<String, i64>,
    fields: Vec<(String, String, usize)>,
    tables: Vec<String>,
}

impl Catalog {
    /// Field positions and point tables from the file (series are looked up as they come).
    pub(crate) fn load(conn: &Connection, partition: Partition) -> rusqlite::Result<Catalog> {
        let tables = schema::tables(conn)?.into_iter().map(|(n, a, b)| (n, (a, b))).collect();
        let mut cat = Catalog { partition, series: HashMap::new(), fields: HashMap::new(), tables };
        let mut stmt = conn.prepare("SELECT measurement, name, position FROM fields")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (m, name, pos) = row?;
            cat.fields.entry(m).or_default().insert(name, usize::try_from(pos).unwrap_or_default());
        }
        Ok(cat)
    }

    /// Empties the cache of series ids (after series were deleted): the next point of each series
    /// looks its id up in the file, or creates it anew.
    pub(crate) fn forget_series(&mut self) {
        self.series = HashMap::new();
    }

    /// Writes `body` in one transaction and commits it.
    pub(crate) fn write(&mut self, conn: &mut Connection, body: &str) -> WriteResult {
        let retry = |e: rusqlite::Error| WriteResult::Retry { after: None, reason: format!("sqlite: {e}") };
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return retry(e),
        };
        let mut pending = Pending::default();
        let mut v = String::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let p = match parse_line(line) {
                Ok(p) => p,
                Err(e) => return WriteResult::Rejected(format!("unable to parse line: {e}")),
            };
            let Some(ts) = p.timestamp else {
                return WriteResult::Rejected("a line without a timestamp".into());
            };
            if let Err(e) = self.put(&tx, &mut pending, &p, ts, &mut v) {
                return retry(e);
            }
        }
        if let Err(e) = tx.commit() {
            return WriteResult::Retry { after: None, reason: format!("sqlite commit: {e}") };
        }
        self.series.extend(pending.series);
        for (m, name, pos) in pending.fields {
            self.fields.entry(m).or_default().insert(name, pos);
        }
        for name in pending.tables {
            if let Some(span) = table_span(&name) {
                self.tables.insert(name, span);
            }
        }
        WriteResult::Ok
    }

    /// One point: its series, field positions and table, then its row.
    fn put(
        &self,
        tx: &Transaction<'_>,
        pending: &mut Pending,
        p: &Point,
        ts: i64,
        v: &mut String,
    ) -> rusqlite::Result<()> {
        let series_id = self.series_id(tx, pending, p)?;
        let mut values: Vec<(usize, &FieldValue)> = Vec::with_capacity(p.fields.len());
        for (name, value) in &p.fields {
            values.push((self.position(tx, pending, (&p.measurement, name, value))?, value));
        }
        encode(&values, v);
        let table = self.partition.table_of(ts);
        if !self.tables.contains_key(&table) && !pending.tables.contains(&table) {
            schema::create_table(tx, &table)?;
            pending.tables.push(table.clone());
        }
        let sql = format!("INSERT OR REPLACE INTO {table} (series_id, ts_ms, v) VALUES (?1, ?2, ?3)");
        tx.prepare_cached(&sql)?.execute(params![series_id, ts, v.as_str()])?;
        Ok(())
    }

    fn series_id(&self, tx: &Transaction<'_>, pending: &mut Pending, p: &Point) -> rusqlite::Result<i64> {
        let key = format!("{}{}", p.measurement, p.series);
        if let Some(id) = self.series.get(&key).or_else(|| pending.series.get(&key)) {
            return Ok(*id);
        }
        let found: Option<i64> =
            tx.prepare_cached("SELECT id FROM series WHERE key = ?1")?.query_row([&key], |r| r.get(0)).optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                let tag = |k: &str| p.tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
                tx.prepare_cached(
                    "INSERT INTO series (measurement, key, device_id, county, township, community, grid_id, site_type, \
                     status, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    p.measurement,
                    key,
                    tag("device_id"),
                    tag("county"),
                    tag("township"),
                    tag("community"),
                    tag("grid_id"),
                    tag("site_type"),
                    tag("status"),
                    extra_tags(&p.tags),
                ])?;
                tx.last_insert_rowid()
            }
        };
        pending.series.insert(key, id);
        Ok(id)
    }

    /// The position of field `name` of `measurement`, given (with its `value`'s kind) on first sight.
    fn position(
        &self,
        tx: &Transaction<'_>,
        pending: &mut Pending,
        (measurement, name, value): (&str, &str, &FieldValue),
    ) -> rusqlite::Result<usize> {
        if let Some(pos) = self.fields.get(measurement).and_then(|f| f.get(name)) {
            return Ok(*pos);
        }
        if let Some((_, _, pos)) = pending.fields.iter().find(|(m, n, _)| m == measurement && n == name) {
            return Ok(*pos);
        }
        let known = self.fields.get(measurement).map_or(0, HashMap::len);
        let pos = known + pending.fields.iter().filter(|(m, _, _)| m == measurement).count();
        tx.prepare_cached("INSERT INTO fields (measurement, name, position, kind) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![measurement, name, i64::try_from(pos).unwrap_or(i64::MAX), kind(value)])?;
        pending.fields.push((measurement.to_owned(), name.to_owned(), pos));
        Ok(pos)
    }
}

/// The tags without a column of their own (`registered=false`, an annotation's tags) as a JSON
/// object; `None` for a registered device's reading, whose tags all have columns.
fn extra_tags(tags: &[(String, String)]) -> Option<String> {
    let extra: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .filter(|(k, _)| !super::schema::TAG_COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    (!extra.is_empty()).then(|| serde_json::Value::Object(extra).to_string())
}

/// A field's type as the `fields` table records it (its first value's): `f`loat, `i`nteger,
/// `u`nsigned, `b`oolean, `s`tring — what an export needs to write the line-protocol suffix back.
fn kind(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Float(_) => "f",
        FieldValue::Int(_) => "i",
        FieldValue::UInt(_) => "u",
        FieldValue::Bool(_) => "b",
        FieldValue::Str(_) => "s",
    }
}
