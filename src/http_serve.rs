//! The HTTP server loop: HTTP/1.1 through hyper with a header-read timeout (a client that opens a
//! connection and trickles or withholds its request header is cut off after
//! `http.header_read_timeout_ms`, so idle sockets cannot hold the connection slots) and a cap on
//! connections served at once (`http.max_connections`: past it, new connections wait in the
//! kernel's backlog instead of costing a task and buffers each). A connection's slot is freed when
//! it closes. On stop the server accepts no more and lets the requests in flight finish.
//!
//! `axum::serve` has no header-read timeout (hyper enforces one only with a timer, which axum
//! does not give it), hence this loop. Accepted sockets keep the kernel's default (Nagle on):
//! firegrid's responses are written whole, and TCP_NODELAY bought nothing here.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::HttpLimits;

/// Pause after a failed accept (out of file descriptors): never a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop`, then waits for the requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    while let Some((stream, slot)) = next_connection(&listener, &slots, &stop).await {
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A closed or timed-out connection is the client's business, not an error of ours.
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The next connection with its slot, once a slot is free; `None` at stop.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    stop: &CancellationToken,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let slot = tokio::select! {
        () = stop.cancelled() => return None,
        // The semaphore is never closed.
        slot = slots.clone().acquire_owned() => slot.ok()?,
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => return Some((stream, slot)),
                Err(e) => {
                    tracing::warn!(event = "http_accept_failed", error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}
