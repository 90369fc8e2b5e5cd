//! The console's live feed: every dispatch message is broadcast to the connected
//! `GET /api/v1/events` streams (server-sent events, `event: dispatch`). A slow console that
//! falls more than the buffer behind is told how many it missed (`event: lagged`) and can
//! re-read the incident list; the outbox row counts as delivered once broadcast.

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
}

impl Default for SseHub {
    fn default() -> Self {
        SseHub { tx: broadcast::channel(BUFFER).0 }
    }
}

impl SseHub {
    /// Broadcasts a message; returns how many consoles are listening.
    pub fn send(&self, item: SseItem) -> usize {
        self.tx.send(Arc::new(item)).unwrap_or(0)
    }

    /// A new listener.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<SseItem>> {
        self.tx.subscribe()
    }
}
