//! Wiring and shutdown: builds every part from validated settings, runs them as tasks joined
//! by bounded channels, and on shutdown stops intake, drains, flushes, acknowledges and
//! disconnects — in that order, within a bounded time. A task that ends on its own before
//! shutdown is an error.
//!
//! Layout:
//! - `shutdown` — leaf: the [`CancellationToken`] tree of the shutdown order, and [`Part`], a
//!   spawned task the supervisor waits for without ever aborting it;
//! - `parts` — opening and spawning every part, each stopping at its node of the tree;
//! - `supervise` — waiting for the trigger, then walking the tree leaf first;
//! - `reload` — SIGHUP: the registry, the API tokens, the broker's users;
//! - `keeper` — the memory keeper: gives back to the system what the C allocator holds free;
//! - `leader`, `standby` — a partition's instance: standby until it holds the lease, then the
//!   service above for one leader term, fenced by its epoch.
//!
//! [`Part`]: shutdown::Part

use std::net::SocketAddr;
use std::time::Duration;

use firegrid_alerting::dispatch::StageError;
use firegrid_alerting::{AlertError, EngineHandle};
use firegrid_ingest::mqtt::options::OptionsError;
use firegrid_ingest::store::embedded::EmbeddedStoreError;
use firegrid_ingest::store::influx::InfluxError;
use firegrid_ingest::store::spool::SpoolError;
use firegrid_ingest::{RegistryError, SharedRegistry};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::users::UsersError;
use crate::broker::BrokerError;
use crate::config::Settings;

mod keeper;
mod leader;
mod parts;
mod reload;
mod shutdown;
mod standby;
mod supervise;

/// Time the pipeline, then the alert engine, then the writer each get to finish what they hold.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);
/// How often the embedded store drops tables past their retention or over its size cap (cheap
/// when there is nothing to drop: a few pragmas).
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// Time each later stage gets: the dispatch delivery to stop, the acker to send its last acks,
/// the event loop to disconnect, the HTTP server to finish its requests.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The registry could not be loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A configured registry file is missing, or a registry file is invalid.
    #[error(transparent)]
    RegistryFiles(#[from] crate::registry_files::RegistryFilesError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The MQTT client could not be set up.
    #[error(transparent)]
    Mqtt(#[from] OptionsError),
    /// The store client could not be set up.
    #[error(transparent)]
    Store(#[from] InfluxError),
    /// The embedded broker could not start.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The embedded store could not be opened.
    #[error(transparent)]
    EmbeddedStore(#[from] EmbeddedStoreError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The HTTP listener could not bind.
    #[error("http.listen {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The alert engine could not start.
    #[error("alert engine: {0}")]
    Alerting(#[from] AlertError),
    /// The dispatch stage could not start.
    #[error("dispatch: {0}")]
    Dispatch(#[from] StageError),
    /// The API token file is invalid.
    #[error(transparent)]
    Tokens(#[from] firegrid_alerting::access::TokenError),
    /// The embedded broker's users file is invalid.
    #[error(transparent)]
    BrokerUsers(#[from] UsersError),
    /// A task ended before shutdown.
    #[error("the {0} task stopped unexpectedly")]
    TaskExited(&'static str),
}

/// A started service.
#[derive(Debug)]
pub struct Running {
    /// The address the HTTP server listens on (useful with port 0).
    pub http_addr: SocketAddr,
    /// The registry (reload from tests or signals).
    pub registry: SharedRegistry,
    /// The alert engine, when this role runs alerting (the demo closes its incidents through it).
    pub engine: Option<EngineHandle>,
    handle: JoinHandle<Result<(), RunError>>,
}

impl Running {
    /// Waits until the service has stopped.
    pub async fn wait(self) -> Result<(), RunError> {
        self.handle.await.unwrap_or(Err(RunError::TaskExited("supervisor")))
    }
}

/// Runs the service until `shutdown` is cancelled; a partition's instance runs it only while
/// it leads the partition (`leader`).
pub async fn run(mut settings: Settings, shutdown: CancellationToken) -> Result<(), RunError> {
    if let Some(partition) = settings.partition.take() {
        return leader::run(settings, partition, shutdown).await;
    }
    start(settings, shutdown).await?.wait().await
}

/// Starts every part and returns once the HTTP server is listening; cancelling `shutdown`
/// starts the ordered shutdown, [`Running::wait`] waits for its end.
pub async fn start(settings: Settings, shutdown: CancellationToken) -> Result<Running, RunError> {
    let tree = shutdown::ShutdownTree::new();
    let parts::Started { parts, http_addr, registry, engine } = match parts::start(settings, &tree).await {
        Ok(started) => started,
        Err(e) => {
            // What did start (the acker, a timer) stops with the tree.
            tree.service.cancel();
            return Err(e);
        }
    };
    let handle = tokio::spawn(supervise::supervise(parts, tree, shutdown));
    Ok(Running { http_addr, registry, engine, handle })
}
