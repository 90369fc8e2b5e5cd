//! Shutdown as one [`CancellationToken`] tree, and the supervisor that walks it.
//!
//! Each stage's token is a child of the next stage's, so cancelling a stage also cancels every
//! stage before it: the order stop intake → drain → flush → ack → disconnect cannot be
//! inverted, and cancelling the root stops everything that is left.
//!
//! ```text
//! service          HTTP server, SIGHUP watcher, retention timer,    (cancelled last)
//!                  memory keeper
//! └── disconnect   MQTT event loop: ends once the DISCONNECT went out
//!     └── ack      the acker: sends the acknowledgements queued, then the DISCONNECT
//!         └── flush    writer (forced stop: what it holds stays unacknowledged), dispatch delivery
//!             └── drain    alert engine: evaluates and persists what is queued
//!                 └── intake   pipeline: takes no more messages, hands its batch on
//! ```
//!
//! The caller's `shutdown` token is the trigger, not part of the tree (cancelling the root at
//! once would stop every stage at once). No task is aborted: a task that overruns its stage's
//! bound has been told to stop and is left to wind down while the next stages run — what it
//! still holds is unacknowledged, so the broker redelivers it.

use std::future::Future;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

/// The tokens of the service's shutdown, leaf (first to stop) last.
#[derive(Debug, Clone)]
pub(crate) struct ShutdownTree {
    /// Root: the HTTP server, the SIGHUP watcher, the retention timer and the memory keeper.
    pub(crate) service: CancellationToken,
    /// The MQTT event loop.
    pub(crate) disconnect: CancellationToken,
    /// The acker's disconnect.
    pub(crate) ack: CancellationToken,
    /// The writer's forced stop and the dispatch delivery.
    pub(crate) flush: CancellationToken,
    /// The alert engine.
    pub(crate) drain: CancellationToken,
    /// The pipeline.
    pub(crate) intake: CancellationToken,
}

impl ShutdownTree {
    /// A new tree, nothing cancelled.
    pub(crate) fn new() -> ShutdownTree {
        let service = CancellationToken::new();
        let disconnect = service.child_token();
        let ack = disconnect.child_token();
        let flush = ack.child_token();
        let drain = flush.child_token();
        let intake = drain.child_token();
        ShutdownTree { service, disconnect, ack, flush, drain, intake }
    }
}

/// A spawned part of the service: its name (in logs and [`crate::RunError::TaskExited`]) and
/// its handle until it has ended.
#[derive(Debug)]
pub(crate) struct Part<T> {
    pub(crate) name: &'static str,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Part<T> {
    /// Spawns `task` as the part `name`.
    pub(crate) fn spawn(name: &'static str, task: impl Future<Output = T> + Send + 'static) -> Part<T> {
        Part { name, handle: Some(tokio::spawn(task)) }
    }

    /// A part this role does not run: it never ends on its own and is stopped at once.
    pub(crate) fn absent(name: &'static str) -> Part<T> {
        Part { name, handle: None }
    }

    /// A part spawned elsewhere.
    pub(crate) fn adopt(name: &'static str, handle: JoinHandle<T>) -> Part<T> {
        Part { name, handle: Some(handle) }
    }

    /// Resolves when the part ends (never, once it has been seen to end): for a `select!`
    /// over the parts that may stop before shutdown.
    pub(crate) async fn ended(&mut self) -> Result<T, JoinError> {
        let Some(handle) = self.handle.as_mut() else { return std::future::pending().await };
        let r = handle.await;
        self.handle = None;
        r
    }

    /// Waits up to `bound` for the part to end (at once if it had). `None` when it had ended
    /// before or has not ended in time — it is then left to wind down, and the overrun logged.
    pub(crate) async fn stopped(&mut self, bound: Duration) -> Option<Result<T, JoinError>> {
        let handle = self.handle.as_mut()?;
        match tokio::time::timeout(bound, handle).await {
            Ok(r) => {
                self.handle = None;
                Some(r)
            }
            Err(_) => {
                tracing::warn!(
                    event = "shutdown_stage_overran",
                    task = self.name,
                    bound_ms = bound.as_millis() as u64,
                    "left to wind down; what it holds is unacknowledged and will be redelivered"
                );
                None
            }
        }
    }
}
