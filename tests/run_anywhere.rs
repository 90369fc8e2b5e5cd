//! `firegrid run` as a newcomer runs it, in an empty directory outside the repository: with no
//! configuration it starts with an empty registry and says so once; a configured registry file
//! that is missing stops it with the key to set and the fix; every cause is printed once.

mod support;

use std::time::Duration;

use anyhow::{ensure, Result};
use support::bare::{run_to_exit_in, BareRun};

const EXIT_BOUND: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_no_configuration_in_an_empty_directory_starts_with_an_empty_registry_and_warns_once() -> Result<()> {
    let cwd = tempfile::tempdir()?;
    let mut run = BareRun::start(cwd.path(), &["run"], &[]).await?;
    let ready: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/readyz", run.http_port)).await?.json().await?;
    run.stop(Duration::from_secs(20)).await?;
    let out = run.output();
    ensure!(out.matches("registry_absent").count() == 1, "one registry_absent warning:\n{out}");
    ensure!(out.contains("every device is unregistered"), "{out}");
    ensure!(cwd.path().join("firegrid-data/readings.sqlite3").exists(), "the embedded store is in the cwd");
    println!("readyz {ready}");
    Ok(())
}

#[test]
fn a_configured_registry_file_that_is_missing_names_the_key_and_the_fix_once() -> Result<()> {
    let cwd = tempfile::tempdir()?;
    std::fs::write(cwd.path().join("firegrid.toml"), "[registry]\ndevices = \"registry/devices.csv\"\n")?;
    let (ok, out) = run_to_exit_in(cwd.path(), &["run", "--config", "firegrid.toml"], &[], EXIT_BOUND)?;
    ensure!(!ok, "firegrid ran without its configured registry:\n{out}");
    let err: Vec<&str> = out.lines().filter(|l| l.starts_with("firegrid: ")).collect();
    ensure!(err.len() == 1, "one error line:\n{out}");
    let err = err[0];
    ensure!(err.contains("registry.devices = \"registry/devices.csv\" (set in firegrid.toml)"), "{err}");
    ensure!(err.contains("Fix: set registry.devices"), "{err}");
    Ok(())
}

#[test]
fn each_cause_of_a_start_up_error_is_printed_once() -> Result<()> {
    let cwd = tempfile::tempdir()?;
    let (ok, out) = run_to_exit_in(cwd.path(), &["run", "--config", "absent.toml"], &[], EXIT_BOUND)?;
    ensure!(!ok, "ran without its config file");
    ensure!(out.contains("absent.toml"), "{out}");
    ensure!(out.matches("(os error 2)").count() == 1, "the os error once:\n{out}");
    std::fs::write(cwd.path().join("devices.csv"), "not,a,registry\n")?;
    let env = [("FIREGRID_REGISTRY__DEVICES", "devices.csv")];
    let (ok, out) = run_to_exit_in(cwd.path(), &["run"], &env, EXIT_BOUND)?;
    ensure!(!ok, "ran with a broken registry");
    ensure!(out.contains("registry.stations") && out.contains("set by FIREGRID_REGISTRY__DEVICES"), "{out}");
    Ok(())
}
