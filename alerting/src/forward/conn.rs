//! Opening a connection for the forwarding path: bounded by [`CALL_TIMEOUT`], keepalives on (a
//! dead server is noticed in about a minute), named `firegrid-forward` in `pg_stat_activity`,
//! with the store URL's TLS (`sslmode`, `ca_file`).

use tokio_postgres::{Client, Connection, Socket};

use super::{ForwardError, CALL_TIMEOUT};
use crate::store::postgres::{describe, tls_of, PgTlsStream, PgUrl};

/// TCP keepalive idle time.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A connection to `url` and its driver (not yet polled).
pub(super) async fn open(url: &PgUrl) -> Result<(Client, Connection<Socket, PgTlsStream<Socket>>), ForwardError> {
    let mut config = url.config().clone();
    config
        .application_name("firegrid-forward")
        .connect_timeout(CALL_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE);
    let tls = tls_of(url).map_err(|e| ForwardError::Store {
        url: url.redacted().to_owned(),
        what: "set up TLS",
        message: e.to_string(),
    })?;
    match tokio::time::timeout(CALL_TIMEOUT, config.connect(tls)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(failed(url, "connect")(e)),
        Err(_) => {
            Err(ForwardError::Store { url: url.redacted().to_owned(), what: "connect", message: "timed out".into() })
        }
    }
}

/// A connected client whose driver runs on its own task (its end closes the client).
pub(crate) async fn client(url: &PgUrl) -> Result<Client, ForwardError> {
    let (client, connection) = open(url).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The error of a failed statement while doing `what`.
pub(super) fn failed<'u>(url: &'u PgUrl, what: &'static str) -> impl Fn(tokio_postgres::Error) -> ForwardError + 'u {
    move |e| ForwardError::Store { url: url.redacted().to_owned(), what, message: describe(&e) }
}

/// Runs `f` bounded by [`CALL_TIMEOUT`].
pub(crate) async fn bounded<T>(
    url: &PgUrl,
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ForwardError> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(r) => r.map_err(failed(url, what)),
        Err(_) => Err(ForwardError::Store { url: url.redacted().to_owned(), what, message: "timed out".into() }),
    }
}

/// The error of a connection that closed as it was opened.
pub(super) fn closed(url: &PgUrl) -> ForwardError {
    ForwardError::Store { url: url.redacted().to_owned(), what: "connect", message: "connection closed".into() }
}
