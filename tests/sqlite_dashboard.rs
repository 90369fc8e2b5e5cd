//! Every query of the embedded store's Grafana dashboard (`deploy/grafana/sqlite/readings-sqlite.json`,
//! frser-sqlite-datasource) runs with SQLite against a readings file firegrid wrote: readings of
//! all three kinds, one alarm-level reading per kind among them, through mosquitto and the real
//! binary. Grafana's variables are substituted as Grafana does (`${county:sqlstring}` as the
//! quoted list of every county, `${__from}`/`${__to}` as the default 6 h range in epoch ms,
//! `$__interval_ms`); every query answers with a row that has every column (a misspelt field
//! would be NULL), and each alarm-level table lists exactly the
//! device that sent the alarm-level reading of its kind.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde_json::Value;
use support::fleet::{self, TestDevice};
use support::process::Firegrid;
use support::Mosquitto;

const DEVICES: usize = 30;

/// Reading `seq` of `dev` raised to alarm level: the values the dashboard's alarm tables select.
fn alarm(dev: &TestDevice, ts: i64) -> Result<Vec<u8>> {
    let mut p: Value = serde_json::from_str(&fleet::payload(dev, 100, ts))?;
    let v = p["values"].as_object_mut().context("values")?;
    match dev.kind {
        "smoke" => v.insert("obscuration_db_m".into(), 0.3.into()),
        "electrical" => v.insert("residual_current_ma".into(), 450.0.into()),
        _ => {
            v.insert("hotspot_px".into(), 6.into());
            v.insert("max_temp_c".into(), 95.0.into())
        }
    };
    Ok(serde_json::to_vec(&p)?)
}

/// Fills the dashboard's variables in `sql`.
fn substitute(sql: &str, counties: &str, townships: &str, now_ms: i64) -> String {
    sql.replace("${county:sqlstring}", counties)
        .replace("${township:sqlstring}", townships)
        .replace("${__from}", &(now_ms - 6 * 3_600_000).to_string())
        .replace("${__to}", &now_ms.to_string())
        .replace("$__interval_ms", "60000")
}

/// Every row of `sql`.
fn rows(conn: &Connection, sql: &str) -> Result<Vec<Vec<Sql>>> {
    let mut stmt = conn.prepare(sql).with_context(|| format!("preparing {sql}"))?;
    let n = stmt.column_count();
    let out = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect::<Result<Vec<_>, _>>())?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(out)
}

/// The values of a template variable's query as Grafana's `sqlstring` format writes them.
fn sqlstring(conn: &Connection, sql: &str) -> Result<String> {
    let values: Vec<String> = rows(conn, sql)?
        .into_iter()
        .filter_map(|r| match r.first() {
            Some(Sql::Text(s)) => Some(format!("'{}'", s.replace('\'', "''"))),
            _ => None,
        })
        .collect();
    ensure!(!values.is_empty(), "no values for {sql}");
    Ok(values.join(","))
}

async fn write_readings(dir: &Path, mqtt: &Mosquitto, devices: &[TestDevice]) -> Result<std::path::PathBuf> {
    let (config, db) = support::embedded::write_config(dir, &mqtt.url(), devices, "firegrid-sqlite-dashboard")?;
    let mut firegrid = Firegrid::start(&config, Vec::new(), &dir.join("firegrid.log")).await?;
    let now = firegrid_ingest::clock::now_ms();
    let mut msgs: Vec<(String, Vec<u8>)> = (0..3u64)
        .flat_map(|seq| {
            devices.iter().enumerate().map(move |(i, d)| {
                (fleet::topic(d), fleet::payload(d, seq, now - 600_000 + (seq as i64) * 60_000 + i as i64).into_bytes())
            })
        })
        .collect();
    for kind in ["smoke", "electrical", "forest_ir"] {
        let d = devices.iter().find(|d| d.kind == kind).context("a device of each kind")?;
        msgs.push((fleet::topic(d), alarm(d, now - 60_000)?));
    }
    let total = msgs.len() as u64;
    support::publish::publish_all(mqtt.port(), "sqlite-dashboard", msgs).await?;
    support::eventually(Duration::from_secs(60), || async {
        Ok((support::embedded::stored(&db)?.rows >= total).then_some(()))
    })
    .await?;
    firegrid.stop(Duration::from_secs(20)).await?;
    Ok(db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_of_the_sqlite_dashboard_returns_rows_from_a_file_firegrid_wrote() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mqtt = Mosquitto::start().await?;
    let devices = support::embedded::registered_devices(DEVICES);
    let db = write_readings(dir.path(), &mqtt, &devices).await?;
    let conn = Connection::open(&db)?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/sqlite/readings-sqlite.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let vars = dashboard["templating"]["list"].as_array().context("variables")?;
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).and_then(|v| v["query"].as_str());
    let counties = sqlstring(&conn, var("county").context("county")?)?;
    let townships = sqlstring(&conn, &var("township").context("township")?.replace("${county:sqlstring}", &counties))?;
    let now = firegrid_ingest::clock::now_ms();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().context("panels")? {
        for target in panel["targets"].as_array().into_iter().flatten() {
            ensure!(target["datasource"]["uid"] == "firegrid-sqlite", "{} uses another data source", panel["title"]);
            let sql = substitute(target["queryText"].as_str().context("queryText")?, &counties, &townships, now);
            let got = rows(&conn, &sql).with_context(|| format!("panel {}", panel["title"]))?;
            // A misspelt field is NULL, not an error: some row must have every column.
            let full = got.iter().any(|r| r.iter().all(|v| !matches!(v, Sql::Null)));
            ensure!(full, "panel {} returned no row without NULLs ({} rows):\n{sql}", panel["title"], got.len());
            if panel["type"] == "stat" {
                ensure!(matches!(got[0][0], Sql::Integer(n) if n > 0), "panel {} counted no device", panel["title"]);
            }
            if panel["title"].as_str().is_some_and(|t| t.contains("报警级")) {
                let col = got
                    .iter()
                    .map(|r| {
                        r.iter().filter(|v| matches!(v, Sql::Text(s) if devices.iter().any(|d| &d.id == s))).count()
                    })
                    .sum::<usize>();
                ensure!(
                    got.len() == 1 && col == 1,
                    "panel {} lists {} rows, one alarm-level reading expected",
                    panel["title"],
                    got.len()
                );
            }
            checked += 1;
        }
    }
    ensure!(checked == 15, "{checked} panel queries checked, 15 expected");
    Ok(())
}
