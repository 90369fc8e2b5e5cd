//! The embedded store as a test reads it: the SQLite file firegrid wrote, opened read-only
//! beside the running process (WAL mode lets a reader in while firegrid writes), and what it
//! holds of a test fleet — distinct (device_id, seq) pairs and the number of rows — and its size.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

/// What the embedded store holds: every row's (device_id, seq), and how many rows there are.
#[derive(Debug, Default)]
pub struct Stored {
    /// Distinct (device_id, seq) pairs.
    pub pairs: BTreeSet<(String, u64)>,
    /// Rows (points): more rows than pairs means a reading was stored twice.
    pub rows: u64,
}

/// Reads `db` (a `readings.sqlite3`) read-only; a file that does not exist yet holds nothing.
pub fn stored(db: &Path) -> Result<Stored> {
    if !db.exists() {
        return Ok(Stored::default());
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    // `seq` is at its measurement's position in the `fields` table (schema version 2).
    let mut stmt = conn.prepare(
        "SELECT p.device_id, CAST(json_extract(p.v, '$[' || f.position || ']') AS INTEGER)
           FROM points p LEFT JOIN fields f ON f.measurement = p.measurement AND f.name = 'seq'",
    )?;
    let mut out = Stored::default();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)))?;
    for row in rows {
        let (device, seq) = row?;
        out.rows += 1;
        if let (Some(device), Some(seq)) = (device, seq) {
            out.pairs.insert((device, u64::try_from(seq).unwrap_or_default()));
        }
    }
    Ok(out)
}

/// Bytes of `db` and its write-ahead log, after checkpointing the log into the file (so the
/// figure is what the data takes, not how far the log has grown).
pub fn file_bytes(db: &Path) -> Result<u64> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);
    let wal = db.with_file_name(format!("{}-wal", db.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
    Ok(std::fs::metadata(db)?.len() + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0))
}

/// A fleet of `n` test devices (two counties, all three kinds), every one registered.
pub fn registered_devices(n: usize) -> Vec<super::fleet::TestDevice> {
    super::fleet::devices(n).into_iter().map(|d| super::fleet::TestDevice { registered: true, ..d }).collect()
}

/// Writes the registry of `devices` and a configuration for the harness broker at `mqtt_url`
/// with the embedded store under `dir/data` into `dir`; returns the configuration's path and
/// the readings file's.
pub fn write_config(
    dir: &Path,
    mqtt_url: &str,
    devices: &[super::fleet::TestDevice],
    client_id: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let reg = super::fleet::write_registry(dir, devices)?;
    let mut c = super::fleet::harness_config(dir, &reg, mqtt_url, "http://127.0.0.1:9", client_id);
    c.store.backend = "embedded".into();
    let path = dir.join("firegrid.toml");
    std::fs::write(&path, toml::to_string(&c)?)?;
    Ok((path, dir.join("data/readings.sqlite3")))
}

/// A configuration that needs no harness server: the embedded broker on a free loopback port,
/// the embedded store under `dir/data`, the registry `reg` and the dispatch tokens of
/// [`super::dispatch::write_tokens`] in `dir`. For tests of the HTTP surface of a whole service.
pub fn self_contained_config(
    dir: &Path,
    reg: &firegrid_ingest::RegistryPaths,
    client_id: &str,
) -> Result<firegrid::Config> {
    let mut c = super::fleet::harness_config(dir, reg, "embedded", "http://127.0.0.1:1", client_id);
    c.mqtt.embedded_listen = format!("127.0.0.1:{}", super::free_port()?);
    c.store.backend = "embedded".into();
    super::dispatch::write_tokens(dir)?;
    Ok(c)
}
