//! The API tokens file with the real binary (DESIGN §7): reloaded on SIGHUP with the registry — a
//! new token works and a removed one gets 401, a bad file keeps the tokens in force and logs
//! `tokens_reload_failed` with file:line; a file others may read is refused at start with the
//! `chmod 600` hint; `check-config` fails on a bad tokens file naming file:line.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_alerting::access::private_file::write_private;
use support::process::{run_to_exit, Firegrid};

const OLD: &str = "old-dispatcher-token-0123456789";
const NEW: &str = "new-dispatcher-token-0123456789";

/// A configuration for the embedded broker and store (nothing else to run), its registry and
/// tokens file in `dir`.
fn config(dir: &Path, mqtt_port: u16) -> Result<PathBuf> {
    let reg = support::fleet::write_registry(dir, &support::fleet::devices(3))?;
    let file = dir.join("firegrid.toml");
    std::fs::write(
        &file,
        format!(
            "[mqtt]\nurl = \"embedded\"\nembedded_listen = \"127.0.0.1:{mqtt_port}\"\nclient_id = \"firegrid-tokens-{}\"\n\
             [store]\nbackend = \"embedded\"\n\
             [registry]\ndevices = \"{}\"\nstations = \"{}\"\ngrids = \"{}\"\n\
             [api]\ntokens_file = \"{}\"\n[data]\ndir = \"{}\"\n",
            std::process::id(),
            reg.devices.display(),
            reg.stations.display(),
            reg.grids.display(),
            dir.join("tokens.csv").display(),
            dir.join("data").display(),
        ),
    )?;
    Ok(file)
}

async fn status(port: u16, token: &str) -> Result<u16> {
    let url = format!("http://127.0.0.1:{port}/api/v1/incidents");
    Ok(reqwest::Client::new().get(url).bearer_auth(token).send().await?.status().as_u16())
}

fn sighup(f: &Firegrid) -> Result<()> {
    let pid = f.pid().context("running")?.to_string();
    let ok = Command::new("sh").args(["-c", "kill -s HUP \"$1\"", "sh", &pid]).status()?.success();
    ensure!(ok, "kill -HUP {pid} failed");
    Ok(())
}

/// Waits until the API answers `want` to `token`.
async fn until_status(f: &Firegrid, token: &str, want: u16) -> Result<()> {
    let port = f.http_port;
    support::eventually(
        Duration::from_secs(10),
        || async move { Ok((status(port, token).await? == want).then_some(())) },
    )
    .await
    .with_context(|| format!("{token} never got {want}; log:\n{}", f.log_tail()))
}

/// Waits until the log holds `n` lines with `needle`; returns the last.
async fn until_logged(log: &Path, needle: &str, n: usize) -> Result<String> {
    let log = log.to_owned();
    support::eventually(Duration::from_secs(10), || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log)?;
            let hits: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
            Ok((hits.len() >= n).then(|| hits.last().map(|s| (*s).to_owned())).flatten())
        }
    })
    .await
    .with_context(|| format!("no {n}× `{needle}` in the log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_tokens_and_a_bad_file_keeps_those_in_force() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(90), async {
        let dir = tempfile::tempdir()?;
        let tokens = dir.path().join("tokens.csv");
        write_private(&tokens, &format!("token,role,subject\n{OLD},dispatcher,duty\n"))?;
        let conf = config(dir.path(), support::free_port()?)?;
        let log = dir.path().join("firegrid.log");
        let mut f = Firegrid::start(&conf, vec![], &log).await?;
        ensure!(status(f.http_port, OLD).await? == 200 && status(f.http_port, NEW).await? == 401);

        write_private(&tokens, &format!("token,role,subject\n{NEW},dispatcher,duty\n"))?;
        sighup(&f)?;
        until_status(&f, NEW, 200).await?;
        ensure!(status(f.http_port, OLD).await? == 401, "a removed token is refused after SIGHUP");
        until_logged(&log, "tokens_reloaded", 1).await?;

        // A bad row: the reload fails naming file:line, the tokens in force stay.
        write_private(&tokens, &format!("token,role,subject\n{OLD},emperor,duty\n"))?;
        sighup(&f)?;
        let line = until_logged(&log, "tokens_reload_failed", 1).await?;
        ensure!(line.contains(&format!("{}:2: unknown role `emperor`", tokens.display())), "{line}");
        // Readable by others: refused with the hint, the tokens in force stay.
        write_private(&tokens, &format!("token,role,subject\n{OLD},dispatcher,duty\n"))?;
        std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644))?;
        sighup(&f)?;
        let line = until_logged(&log, "tokens_reload_failed", 2).await?;
        ensure!(line.contains("chmod 600"), "{line}");
        ensure!(status(f.http_port, NEW).await? == 200 && status(f.http_port, OLD).await? == 401);
        ensure!(!std::fs::read_to_string(&log)?.contains(NEW), "a token never appears in the log");
        f.stop(Duration::from_secs(15)).await?;
        anyhow::Ok(())
    })
    .await
    .context("test timed out")?
}

/// Runs the binary to its end (at most 20 s); returns whether it succeeded and its output.
fn run_to_end(args: &[&str], conf: &Path) -> Result<(bool, String)> {
    let conf = conf.display().to_string();
    let args: Vec<&str> = args.iter().copied().chain(["--config", &conf]).collect();
    run_to_exit(&args, &[], Duration::from_secs(20))
}

#[test]
fn a_tokens_file_others_can_read_is_refused_at_start_with_the_chmod_hint() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{OLD},dispatcher,duty\n"))?;
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644))?;
    let conf = config(dir.path(), support::free_port()?)?;
    for args in [&["run"][..], &["check-config"][..]] {
        let (ok, text) = run_to_end(args, &conf)?;
        ensure!(!ok, "firegrid {args:?} accepted a 0644 tokens file: {text}");
        ensure!(
            text.contains(&tokens.display().to_string()) && text.contains("(mode 0644)") && text.contains("chmod 600"),
            "firegrid {args:?}: {text}"
        );
        ensure!(!text.contains(OLD), "the token is not printed");
    }
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600))?;
    let (ok, text) = run_to_end(&["check-config"], &conf)?;
    ensure!(ok && text.contains("1 API token(s)"), "{text}");
    Ok(())
}

#[test]
fn check_config_fails_on_a_bad_tokens_file_naming_file_and_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens.csv");
    write_private(&tokens, &format!("token,role,subject\n{OLD},dispatcher,duty\nshort,admin,x\n"))?;
    let conf = config(dir.path(), support::free_port()?)?;
    let (ok, text) = run_to_end(&["check-config"], &conf)?;
    ensure!(!ok, "check-config accepted a bad tokens file: {text}");
    ensure!(text.contains(&format!("{}:3: token must be at least 16", tokens.display())), "{text}");
    Ok(())
}
