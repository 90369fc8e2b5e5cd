//! The `firegrid` command's exit codes and plain logs, from the real binary: 2 for bad
//! configuration or usage (systemd's `RestartPreventExitStatus=2` then stops a restart loop), 1 for
//! a failure a restart may cure, and no ANSI colour codes when stderr is not a terminal.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};
use support::process::run_to_status;

const LIMIT: Duration = Duration::from_secs(20);

/// A config that runs without any server: embedded broker and store under `dir`, a small registry.
fn standalone_config(dir: &Path) -> Result<std::path::PathBuf> {
    let reg = support::fleet::write_registry(dir, &support::fleet::devices(4))?;
    let mut c = support::fleet::harness_config(dir, &reg, "embedded", "http://127.0.0.1:1", "exit-codes");
    c.mqtt.embedded_listen = format!("127.0.0.1:{}", support::free_port()?);
    c.store.backend = "embedded".into();
    let path = dir.join("firegrid.toml");
    std::fs::write(&path, toml::to_string(&c)?)?;
    Ok(path)
}

#[test]
fn bad_configuration_and_bad_usage_exit_2() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[mqtt]\nurll = \"mqtt://127.0.0.1:1883\"\n")?;
    let bad = bad.display().to_string();
    for args in
        [&["run", "--config", &bad][..], &["check-config", "--config", &bad][..], &["run", "--no-such-flag"][..]]
    {
        let (code, text) = run_to_status(args, &[], LIMIT)?;
        ensure!(code == Some(2), "firegrid {args:?} exited {code:?}, not 2: {text}");
    }
    // A registry file that does not exist is bad configuration too, for run and check-config.
    let conf = standalone_config(dir.path())?.display().to_string();
    let env = [("FIREGRID_REGISTRY__DEVICES", "/nonexistent/devices.csv")];
    for args in [&["run", "--config", &conf][..], &["check-config", "--config", &conf][..]] {
        let (code, text) = run_to_status(args, &env, LIMIT)?;
        ensure!(code == Some(2) && text.contains("/nonexistent/devices.csv"), "firegrid {args:?}: {code:?} {text}");
    }
    Ok(())
}

#[test]
fn a_failure_a_restart_may_cure_exits_1_with_plain_logs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conf = standalone_config(dir.path())?.display().to_string();
    // The HTTP port is taken: the configuration is right, the machine is not ready.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listen = taken.local_addr()?.to_string();
    let (code, text) = run_to_status(
        &["run", "--config", &conf],
        &[("FIREGRID_HTTP__LISTEN", &listen), ("FIREGRID_LOG", "info")],
        LIMIT,
    )?;
    ensure!(code == Some(1), "exited {code:?}, not 1: {text}");
    ensure!(text.contains(&listen), "names the address: {text}");
    ensure!(text.contains("event="), "logged before failing: {text}");
    ensure!(!text.contains('\u{1b}'), "no ANSI escape codes when stderr is a file: {text:?}");
    // check-config accepts the same file: the failure was not the configuration's.
    let (code, text) = run_to_status(&["check-config", "--config", &conf], &[], LIMIT)?;
    ensure!(code == Some(0), "check-config: {code:?} {text}");
    Ok(())
}
