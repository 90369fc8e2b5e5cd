//! Reading the embedded store back as InfluxDB line protocol, for `firegrid export`: a pilot
//! that outgrows one machine moves its history to an InfluxDB server with the lines it would
//! have written there. A line is the series key as it was written (measurement and tag set),
//! the fields named from the `fields` table with their recorded kind (so `seq` is `17i` again),
//! and the millisecond timestamp.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema;
use crate::lineproto::escape::{push_float, push_int, quote_field};

/// The readings file could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// SQLite could not open or read the file.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The readings file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file is not of the schema this version writes.
    #[error("{}: schema version {found}, not {}: export reads files written by this version", path.display(), schema::VERSION)]
    Version {
        /// The readings file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
}

/// Which points to export: `[since_ms, until_ms)`, of one county or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFilter {
    /// First millisecond included.
    pub since_ms: i64,
    /// First millisecond excluded.
    pub until_ms: i64,
    /// Only series with this `county` tag.
    pub county: Option<String>,
}

/// A readings file opened read-only for export.
#[derive(Debug)]
pub struct ExportReader {
    conn: Connection,
    path: PathBuf,
    /// Per measurement, field (name, kind) by position.
    fields: HashMap<String, Vec<(String, String)>>,
}

impl ExportReader {
    /// Opens `path` read-only (firegrid may be writing it meanwhile: WAL lets a reader in).
    pub fn open(path: &Path) -> Result<ExportReader, ExportError> {
        let sql = |source| ExportError::Sqlite { path: path.to_owned(), source };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
        if found != schema::VERSION {
            return Err(ExportError::Version { path: path.to_owned(), found });
        }
        let mut fields: HashMap<String, Vec<(String, String)>> = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT measurement, name, kind FROM fields ORDER BY measurement, position")
                .map_err(sql)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(sql)?;
            for row in rows {
                let (m, name, kind) = row.map_err(sql)?;
                fields.entry(m).or_default().push((name, kind));
            }
        }
        Ok(ExportReader { conn, path: path.to_owned(), fields })
    }

    /// The point tables that hold part of `filter`'s span, oldest first.
    pub fn tables(&self, filter: &ExportFilter) -> Result<Vec<String>, ExportError> {
        let all = schema::tables(&self.conn).map_err(|source| self.err(source))?;
        Ok(all
            .into_iter()
            .filter(|(_, a, b)| *a < filter.until_ms && *b > filter.since_ms)
            .map(|(n, _, _)| n)
            .collect())
    }

    /// Appends the lines of `table` that `filter` selects to `out` (each with its newline);
    /// returns how many.
    pub fn lines(&self, table: &str, filter: &ExportFilter, out: &mut String) -> Result<u64, ExportError> {
        let county = if filter.county.is_some() { " AND s.county = ?3" } else { " AND ?3 IS NULL" };
        let sql = format!(
            "SELECT s.measurement, s.key, p.ts_ms, p.v FROM {table} p JOIN series s ON s.id = p.series_id
              WHERE p.ts_ms >= ?1 AND p.ts_ms < ?2{county} ORDER BY p.ts_ms"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows =
            stmt.query(rusqlite::params![filter.since_ms, filter.until_ms, filter.county]).map_err(|e| self.err(e))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let (m, key, ts, v): (String, String, i64, String) = (
                row.get(0).map_err(|e| self.err(e))?,
                row.get(1).map_err(|e| self.err(e))?,
                row.get(2).map_err(|e| self.err(e))?,
                row.get(3).map_err(|e| self.err(e))?,
            );
            let names = self.fields.get(&m).map_or(&[][..], Vec::as_slice);
            if push_line(out, &key, names, &v, ts) {
                n += 1;
            }
        }
        Ok(n)
    }

    fn err(&self, source: rusqlite::Error) -> ExportError {
        ExportError::Sqlite { path: self.path.clone(), source }
    }
}

/// Epoch milliseconds, or an RFC 3339 time (`2026-11-01T00:00:00+08:00`) in milliseconds.
pub fn parse_time_ms(value: &str) -> Option<i64> {
    if let Ok(ms) = value.trim().parse::<i64>() {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// One line from a stored point; false (and nothing written) when it has no field left.
fn push_line(out: &mut String, key: &str, names: &[(String, String)], v: &str, ts: i64) -> bool {
    let values: Vec<serde_json::Value> = serde_json::from_str(v).unwrap_or_default();
    let start = out.len();
    out.push_str(key);
    let mut sep = ' ';
    for ((name, kind), value) in names.iter().zip(&values) {
        if value.is_null() {
            continue;
        }
        out.push(sep);
        sep = ',';
        crate::lineproto::escape::escape_tag(out, name);
        out.push('=');
        push_value(out, kind, value);
    }
    if sep == ' ' {
        out.truncate(start);
        return false;
    }
    out.push(' ');
    push_int(out, ts);
    out.push('\n');
    true
}

fn push_value(out: &mut String, kind: &str, value: &serde_json::Value) {
    match (kind, value) {
        ("i", serde_json::Value::Number(n)) if n.is_i64() => {
            push_int(out, n.as_i64().unwrap_or_default());
            out.push('i');
        }
        ("u", serde_json::Value::Number(n)) if n.is_u64() => {
            out.push_str(&n.to_string());
            out.push('u');
        }
        (_, serde_json::Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        (_, serde_json::Value::String(s)) => quote_field(out, s),
        (_, serde_json::Value::Number(n)) => push_float(out, n.as_f64().unwrap_or_default()),
        (_, other) => quote_field(out, &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_point_becomes_the_line_it_was_written_as() {
        let names: Vec<(String, String)> = [("obscuration_db_m", "f"), ("alarm", "b"), ("seq", "i"), ("note", "s")]
            .iter()
            .map(|(n, k)| ((*n).to_owned(), (*k).to_owned()))
            .collect();
        let mut out = String::new();
        assert!(push_line(&mut out, "smoke,device_id=a\\ b", &names, r#"[0.03,null,17,"x \"y\""]"#, 5));
        assert_eq!(out, "smoke,device_id=a\\ b obscuration_db_m=0.03,seq=17i,note=\"x \\\"y\\\"\" 5\n");
        out.clear();
        assert!(push_line(&mut out, "m", &names, "[22,false]", 6));
        assert_eq!(out, "m obscuration_db_m=22.0,alarm=false 6\n");
        out.clear();
        assert!(!push_line(&mut out, "m", &names, "[null]", 7), "no field, no line");
        assert_eq!(out, "");
    }
}
