//! The embedded store against real SQLite files in temporary directories.

use std::time::Duration;

use rusqlite::Connection;

use super::values::DAY_MS;
use super::*;

fn opts(retention_seconds: u64) -> EmbeddedOptions {
    EmbeddedOptions {
        retention: Duration::from_secs(retention_seconds),
        durability: Durability::Full,
        partition: Partition::Day,
        max_bytes: 0,
    }
}

fn smoke(device: &str, township: &str, obscuration: f64, seq: u64, ts: i64) -> String {
    format!(
        "smoke,device_id={device},county=500112,township={township},community={township}001,grid_id=g1,\
         site_type=residential,status=normal obscuration_db_m={obscuration},temperature_c=22.5,alarm=false,\
         battery_pct=88,seq={seq}i {ts}\n"
    )
}

#[test]
fn the_file_is_opened_with_the_configured_synchronous_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (durability, want) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions { durability, ..opts(60) }).expect("opens");
        let got: i64 = lock(&store.inner).conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
        assert_eq!(got, want, "{durability:?}");
    }
}

#[tokio::test]
async fn points_are_stored_once_per_series_and_time_and_queryable_with_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(86_400)).expect("opens");
    let body = format!("{}{}", smoke("sd-1", "500112002", 0.03, 1, 1000), smoke("sd-1", "500112002", 0.04, 2, 2000));
    assert_eq!(store.write(&body).await, WriteResult::Ok);
    assert_eq!(store.write(&body).await, WriteResult::Ok, "a replay is harmless");
    assert_eq!(store.count().expect("count"), 2);
    let conn = Connection::open(store.path()).expect("a second reader, as a user would");
    let (v, seq): (f64, i64) = conn
        .query_row(
            "SELECT json_extract(v, '$[0]'), json_extract(v, '$[' || (SELECT position FROM fields
                 WHERE measurement = 'smoke' AND name = 'seq') || ']')
             FROM points WHERE device_id = 'sd-1' AND ts_ms = 2000",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("query");
    assert_eq!((v, seq), (0.04, 2));
}

#[tokio::test]
async fn a_redelivered_reading_with_other_values_overwrites_its_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(86_400)).expect("opens");
    assert_eq!(store.write(&smoke("sd-1", "t", 0.03, 1, 5000)).await, WriteResult::Ok);
    assert_eq!(store.write(&smoke("sd-1", "t", 0.09, 1, 5000)).await, WriteResult::Ok);
    let conn = Connection::open(store.path()).expect("reader");
    let rows: Vec<String> = conn
        .prepare("SELECT v FROM points")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows, vec!["[0.09,22.5,false,88,1]".to_owned()]);
}

#[tokio::test]
async fn a_malformed_line_is_refused_and_a_rolled_back_batch_leaves_no_stale_id_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(60)).expect("opens");
    let good = smoke("sd-9", "t", 0.01, 1, 7000);
    assert!(matches!(store.write(&format!("{good}not a line\n")).await, WriteResult::Rejected(_)));
    assert_eq!(store.count().expect("count"), 0, "the transaction is all or nothing");
    assert_eq!(store.write(&good).await, WriteResult::Ok);
    let conn = Connection::open(store.path()).expect("reader");
    let device: String =
        conn.query_row("SELECT device_id FROM points", [], |r| r.get(0)).expect("joined to its series");
    assert_eq!(device, "sd-9");
}

#[tokio::test]
async fn the_console_and_evidence_queries_search_by_index_and_scan_no_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(86_400 * 30)).expect("opens");
    for day in 0..3 {
        let ts = 20_000 * DAY_MS + day * DAY_MS;
        let body = format!("{}{}", smoke("sd-1", "500112002", 0.03, 1, ts), smoke("sd-2", "500112003", 0.03, 1, ts));
        assert_eq!(store.write(&body).await, WriteResult::Ok);
    }
    let conn = Connection::open(store.path()).expect("reader");
    let queries = [
        // The evidence of an incident: one device around a time.
        "SELECT ts_ms, v FROM points WHERE device_id = 'sd-1' AND ts_ms BETWEEN 1 AND 2 ORDER BY ts_ms",
        // A township's smoke readings since a time (console, dashboard).
        "SELECT device_id, ts_ms, json_extract(v, '$[0]') FROM points
          WHERE township = '500112002' AND measurement = 'smoke' AND ts_ms > 1",
        // The last reading of one device.
        "SELECT max(ts_ms) FROM points WHERE device_id = 'sd-2'",
    ];
    for q in queries {
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {q}"))
            .expect("explain")
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let scans: Vec<&String> = plan.iter().filter(|d| d.starts_with("SCAN") && !d.contains("SUBQUERY")).collect();
        assert!(scans.is_empty(), "{q}\nscans: {scans:?}\nplan: {plan:#?}");
        assert!(plan.iter().any(|d| d.contains("series_by_")), "{q} uses a series index: {plan:#?}");
    }
}

#[tokio::test]
async fn retention_drops_whole_old_days_and_the_file_stops_growing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(2 * 86_400)).expect("opens");
    let day0 = 20_000 * DAY_MS;
    let mut sizes = Vec::new();
    for day in 0..12 {
        // A day of 2,000 readings, then the hourly retention at the end of that day (an injected clock).
        let body: String = (0..2_000)
            .map(|i| smoke(&format!("sd-{}", i % 200), "t", 0.01, i, day0 + day * DAY_MS + i as i64))
            .collect();
        assert_eq!(store.write(&body).await, WriteResult::Ok);
        store.expire(day0 + (day + 1) * DAY_MS - 1).expect("expire");
        lock(&store.inner).conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").expect("checkpoint");
        sizes.push(std::fs::metadata(store.path()).expect("size").len());
    }
    let days = schema::tables(&lock(&store.inner).conn).expect("tables");
    assert_eq!(days.len(), 3, "today and the two days of retention: {days:?}");
    assert_eq!(store.count().expect("count"), 6_000);
    let (settled, last) = (sizes[5], sizes[11]);
    assert!(last <= settled, "the file grew from {settled} to {last} bytes after retention settled: {sizes:?}");
}

#[test]
fn an_old_schema_file_is_kept_read_only_beside_the_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("readings.sqlite3");
    {
        let old = Connection::open(&path).expect("old file");
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE points (measurement TEXT NOT NULL, series TEXT NOT NULL, ts_ms INTEGER NOT NULL,
                 device_id TEXT, tags TEXT NOT NULL, fields TEXT NOT NULL,
                 PRIMARY KEY (measurement, series, ts_ms)) WITHOUT ROWID;
             INSERT INTO points VALUES ('smoke', 'device_id=a', 1, 'a', '{}', '{\"seq\":1}');
             INSERT INTO points VALUES ('smoke', 'device_id=a', 2, 'a', '{}', '{\"seq\":2}');",
        )
        .expect("old schema");
    }
    let store = EmbeddedStore::open(dir.path(), opts(60)).expect("opens");
    let kept = store.kept_beside().expect("kept").clone();
    assert_eq!((kept.path.clone(), kept.points), (dir.path().join("readings-v1.sqlite3"), 2));
    assert_eq!(store.count().expect("count"), 0, "the new file starts empty");
    let old = Connection::open(&kept.path).expect("the old file opens");
    let n: i64 = old.query_row("SELECT count(*) FROM points", [], |r| r.get(0)).expect("old rows");
    assert_eq!(n, 2);
    drop(store);
    let again = EmbeddedStore::open(dir.path(), opts(60)).expect("reopens");
    assert!(again.kept_beside().is_none(), "a version-2 file is opened as it is");
}

#[tokio::test]
async fn over_its_size_cap_the_store_drops_its_oldest_hours_but_never_the_current_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = 400_000;
    let options = EmbeddedOptions { partition: Partition::Hour, max_bytes: cap, ..opts(86_400) };
    let store = EmbeddedStore::open(dir.path(), options).expect("opens");
    let hour0 = 20_000 * DAY_MS;
    for hour in 0..10 {
        let body: String = (0..2_000)
            .map(|i| smoke(&format!("sd-{}", i % 200), "t", 0.01, i, hour0 + hour * 3_600_000 + i as i64))
            .collect();
        assert_eq!(store.write(&body).await, WriteResult::Ok);
        store.expire(hour0 + hour * 3_600_000 + 10_000).expect("prune as it goes");
        let used = schema::used_bytes(&lock(&store.inner).conn).expect("used");
        assert!(used <= cap, "{used} bytes in use after hour {hour}, over the cap of {cap}");
    }
    let tables = schema::tables(&lock(&store.inner).conn).expect("tables");
    let names: Vec<&str> = tables.iter().map(|(n, _, _)| n.as_str()).collect();
    assert!(names.len() < 10 && names.last() == Some(&"points_2024100409"), "{names:?}");
    let one_hour = EmbeddedOptions { max_bytes: 1, ..options };
    drop(store);
    let tiny = EmbeddedStore::open(dir.path(), one_hour).expect("reopens");
    tiny.expire(hour0).expect("expire");
    assert_eq!(tiny.count().expect("count"), 2_000, "the current hour stays, whatever the cap");
}

#[tokio::test]
async fn tags_without_a_column_are_kept_in_extra_and_the_usual_ones_only_in_their_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(86_400)).expect("opens");
    let body = format!(
        "{}smoke,device_id=x-1,registered=false,status=normal obscuration_db_m=0.1 9000\n",
        smoke("sd-1", "t", 0.0, 1, 9000)
    );
    assert_eq!(store.write(&body).await, WriteResult::Ok);
    let conn = Connection::open(store.path()).expect("reader");
    let rows: Vec<(String, Option<String>)> = conn
        .prepare("SELECT device_id, extra FROM points ORDER BY device_id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows, vec![("sd-1".into(), None), ("x-1".into(), Some(r#"{"registered":"false"}"#.into()))]);
}

#[tokio::test]
async fn series_that_no_retained_day_references_are_removed_and_a_returning_device_is_stored_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), opts(86_400)).expect("opens");
    let day0 = 20_000 * DAY_MS;
    let series = |store: &EmbeddedStore| -> Vec<String> {
        let conn = &lock(&store.inner).conn;
        let mut stmt = conn.prepare("SELECT device_id FROM series ORDER BY device_id").expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        rows
    };
    // Day 0: a fleet of 100 devices; from day 1 on only the first 10 report (an injected clock).
    for day in 0..4 {
        let devices = if day == 0 { 100 } else { 10 };
        let body: String =
            (0..devices).map(|i| smoke(&format!("sd-{i:03}"), "t", 0.01, 1, day0 + day * DAY_MS + i)).collect();
        assert_eq!(store.write(&body).await, WriteResult::Ok);
        store.expire(day0 + (day + 1) * DAY_MS - 1).expect("expire");
    }
    let left = series(&store);
    assert_eq!(left.len(), 10, "only the devices of the retained days keep a series: {left:?}");
    // A device whose series was removed reports again: a new series, and its point is joined to it.
    let back = day0 + 4 * DAY_MS;
    assert_eq!(store.write(&smoke("sd-050", "t", 0.02, 2, back)).await, WriteResult::Ok);
    let conn = Connection::open(store.path()).expect("reader");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM points WHERE device_id = 'sd-050' AND ts_ms = ?1", [back], |r| r.get(0))
        .expect("query");
    assert_eq!(n, 1, "the returning device's point is stored under a series that exists");
    assert_eq!(series(&store).len(), 11);
}
