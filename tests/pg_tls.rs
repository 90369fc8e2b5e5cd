//! TLS to the PostgreSQL incident store (DESIGN §7): the harness's PostgreSQL with `ssl = on`
//! and a certificate of a test CA. `sslmode=verify-full` with that CA as
//! `[incidents.postgres] ca_file` connects, encrypted; a certificate of another CA is refused
//! with an error naming the CA file; a certificate that does not name the host is refused by
//! `verify-full` and taken by `verify-ca`; the lease and the forwarded-action listener connect
//! with the same TLS.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use firegrid_alerting::forward::Listener;
use firegrid_alerting::partition::LeaseClient;
use firegrid_alerting::store::{blocking, PgStore, PgUrl, StoreError};
use support::postgres::Postgres;
use support::tls::TestPki;

/// Connects a store (migrating the database) to `url` with `ca_file`, off the async runtime.
fn connect(url: &str, ca_file: &Path) -> Result<Result<PgStore, StoreError>> {
    let url = PgUrl::parse(url)?.with_ca_file(Some(ca_file.to_owned()));
    blocking(move || Ok(PgStore::connect(&url))).context("store thread")
}

/// The TLS state of the server's `firegrid` sessions, as the server sees it (a plaintext
/// session of the harness asks `pg_stat_ssl`).
async fn firegrid_sessions_encrypted(pg: &Postgres) -> Result<Vec<bool>> {
    sessions_encrypted(pg, "firegrid").await
}

/// The TLS state of the server's sessions named `application_name`.
async fn sessions_encrypted(pg: &Postgres, application_name: &str) -> Result<Vec<bool>> {
    let (client, conn) =
        tokio_postgres::connect(&format!("{}?sslmode=disable", pg.url("postgres")), tokio_postgres::NoTls)
            .await
            .context("harness session")?;
    let task = tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&application_name],
        )
        .await?;
    task.abort();
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A server with the test CA's certificate (names 127.0.0.1 and localhost), and a URL of a new
/// database on it.
async fn tls_server(dir: &Path) -> Result<(TestPki, Postgres, String)> {
    let pki = TestPki::generate(dir)?;
    let pg = Postgres::start_tls(&pki.server.0, &pki.server.1).await?;
    let url = pg.create_database()?;
    Ok((pki, pg, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_full_connection_to_a_server_of_the_configured_ca_works_and_is_encrypted() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (pki, pg, url) = tls_server(dir.path()).await?;
    let store = connect(&format!("{url}?sslmode=verify-full"), &pki.ca)?.context("verify-full with the right CA")?;
    let sessions = firegrid_sessions_encrypted(&pg).await?;
    ensure!(!sessions.is_empty() && sessions.iter().all(|&ssl| ssl), "firegrid's sessions: {sessions:?}");
    drop(store);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_of_another_ca_is_refused_with_an_error_naming_the_ca_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_pki, _pg, url) = tls_server(dir.path()).await?;
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir)?;
    let other = TestPki::generate(&other_dir)?;
    for mode in ["verify-full", "verify-ca", "require"] {
        let refused = connect(&format!("{url}?sslmode={mode}"), &other.ca)?;
        let e = refused.err().with_context(|| format!("sslmode={mode} took a certificate of another CA"))?.to_string();
        ensure!(
            e.contains("not signed by a CA in incidents.postgres.ca_file")
                && e.contains(&other.ca.display().to_string()),
            "sslmode={mode}: {e}"
        );
        ensure!(e.contains(&format!("sslmode={mode}")), "the error does not say the mode: {e}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_not_naming_the_host_is_refused_by_verify_full_and_taken_by_verify_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (pki, pg, url) = tls_server(dir.path()).await?;
    // The host the certificate is checked against is `db.invalid`; the address connected to is
    // the server's.
    let named = url.replace("@127.0.0.1:", "@db.invalid:");
    let full = connect(&format!("{named}?hostaddr=127.0.0.1&sslmode=verify-full"), &pki.ca)?;
    let e = full.err().context("verify-full took a certificate that does not name the host")?.to_string();
    ensure!(e.contains("not valid for host db.invalid"), "{e}");
    let ca = connect(&format!("{named}?hostaddr=127.0.0.1&sslmode=verify-ca"), &pki.ca)?;
    ca.context("verify-ca checks the chain only")?;
    drop(pg);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_and_the_forwarded_action_listener_use_the_stores_tls_and_refuse_another_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (pki, pg, url) = tls_server(dir.path()).await?;
    let store = connect(&format!("{url}?sslmode=verify-full"), &pki.ca)?.context("the store migrates over TLS")?;
    let good = PgUrl::parse(&format!("{url}?sslmode=verify-full"))?.with_ca_file(Some(pki.ca.clone()));
    let mut lease = LeaseClient::new(good.clone(), "east", "tls-test", Duration::from_secs(5));
    ensure!(lease.attempt().await?.is_some(), "the lease is granted");
    let lease_sessions = sessions_encrypted(&pg, "firegrid-lease").await?;
    ensure!(!lease_sessions.is_empty() && lease_sessions.iter().all(|&ssl| ssl), "lease: {lease_sessions:?}");

    let listener = Listener::start(good, "firegrid_forward");
    let deadline = Instant::now() + Duration::from_secs(10);
    let listening = loop {
        let found = sessions_encrypted(&pg, "firegrid-forward").await?;
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ensure!(!listening.is_empty() && listening.iter().all(|&ssl| ssl), "listener: {listening:?}");
    drop(listener);

    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir)?;
    let other = TestPki::generate(&other_dir)?;
    let bad = PgUrl::parse(&format!("{url}?sslmode=verify-full"))?.with_ca_file(Some(other.ca.clone()));
    let refused = LeaseClient::new(bad, "west", "tls-test", Duration::from_secs(5)).attempt().await;
    let e = refused.err().context("the lease took a certificate of another CA")?.to_string();
    ensure!(e.contains(&other.ca.display().to_string()), "the error names the CA file: {e}");
    drop(store);
    Ok(())
}
