//! The PostgreSQL incident store (`[incidents] backend = "postgres"`): the same tables and the
//! same one-transaction-per-[`Outcome`](crate::incident::Outcome) guarantee as the SQLite store,
//! shared by every alert instance (DESIGN §3, §9).
//!
//! [`PgStore`] is synchronous, like the SQLite store, so the engine's [`super::StoreThread`]
//! drives either: it owns a current-thread tokio runtime and `block_on`s tokio-postgres on the
//! store thread, never on the async runtime (a call from inside a runtime is refused with
//! [`StoreError::OnRuntime`] rather than a panic). A lost connection is reopened at the next call.
//!
//! - `url`: the connection URL, redacted everywhere it is shown.
//! - `sslmode`, `tls`: the URL's `sslmode` and the rustls connector that checks certificates by it.
//! - `migrate`: the versioned migrations and their runner.
//! - `write`, `read`, `outbox`: the store's operations.
//! - `forward`: the owning leader's claim and answer of forwarded actions (DESIGN §9).
//! - `probe`: what `check-config --probe` reads (nothing written).
//!
//! **Fencing hook** (for partition leases): with [`PgStore::set_fence`], every write transaction
//! first reads `SELECT epoch FROM partition_leases WHERE partition = $1 FOR SHARE` and rolls back
//! with [`StoreError::Fenced`] unless the epoch is the fence's; `FOR SHARE` makes a concurrent
//! takeover (an `UPDATE` of that row) wait for the transaction, so no write of an old epoch
//! commits after a new epoch is granted.

mod forward;
mod migrate;
mod outbox;
mod probe;
mod read;
mod sslmode;
mod tls;
mod url;
mod write;

use std::cell::{RefCell, RefMut};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, Statement, Transaction};

pub use probe::{probe, LeaseRow, PgProbe};
pub use sslmode::SslMode;
pub use tls::PgTlsError;
pub(crate) use tls::{PgTls, PgTlsStream};
pub use url::{redact, PgUrl, PgUrlError};

use super::StoreError;

/// A partition epoch that every write transaction must still hold (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The `partition_leases.partition` row.
    pub partition: String,
    /// The epoch this instance was granted.
    pub epoch: i64,
}

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive idle time: a dead server is noticed in about a minute, not two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// The unique index that keeps one open incident per key, class and first alarm.
pub(crate) const ONE_OPEN_INDEX: &str = "incidents_one_open_per_alarm";
/// The incidents' primary key: an insert of an id another writer opened first.
const INCIDENTS_PKEY: &str = "incidents_pkey";

/// A connection to the PostgreSQL incident store (see the module doc).
pub struct PgStore {
    /// Always `Some` until dropped (taken by `Drop`, which shuts it down without blocking).
    rt: Option<tokio::runtime::Runtime>,
    client: RefCell<Client>,
    url: PgUrl,
    fence: Option<Fence>,
    /// Statements prepared on the connection (cleared when it is reopened).
    stmts: Stmts,
}

/// Statements prepared on one connection, by SQL text: one round trip per statement instead of
/// two. At most [`STMTS_KEPT`] (the list's filters make many texts); past it, prepared each time.
#[derive(Default)]
pub(crate) struct Stmts(RefCell<std::collections::HashMap<String, Statement>>);

/// Most statements kept per connection.
const STMTS_KEPT: usize = 256;

impl Stmts {
    /// The prepared statement of `sql` on `client`'s connection.
    pub(crate) async fn get(&self, client: &impl GenericClient, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(st) = self.0.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = client.prepare(sql).await?;
        let mut m = self.0.borrow_mut();
        if m.len() < STMTS_KEPT {
            m.insert(sql.to_owned(), st.clone());
        }
        Ok(st)
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.url).field("fence", &self.fence).finish_non_exhaustive()
    }
}

/// The error of a failed statement against the store at `url`, while doing `what`.
pub(crate) fn pg<'a>(url: &'a PgUrl, what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError + 'a {
    move |source| {
        let db = source.as_db_error();
        let constraint = db.and_then(|d| d.constraint());
        if source.code() == Some(&SqlState::UNIQUE_VIOLATION)
            && (constraint == Some(ONE_OPEN_INDEX) || constraint == Some(INCIDENTS_PKEY))
        {
            return StoreError::DuplicateOpen { detail: db.and_then(|d| d.detail()).unwrap_or_default().to_owned() };
        }
        StoreError::Postgres { url: url.redacted().to_owned(), what, message: describe(&source) }
    }
}

/// The driver's error with what its `Display` leaves out: the server's message and code, or
/// the underlying I/O error (passwords redacted).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let text = match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    };
    redact(&text)
}

/// Refuses a blocking call from inside an async runtime (it would panic there).
fn off_runtime() -> Result<(), StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Err(StoreError::OnRuntime),
        Err(_) => Ok(()),
    }
}

impl PgStore {
    /// Connects and applies the pending migrations (under the migration lock). Blocking: call it
    /// on a store thread, not on the async runtime.
    pub fn connect(url: &PgUrl) -> Result<PgStore, StoreError> {
        off_runtime()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Thread { name: "postgres runtime".into(), source })?;
        let mut client = rt.block_on(open(url))?;
        let applied = rt.block_on(migrate::migrate(&mut client)).map_err(|e| StoreError::Postgres {
            url: url.redacted().to_owned(),
            what: "migrate the schema",
            message: redact(&e.to_string()),
        })?;
        if !applied.is_empty() {
            tracing::info!(event = "incident_store_migrated", url = %url.redacted(), versions = ?applied,
                "incident store schema migrated");
        }
        Ok(PgStore {
            rt: Some(rt),
            client: RefCell::new(client),
            url: url.clone(),
            fence: None,
            stmts: Stmts::default(),
        })
    }

    /// Every later write transaction checks `fence` first (`None`: no check).
    pub fn set_fence(&mut self, fence: Option<Fence>) {
        self.fence = fence;
    }

    /// The URL, redacted.
    pub fn url(&self) -> &str {
        self.url.redacted()
    }

    /// The connection (reopened first if it was lost) and the runtime to block on. Refused on
    /// an async runtime.
    pub(crate) fn conn(&self) -> Result<(RefMut<'_, Client>, &tokio::runtime::Runtime), StoreError> {
        off_runtime()?;
        let rt = self.rt.as_ref().ok_or(StoreError::Closed)?;
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            tracing::warn!(event = "incident_store_reconnect", url = %self.url.redacted(),
                "incident store connection lost; reconnecting");
            *client = rt.block_on(open(&self.url))?;
            self.stmts.0.borrow_mut().clear();
        }
        Ok((client, rt))
    }
}

impl Drop for PgStore {
    /// Shuts the runtime down without blocking: a store dropped on an async runtime (an
    /// engine that failed to start) must not panic.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Opens a connection (keepalives on, bounded connect time, TLS as the URL's `sslmode` says)
/// and spawns its driver task.
/// The TLS connector `url` asks for (its `sslmode` and `ca_file`): every connection firegrid
/// opens to PostgreSQL — the store's, the lease's, the forwarder's and the listeners' — uses it,
/// so no session of an instance goes in plaintext when the URL asks for TLS.
pub(crate) fn tls_of(url: &PgUrl) -> Result<PgTls, PgTlsError> {
    PgTls::new(url.ssl_mode(), url.ca_file())
}

async fn open(url: &PgUrl) -> Result<Client, StoreError> {
    let mut config = url.config().clone();
    config
        .application_name("firegrid")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE);
    let tls = tls_of(url).map_err(|e| StoreError::Postgres {
        url: url.redacted().to_owned(),
        what: "set up TLS",
        message: e.to_string(),
    })?;
    let (client, connection) = config.connect(tls).await.map_err(pg(url, "connect"))?;
    let shown = url.redacted().to_owned();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(event = "incident_store_connection_lost", url = %shown, error = %redact(&e.to_string()),
                "incident store connection lost");
        }
    });
    Ok(client)
}

/// Begins a write transaction and checks the fence, if any (see the module doc).
async fn begin<'c>(client: &'c mut Client, url: &PgUrl, fence: Option<&Fence>) -> Result<Transaction<'c>, StoreError> {
    let tx = client.transaction().await.map_err(pg(url, "begin"))?;
    if let Some(f) = fence {
        let row = tx
            .query_opt("SELECT epoch FROM partition_leases WHERE partition = $1 FOR SHARE", &[&f.partition])
            .await
            .map_err(pg(url, "check the partition lease"))?;
        let found: Option<i64> = row.map(|r| r.get(0));
        if found != Some(f.epoch) {
            return Err(StoreError::Fenced { partition: f.partition.clone(), epoch: f.epoch, found });
        }
    }
    Ok(tx)
}
