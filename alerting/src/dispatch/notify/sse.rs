//! The console's live feed: every dispatch message is broadcast to the connected
//! `GET /api/v1/events` streams (server-sent events, `event: dispatch`). A slow console that
//! falls more than the buffer behind is told how many it missed (`event: lagged`) and can
//! re-read the incident list; the outbox row counts as delivered once broadcast. Within a
//! partition the hub is [`SseHub::shared`]: every instance's consoles see every partition's
//! messages (`sse_shared`).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::incident::Recipient;

/// Messages a console may lag behind before it is told it missed some.
const BUFFER: usize = 1024;

/// One broadcast message.
#[derive(Debug, Clone, PartialEq)]
pub struct SseItem {
    /// Who it is for: decides which consoles may see it.
    pub recipient: Recipient,
    /// The dispatch message JSON.
    pub payload: String,
}

/// The broadcast hub (cheap to clone).
#[derive(Debug, Clone)]
pub struct SseHub {
    tx: broadcast::Sender<Arc<SseItem>>,
    /// Within a partition: the other instances' feed (see `sse_shared`).
    shared: Option<Arc<super::sse_shared::SharedFeed>>,
}

impl Default for SseHub {
    fn default() -> Self {
        SseHub { tx: broadcast::channel(BUFFER).0, shared: None }
    }
}

impl SseHub {
    /// A hub whose messages also reach every alert instance on the store at `url`, and which
    /// shows theirs (call on the tokio runtime).
    pub fn shared(url: crate::store::PgUrl) -> SseHub {
        let tx = broadcast::channel(BUFFER).0;
        let local = tx.clone();
        let feed = super::sse_shared::SharedFeed::start(url, move |recipient, payload| {
            let _ = local.send(Arc::new(SseItem { recipient, payload }));
        });
        SseHub { tx, shared: Some(Arc::new(feed)) }
    }

    /// Broadcasts a message (and sends it to the other instances of a shared hub); returns how
    /// many consoles here are listening.
    pub fn send(&self, item: SseItem) -> usize {
        if let Some(feed) = &self.shared {
            feed.send(&item.recipient, &item.payload);
        }
        self.tx.send(Arc::new(item)).unwrap_or(0)
    }

    /// A new listener.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<SseItem>> {
        self.tx.subscribe()
    }
}
