//! `firegrid export`: the embedded store's readings of a time span (and optionally one county)
//! as InfluxDB line protocol, on stdout or written straight to an InfluxDB server — one command
//! moves a pilot's history to a server when it outgrows one machine.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use firegrid_ingest::store::embedded::export::{ExportError, ExportFilter, ExportReader};
use firegrid_ingest::store::influx::{InfluxError, InfluxV2};
use firegrid_ingest::store::{LineStore, WriteResult};

use crate::config::LoadError;

/// Lines per write request to the server.
const LINES_PER_WRITE: usize = 5_000;
/// Attempts of one write the server answers with a transient failure.
const WRITE_ATTEMPTS: u32 = 5;

/// `firegrid export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// firegrid.toml: its `data.dir` holds readings.sqlite3, and `--to` takes `[store.influxdb]`'s
    /// api, bucket, org and token (or FIREGRID_STORE__INFLUXDB__TOKEN).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// First instant included: RFC 3339 (`2026-11-01T00:00:00+08:00`) or epoch milliseconds.
    #[arg(long)]
    pub since: String,
    /// First instant excluded, as `--since`.
    #[arg(long)]
    pub until: String,
    /// Only this county's readings (its code, e.g. 500112).
    #[arg(long)]
    pub county: Option<String>,
    /// Write to this InfluxDB (or VictoriaMetrics) base URL instead of stdout.
    #[arg(long)]
    pub to: Option<String>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportCmdError {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] LoadError),
    /// `--since` or `--until` is not a time.
    #[error("--{arg} `{value}`: not an RFC 3339 time (2026-11-01T00:00:00+08:00) or epoch milliseconds")]
    Time {
        /// `since` or `until`.
        arg: &'static str,
        /// What was given.
        value: String,
    },
    /// The readings file could not be read.
    #[error(transparent)]
    Read(#[from] ExportError),
    /// The server's client could not be built.
    #[error(transparent)]
    Client(#[from] InfluxError),
    /// The server refused a write, or kept failing.
    #[error("{url}: {message}")]
    Write {
        /// The server.
        url: String,
        /// What it answered.
        message: String,
    },
    /// Stdout could not be written.
    #[error("stdout: {0}")]
    Stdout(#[from] std::io::Error),
}

impl ExportArgs {
    /// Runs the export; prints a line per table and a total on stderr.
    pub async fn execute(self) -> Result<(), ExportCmdError> {
        let mut config = crate::Config::load(self.config.as_deref(), std::env::vars())?;
        let filter = ExportFilter {
            since_ms: parse_time("since", &self.since)?,
            until_ms: parse_time("until", &self.until)?,
            county: self.county.clone(),
        };
        let db = PathBuf::from(&config.data.dir).join("readings.sqlite3");
        let reader = ExportReader::open(&db)?;
        let server = match &self.to {
            Some(url) => {
                config.store.influxdb.url = url.clone();
                let settings = config.store.influxdb.validate().map_err(LoadError::from)?;
                Some((InfluxV2::new(settings)?, url.clone()))
            }
            None => None,
        };
        let mut total = 0;
        for table in reader.tables(&filter)? {
            let mut body = String::new();
            let n = reader.lines(&table, &filter, &mut body)?;
            match &server {
                Some((store, url)) => write_all(store, url, &body).await?,
                None => std::io::stdout().lock().write_all(body.as_bytes())?,
            }
            eprintln!("{table}: {n} points");
            total += n;
        }
        eprintln!("exported {total} points from {}", db.display());
        Ok(())
    }
}

/// Writes `body` in requests of at most [`LINES_PER_WRITE`] lines.
async fn write_all(store: &InfluxV2, url: &str, body: &str) -> Result<(), ExportCmdError> {
    let lines: Vec<&str> = body.lines().collect();
    for chunk in lines.chunks(LINES_PER_WRITE) {
        let mut part = chunk.join("\n");
        part.push('\n');
        write_one(store, url, &part).await?;
    }
    Ok(())
}

async fn write_one(store: &InfluxV2, url: &str, body: &str) -> Result<(), ExportCmdError> {
    let fail = |message: String| ExportCmdError::Write { url: url.to_owned(), message };
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.write(body).await {
            WriteResult::Ok => return Ok(()),
            WriteResult::Retry { reason, .. } if attempt < WRITE_ATTEMPTS => {
                eprintln!("{url}: {reason}; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            WriteResult::Retry { reason, .. } => return Err(fail(format!("{reason} ({WRITE_ATTEMPTS} attempts)"))),
            WriteResult::Unauthorized(m) => return Err(fail(format!("refuses the token: {m}"))),
            WriteResult::TooLarge => return Err(fail("a write is too large (HTTP 413)".into())),
            WriteResult::Rejected(m) => return Err(fail(format!("refused the lines: {m}"))),
            WriteResult::Missing(m) => return Err(fail(format!("has no such bucket or database: {m}"))),
        }
    }
    Err(fail("no attempt made".into()))
}

/// Epoch milliseconds, or an RFC 3339 time.
fn parse_time(arg: &'static str, value: &str) -> Result<i64, ExportCmdError> {
    firegrid_ingest::store::embedded::export::parse_time_ms(value)
        .ok_or_else(|| ExportCmdError::Time { arg, value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_milliseconds_or_rfc3339() {
        assert_eq!(parse_time("since", "1700000000000").expect("ms"), 1_700_000_000_000);
        assert_eq!(parse_time("since", "2023-11-14T22:13:20Z").expect("utc"), 1_700_000_000_000);
        assert_eq!(parse_time("since", "2023-11-15T06:13:20+08:00").expect("beijing"), 1_700_000_000_000);
        let e = parse_time("until", "yesterday").expect_err("not a time").to_string();
        assert!(e.starts_with("--until `yesterday`"), "{e}");
    }
}
