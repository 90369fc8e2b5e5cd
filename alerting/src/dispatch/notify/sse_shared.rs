//! Every partition's live feed on every instance (DESIGN §9): within a partition on the shared
//! PostgreSQL store, each dispatch message a leader broadcasts to its consoles is also sent as
//! `pg_notify('firegrid_sse', …)`, and every alert instance — leaders of other partitions and
//! standbys — `LISTEN`s on that channel and broadcasts what arrives to its own consoles. Best
//! effort, like the feed itself: a notification lost while a listener reconnects is not replayed
//! (the console re-reads the list), and a message over PostgreSQL's 8000-byte payload limit is
//! shown only on its own leader (logged as `sse_feed_too_large`).

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::forward::conn::{bounded, client};
use crate::forward::Listener;
use crate::incident::Recipient;
use crate::store::PgUrl;

/// The channel.
const CHANNEL: &str = "firegrid_sse";
/// PostgreSQL refuses a payload of 8000 bytes or more.
const PAYLOAD_MAX: usize = 7_999;
/// Messages queued for `pg_notify` (dropped past it: the feed is best effort).
const QUEUE: usize = 1024;

/// One message on the channel.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The sending instance (it skips its own).
    o: String,
    /// The recipient's target (`ms-1`, `grid:g-1`).
    t: String,
    /// The dispatch message JSON.
    p: String,
}

/// The shared feed of one instance: its sender and its listener (both stop when dropped).
#[derive(Debug)]
pub(crate) struct SharedFeed {
    origin: String,
    out: mpsc::Sender<String>,
    _listener: Listener,
}

impl SharedFeed {
    /// Sends to and listens on the store at `url`, handing other instances' messages (recipient,
    /// message JSON) to `local` (call on the tokio runtime).
    pub(crate) fn start(url: PgUrl, local: impl Fn(Recipient, String) + Send + 'static) -> SharedFeed {
        let origin = format!("{}-{}", std::process::id(), firegrid_ingest::clock::now_ms());
        let (out, queued) = mpsc::channel(QUEUE);
        tokio::spawn(publish(url.clone(), queued));
        let (listener, received) = Listener::with_payloads(url, CHANNEL, QUEUE);
        tokio::spawn(receive(origin.clone(), received, local));
        SharedFeed { origin, out, _listener: listener }
    }

    /// Sends one message to the other instances (dropped when the queue is full or too large).
    pub(crate) fn send(&self, recipient: &Recipient, payload: &str) {
        let wire = Wire { o: self.origin.clone(), t: recipient.target(), p: payload.to_owned() };
        let Ok(text) = serde_json::to_string(&wire) else { return };
        if text.len() > PAYLOAD_MAX {
            tracing::warn!(
                event = "sse_feed_too_large",
                bytes = text.len(),
                "a dispatch message too large for pg_notify is shown on this instance only"
            );
            return;
        }
        let _ = self.out.try_send(text);
    }
}

/// Sends the queued messages, one `pg_notify` each, until the feed is dropped.
async fn publish(url: PgUrl, mut queued: mpsc::Receiver<String>) {
    let mut conn: Option<Client> = None;
    while let Some(text) = queued.recv().await {
        if conn.as_ref().is_none_or(Client::is_closed) {
            conn = client(&url).await.ok();
        }
        let Some(c) = conn.as_ref() else { continue };
        let sent =
            bounded(&url, "notify the live feed", c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &text])).await;
        if let Err(e) = sent {
            tracing::warn!(event = "sse_feed_send_failed", error = %e, "a live-feed message did not reach the other instances");
            conn = None;
        }
    }
}

/// Broadcasts the other instances' messages locally.
async fn receive(origin: String, mut received: mpsc::Receiver<String>, local: impl Fn(Recipient, String)) {
    while let Some(text) = received.recv().await {
        let Ok(w) = serde_json::from_str::<Wire>(&text) else { continue };
        if w.o != origin {
            local(Recipient::from_target(&w.t), w.p);
        }
    }
}
