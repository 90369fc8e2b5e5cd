//! Progress bars and the HTML report of the binary's `simulate run`, `simulate load` and `eval`
//! (issue 16): with stderr a file (as here, and in every script or log) no bar is drawn — no
//! carriage return, no escape sequence, no rate line — with or without `--json`; under a
//! terminal (`script` gives the command a pseudo-terminal) `simulate load` draws one with its
//! rate. `eval --html FILE` writes a page that loads nothing from anywhere and shows the figures
//! of the JSON report printed beside it.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use serde_json::Value;
use support::Mosquitto;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "dispatcher-token-progress-0123456789";
const LIMIT: Duration = Duration::from_secs(60);

/// What a progress bar leaves in a stream: carriage returns, escape sequences, the rate line.
fn bar_bytes(stderr: &str) -> Vec<&'static str> {
    [("\r", "carriage return"), ("\x1b", "escape sequence"), ("/s", "rate")]
        .into_iter()
        .filter(|(needle, _)| stderr.contains(needle))
        .map(|(_, what)| what)
        .collect()
}

/// Runs `firegrid {args}` off the async workers; `(stdout, stderr)`, failing unless it exits 0.
async fn firegrid(args: Vec<String>) -> Result<(String, String)> {
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::process::run_split(&args, &[], LIMIT)
    })
    .await??;
    ensure!(code == Some(0), "exit {code:?}\nstderr: {err}\nstdout: {out}");
    Ok((out, err))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bar_is_drawn_off_a_terminal_and_eval_writes_a_self_contained_html_report() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(150), async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let registry = root.join("deploy/registry").display().to_string();
        let mqtt = Mosquitto::start().await?;
        let url = mqtt.url();
        let dir = tempfile::tempdir()?;
        firegrid_alerting::access::private_file::write_private(
            &dir.path().join("tokens.csv"),
            &format!("{TOKEN},dispatcher,\n"),
        )?;
        let reg = firegrid_simulator::paths_in(&root.join("deploy/registry"));
        let mut c = firegrid::Config::default();
        c.mqtt.url = url.clone();
        c.mqtt.client_id = format!("firegrid-progress-{}", std::process::id());
        c.store.backend = "embedded".into();
        c.registry.devices = reg.devices.display().to_string();
        c.registry.stations = reg.stations.display().to_string();
        c.registry.grids = reg.grids.display().to_string();
        c.api.tokens_file = dir.path().join("tokens.csv").display().to_string();
        c.http.listen = "127.0.0.1:0".into();
        c.data.dir = dir.path().join("data").display().to_string();
        let shutdown = CancellationToken::new();
        let running = firegrid::start(c.validate()?, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);

        let truth = dir.path().join("truth.jsonl").display().to_string();
        let (_, err) = firegrid(strings(&[
            "simulate",
            "run",
            "--url",
            &url,
            "--registry-dir",
            &registry,
            "--duration",
            "8s",
            "--scenarios",
            "arc_fault",
            "--client-id",
            "progress-run",
            "--truth",
            &truth,
        ]))
        .await?;
        ensure!(bar_bytes(&err).is_empty(), "simulate run drew {:?} off a terminal: {err:?}", bar_bytes(&err));
        let injected = std::fs::read_to_string(&truth)?;
        ensure!(injected.lines().count() == 1, "one event in the truth file: {injected}\n{err}");
        for json in [false, true] {
            let mut args = strings(&["simulate", "load", "--url", &url, "--total", "500", "--rate", "1000"]);
            args.extend(strings(&["--client-id", "progress-load", "--registry-dir", &registry]));
            if json {
                args.push("--json".into());
            }
            let (out, err) = firegrid(args).await?;
            ensure!(bar_bytes(&err).is_empty(), "simulate load (json {json}) drew {:?}: {err:?}", bar_bytes(&err));
            ensure!(out.contains("500"), "the load reports what it sent: {out}");
        }

        let html = dir.path().join("report.html");
        let (out, err) = firegrid(strings(&[
            "eval",
            "--truth",
            &truth,
            "--api",
            &api,
            "--token",
            TOKEN,
            "--registry-dir",
            &registry,
            "--mqtt",
            &url,
            "--listen-seconds",
            "2",
            "--json",
            "--html",
            &html.display().to_string(),
        ]))
        .await?;
        ensure!(bar_bytes(&err).is_empty(), "eval drew {:?}: {err:?}", bar_bytes(&err));
        let report: Value = serde_json::from_str(&out).context("eval --json prints the report")?;
        let page = std::fs::read_to_string(&html).context("eval --html writes the page")?;
        html_shows_the_report(&page, &report)?;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), running.wait()).await??;
        Ok(())
    })
    .await?
}

/// The page loads nothing and shows the JSON report's figures.
fn html_shows_the_report(page: &str, report: &Value) -> Result<()> {
    ensure!(page.starts_with("<!doctype html>") && page.contains("<svg"), "an HTML page with charts");
    for needle in ["http:", "https:", "src=", "href=", "<script", "<link", "url("] {
        ensure!(!page.contains(needle), "the page would fetch something: {needle}");
    }
    for key in ["fire_recall", "hazard_recall", "nuisance_dispatch_rate", "severity_agreement", "routing_accuracy"] {
        let r = &report[key];
        let (count, total) = (r["count"].as_u64().context("count")?, r["total"].as_u64().context("total")?);
        let shown = match r["rate"].as_f64() {
            Some(rate) => format!("{:.1} % ({count}/{total})", rate * 100.0),
            None => "n/a (0 events)".to_owned(),
        };
        ensure!(page.contains(&shown), "{key} {shown} not on the page");
    }
    for key in ["p50", "p95", "p99", "max"] {
        if let Some(ms) = report["time_to_dispatch_from_start_ms"][key].as_i64() {
            ensure!(page.contains(&format!("{:.3} s", ms as f64 / 1000.0)), "time to dispatch {key} not on the page");
        }
    }
    let events = report["events"].as_array().context("events")?;
    ensure!(!events.is_empty(), "the run injected an event: {report}");
    for e in events {
        let id = e["id"].as_str().context("event id")?;
        ensure!(page.contains(&format!("<td>{id}</td>")), "event {id} not on the page");
    }
    let messages = report["dispatch_messages"].as_u64().context("dispatch_messages")?;
    ensure!(page.contains(&format!("<td>dispatch messages seen</td><td>{messages}</td>")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_simulate_load_draws_a_bar_with_its_rate() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mqtt = Mosquitto::start().await?;
        let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/registry");
        let command = format!(
            "{} simulate load --url {} --total 1500 --rate 1000 --client-id progress-tty --registry-dir {}",
            env!("CARGO_BIN_EXE_firegrid"),
            mqtt.url(),
            registry.display()
        );
        // script(1) runs the command on a pseudo-terminal and copies what it printed.
        let out = tokio::task::spawn_blocking(move || {
            Command::new("script").args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output()
        })
        .await??;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success(), "{text}");
        ensure!(text.contains('\r') || text.contains('\x1b'), "no bar drawn on a terminal: {text:?}");
        ensure!(text.contains("messages") && text.contains("/s"), "the bar shows the rate: {text:?}");
        Ok(())
    })
    .await?
}
