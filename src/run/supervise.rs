//! The supervisor: waits for the shutdown trigger (or a part that stops on its own, which is an
//! error), then walks the [`ShutdownTree`] leaf first — stop intake, drain, flush, acknowledge,
//! disconnect, then the HTTP server and the timers — each stage bounded in time.

use tokio_util::sync::CancellationToken;

use crate::run::parts::Parts;
use crate::run::shutdown::ShutdownTree;
use crate::run::{RunError, DISCONNECT_TIMEOUT, DRAIN_TIMEOUT};

/// Runs until `trigger` is cancelled or a part ends early, then stops every part in order.
pub(super) async fn supervise(
    mut parts: Parts,
    tree: ShutdownTree,
    trigger: CancellationToken,
) -> Result<(), RunError> {
    let early = first_to_end(&mut parts, &trigger).await;
    if let Some(name) = early {
        tracing::error!(event = "task_exited", task = name, "stopping");
    }
    tracing::info!(event = "shutdown", "stopping intake, flushing, acknowledging, disconnecting");
    // Stop intake: the pipeline takes no more messages and hands its batch to the writer.
    tree.intake.cancel();
    parts.pipeline.stopped(DRAIN_TIMEOUT).await;
    // Drain: the engine evaluates and persists what is queued, then stops.
    tree.drain.cancel();
    parts.alerting.stopped(DRAIN_TIMEOUT).await;
    // Flush: the writer writes what it holds (its input closed with the pipeline); past the bound
    // it is told to stop, leaving its batch unacknowledged. Delivery stops too: undelivered rows
    // stay in the outbox for the next start.
    parts.writer.stopped(DRAIN_TIMEOUT).await;
    tree.flush.cancel();
    parts.writer.stopped(DISCONNECT_TIMEOUT).await;
    parts.dispatch.stopped(DISCONNECT_TIMEOUT).await;
    // Acknowledge: every acknowledgement queued goes out, then the DISCONNECT.
    tree.ack.cancel();
    parts.acks.stopped(DISCONNECT_TIMEOUT).await;
    // Disconnect: the event loop ends once the DISCONNECT went out.
    tree.disconnect.cancel();
    parts.event_loop.stopped(DISCONNECT_TIMEOUT).await;
    // The HTTP server (it answered /readyz until now), the SIGHUP watcher, the retention timer,
    // the memory keeper.
    tree.service.cancel();
    parts.http.stopped(DISCONNECT_TIMEOUT).await;
    parts.reload.stopped(DISCONNECT_TIMEOUT).await;
    if let Some(r) = parts.retention.as_mut() {
        r.stopped(DISCONNECT_TIMEOUT).await;
    }
    parts.memory.stopped(DISCONNECT_TIMEOUT).await;
    tracing::info!(event = "stopped");
    match early {
        Some(name) => Err(RunError::TaskExited(name)),
        None => Ok(()),
    }
}

/// Waits for `trigger`, or for a part that must run until shutdown to end; the name of that part.
async fn first_to_end(parts: &mut Parts, trigger: &CancellationToken) -> Option<&'static str> {
    let Parts { event_loop, pipeline, alerting, writer, http, .. } = parts;
    let names = (event_loop.name, pipeline.name, alerting.name, writer.name, http.name);
    tokio::select! {
        () = trigger.cancelled() => None,
        _ = event_loop.ended() => Some(names.0),
        _ = pipeline.ended() => Some(names.1),
        r = alerting.ended() => {
            if let Ok(Err(e)) = r {
                tracing::error!(event = "alerting_failed", error = %e);
            }
            Some(names.2)
        }
        _ = writer.ended() => Some(names.3),
        _ = http.ended() => Some(names.4),
    }
}
