//! [`Listener`]: one connection that `LISTEN`s on a channel and wakes a [`Notify`] for every
//! notification, and once after each (re)connect (what was sent while it was away is not
//! replayed: the waiters read the table again). A lost connection is reopened after a second.
//! Notifications only shorten a wait: every waiter also polls.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
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
        Listener::spawn(url, channel, None)
    }

    /// [`Listener::start`], also handing every notification's payload to the receiver returned
    /// (dropped, not waited for, when it is `capacity` behind).
    pub fn with_payloads(url: PgUrl, channel: &'static str, capacity: usize) -> (Listener, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Listener::spawn(url, channel, Some(tx)), rx)
    }

    fn spawn(url: PgUrl, channel: &'static str, payloads: Option<mpsc::Sender<String>>) -> Listener {
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let to = Wake { notify: wake.clone(), payloads };
        tokio::spawn(run(url, channel, to, stop.clone()));
        Listener { wake, _stop: stop.drop_guard() }
    }

    /// What a notification wakes: `notified()` returns at the next one (a notification that
    /// came while nobody waited wakes the next waiter at once).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// What a notification reaches.
struct Wake {
    notify: Arc<Notify>,
    payloads: Option<mpsc::Sender<String>>,
}

impl Wake {
    /// Wakes the waiters (and the next one, if none waits now).
    fn all(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

async fn run(url: PgUrl, channel: &'static str, wake: Wake, stop: CancellationToken) {
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
async fn session(url: &PgUrl, channel: &'static str, wake: &Wake) -> Result<(), ForwardError> {
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
    wake.all();
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) => {
                wake.all();
                if let Some(tx) = &wake.payloads {
                    let _ = tx.try_send(n.payload().to_owned());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(conn::failed(url, "receive notifications")(e)),
            None => return Ok(()),
        }
    }
}
