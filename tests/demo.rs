//! `firegrid demo` as a user runs it: a child process with nothing but the binary. Within 60 s
//! the embedded store holds readings (the simulator logs in to the embedded broker with the
//! credentials the demo generated) and the API shows a critical fire dispatched to stations; its
//! secret files are mode 0600, and its broker refuses anonymous clients but lets in the publisher
//! whose credentials it printed.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_stores_readings_and_dispatches_a_critical_fire_within_a_minute() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (http, mqtt) = (support::free_port()?, support::free_port()?);
    let mut child = Command::new(env!("CARGO_BIN_EXE_firegrid"))
        .args(["demo", "--data-dir"])
        .arg(dir.path().join("demo"))
        .args(["--listen", &format!("127.0.0.1:{http}"), "--mqtt-listen", &format!("127.0.0.1:{mqtt}")])
        .args(["--duration-seconds", "120"])
        .env("FIREGRID_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let started = tokio::time::Instant::now();
    let result = async {
        let stdout = child.stdout.take().context("stdout")?;
        // Read stdout to its end on a thread of its own, handing over the token, the MQTT
        // password and the banner's readings and incidents lines when all four showed.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let (mut tx, mut token, mut password, mut readings) = (Some(tx), None, None, None);
            let mut incidents = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("readings (SQLite): ") {
                    readings = Some(line.clone());
                }
                if line.contains("incidents: ") {
                    incidents = Some(line.clone());
                }
                if let Some(t) = line.split("dispatcher token: ").nth(1) {
                    token = Some(t.trim_end_matches(')').trim().to_owned());
                }
                if let Some(p) = line.split("user publisher, password ").nth(1) {
                    password = Some(p.split_whitespace().next().unwrap_or("").to_owned());
                }
                if let (Some(t), Some(p), Some(r), Some(i)) = (&token, &password, &readings, &incidents) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((t.clone(), p.clone(), format!("{r}\n{i}")));
                    }
                }
            }
        });
        let (token, password, readings) = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .context("the demo prints the dispatcher's token and the publisher's password within 30 s")??;
        // The banner says where the readings and incidents are and how big they may grow.
        ensure!(
            readings.contains("demo/readings.sqlite3") && readings.contains("the last 24 h, at most 1024 MiB"),
            "{readings}"
        );
        ensure!(
            readings.contains("demo/incidents.sqlite3") && readings.contains("closed by `demo` 15 min after they open"),
            "{readings}"
        );
        for file in ["tokens.csv", "broker-users.csv"] {
            let mode = std::fs::metadata(dir.path().join("demo").join(file))?.permissions().mode() & 0o777;
            ensure!(mode == 0o600, "{file} has mode {mode:o}");
        }
        let anonymous = support::login::login(mqtt, "demo-anonymous", None).await?;
        ensure!(matches!(anonymous, support::login::Login::Refused(_)), "the demo's broker let an anonymous client in");
        support::login::session(mqtt, "demo-publisher", Some(("publisher", &password))).await?;
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{http}");
        let fire = support::eventually(Duration::from_secs(60).saturating_sub(started.elapsed()), || {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                let r: serde_json::Value =
                    client.get(format!("{base}/api/v1/incidents")).bearer_auth(&token).send().await?.json().await?;
                let list = r["incidents"].as_array().cloned().unwrap_or_default();
                Ok(list.into_iter().find(|i| {
                    i["severity"] == "critical"
                        && matches!(i["class"].as_str(), Some("fire" | "forest_fire" | "electrical_fire"))
                        && i["notified_stations"].as_array().is_some_and(|s| !s.is_empty())
                }))
            }
        })
        .await
        .context("a critical fire dispatched to stations within 60 s")?;
        println!("critical {} {} after {:?}", fire["class"], fire["id"], started.elapsed());
        let db = dir.path().join("demo/readings.sqlite3");
        let points: i64 =
            rusqlite::Connection::open(&db)?.query_row("SELECT count(*) FROM points", [], |r| r.get(0))?;
        ensure!(points > 100, "{points} readings in the embedded store");
        let m = reqwest::get(format!("{base}/metrics")).await?.text().await?;
        ensure!(m
            .lines()
            .any(|l| l.starts_with("firegrid_dispatches_total") && l.contains("delivered") && !l.ends_with(" 0")));
        anyhow::Ok(())
    }
    .await;
    let pid = child.id().to_string();
    Command::new("sh").args(["-c", "kill -s TERM \"$1\"", "sh", &pid]).status()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    result?;
    ensure!(status.is_some_and(|s| s.success()), "the demo stops cleanly on SIGTERM: {status:?}");
    Ok(())
}
