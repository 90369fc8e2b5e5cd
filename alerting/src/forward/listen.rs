//! [`Listener`]: one connection that `LISTEN`s on a channel and wakes a [`Notify`] for every
//! notification, and once after each (re)connect (what was sent while it was away is not
//! replayed: the waiters read the table again). A lost connection is reopened after a second.
//! Notifications only shorten a wait: every waiter also polls.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{conn, ForwardError};
use crate::store::postgres::PgUrl;

/// Wait before reconnecting a lost listener.
const RECONNECT: Duration = Duration::from_secs(1);

/// A running listener; it stops when dropped.
#[derive(Debug)]
pub struct Listener {
    wake: Arc<Notify>,
    _stop: DropGuard,
}

impl Listener {
    /// Listens on `channel` (a fixed identifier) of the store at `url`, on a task of its own
    /// (call on the tokio runtime).
    pub fn start(url: PgUrl, channel: &'static str) -> Listener {
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        tokio::spawn(run(url, channel, wake.clone(), stop.clone()));
        Listener { wake, _stop: stop.drop_guard() }
    }

    /// What a notification wakes: `notified()` returns at the next one (a notification that
    /// came while nobody waited wakes the next waiter at once).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

async fn run(url: PgUrl, channel: &'static str, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        let session = tokio::select! {
            () = stop.cancelled() => return,
            r = session(&url, channel, &wake) => r,
        };
        if let Err(e) = session {
            tracing::warn!(event = "forward_listen_failed", channel, error = %e,
                "listening for forwarded actions failed; polling meanwhile, reconnecting");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

/// One connection's life: `LISTEN`, then a wake-up per notification until the connection ends.
async fn session(url: &PgUrl, channel: &'static str, wake: &Notify) -> Result<(), ForwardError> {
    let (client, mut connection) = conn::open(url).await?;
    let statement = format!("LISTEN {channel}");
    let listen = client.batch_execute(&statement);
    let mut listen = std::pin::pin!(listen);
    // The connection must be polled for the LISTEN to complete.
    loop {
        tokio::select! {
            r = &mut listen => { r.map_err(conn::failed(url, "listen"))?; break; }
            m = poll_fn(|cx| connection.poll_message(cx)) => match m {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(conn::failed(url, "listen")(e)),
                None => return Ok(()),
            },
        }
    }
    wake.notify_waiters();
    wake.notify_one();
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(_))) => {
                wake.notify_waiters();
                wake.notify_one();
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(conn::failed(url, "receive notifications")(e)),
            None => return Ok(()),
        }
    }
}
