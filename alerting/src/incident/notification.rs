//! An incident's notifications (DESIGN §6): who is told ([`Recipient`]), as what
//! ([`NotifyRole`]), on which [`Channel`], and the dispatch outbox row that carries one
//! ([`OutboxEntry`]), written in the transaction of the change that caused it, before any delivery
//! attempt. How a station or grid was notified decides what it may do to the incident, so these
//! belong to the incident's durable record; the dispatch stage fills them, the store keeps them.

use firegrid_ingest::Tier;

named_enum!(
    /// Why a notification goes to a recipient (DESIGN §6).
    pub enum NotifyRole {
        /// Go to the scene.
        Respond => "respond",
        /// Check on site (grid manager, or the township team of an unverified alarm).
        Verify => "verify",
        /// Have the hazard fixed (grid manager; township team after 24 h).
        Rectify => "rectify",
        /// Forward to 119 (district station).
        Forward119 => "forward_119",
    }
);

named_enum!(
    /// How a notification is delivered.
    pub enum Channel {
        /// The recipient's MQTT dispatch topic, QoS 1.
        Mqtt => "mqtt",
        /// A signed POST to the recipient's `webhook_url`.
        Webhook => "webhook",
        /// The console's server-sent events.
        Sse => "sse",
    }
);

/// Who is notified: a station, or the manager of a grid. Written as the station id, or
/// `grid:{grid_id}`, wherever one name is needed (the outbox `target`, the message's
/// `station_id`); [`Recipient::target`] and [`Recipient::from_target`] are the only places that
/// know the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    /// A station, by station id.
    Station(String),
    /// A grid's manager, by grid id.
    Grid(String),
}

impl Recipient {
    const GRID_PREFIX: &'static str = "grid:";

    /// The recipient's one-string name: the station id, or `grid:{grid_id}`.
    pub fn target(&self) -> String {
        match self {
            Recipient::Station(id) => id.clone(),
            Recipient::Grid(id) => format!("{}{id}", Recipient::GRID_PREFIX),
        }
    }

    /// The recipient of a one-string name.
    pub fn from_target(target: &str) -> Recipient {
        match target.strip_prefix(Recipient::GRID_PREFIX) {
            Some(grid) => Recipient::Grid(grid.to_owned()),
            None => Recipient::Station(target.to_owned()),
        }
    }

    /// The station or grid id.
    pub fn id(&self) -> &str {
        match self {
            Recipient::Station(id) | Recipient::Grid(id) => id,
        }
    }
}

/// The tier of a recipient: the station's tier, or `grid` (the `tier` label of
/// `firegrid_dispatches_total` and the message's `tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientTier {
    /// A station of this tier.
    Station(Tier),
    /// A grid manager.
    Grid,
}

impl RecipientTier {
    /// The label and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecipientTier::Station(t) => t.as_str(),
            RecipientTier::Grid => "grid",
        }
    }

    /// The tier of a name.
    pub fn parse(s: &str) -> Option<RecipientTier> {
        match s {
            "grid" => Some(RecipientTier::Grid),
            _ => Tier::parse(s).map(RecipientTier::Station),
        }
    }
}

serde_by_name!(RecipientTier);

/// The idempotency key of a notification, `incident_id:station_id:role:seq` (DESIGN §6): the same
/// for every channel of one message, and what receivers deduplicate by.
pub(crate) fn idempotency_key(incident_id: &str, recipient: &Recipient, role: NotifyRole, seq: u32) -> String {
    format!("{incident_id}:{}:{role}:{seq}", recipient.target())
}

/// One notification waiting in the dispatch outbox (one row per message and channel).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The row's key: the message's [`idempotency_key`] and `/{channel}`; inserting a key twice is
    /// a no-op.
    pub idempotency_key: String,
    /// The incident.
    pub incident_id: String,
    /// Who is notified (the `target` column).
    pub recipient: Recipient,
    /// As what.
    pub role: NotifyRole,
    /// How.
    pub channel: Channel,
    /// The recipient's tier; `None` only for a row written before the column existed whose
    /// message named none.
    pub tier: Option<RecipientTier>,
    /// The notification round (`seq` of the message, 1 = first).
    pub seq: u32,
    /// Receive time of the reading that opened the incident, epoch ms (for `firegrid_dispatch_seconds`).
    pub received_at_ms: Option<i64>,
    /// The message body, sent as is.
    pub payload: String,
    /// Enqueued, epoch ms.
    pub created_at_ms: i64,
    /// Earliest next attempt, epoch ms.
    pub next_attempt_ms: i64,
    /// Attempts so far.
    pub attempts: u32,
}

impl OutboxEntry {
    /// The message's idempotency key (the row's key without its channel).
    pub(crate) fn message_key(&self) -> String {
        idempotency_key(&self.incident_id, &self.recipient, self.role, self.seq)
    }

    /// The `tier` label of the row's metrics (empty when unknown).
    pub(crate) fn tier_label(&self) -> &'static str {
        self.tier.map_or("", RecipientTier::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_is_named_by_its_station_id_or_its_grid_prefixed() {
        for (r, name) in [(Recipient::Station("ms-1".into()), "ms-1"), (Recipient::Grid("g-1".into()), "grid:g-1")] {
            assert_eq!(r.target(), name);
            assert_eq!(Recipient::from_target(name), r);
        }
        let key = idempotency_key("INC-1", &Recipient::Grid("g-1".into()), NotifyRole::Verify, 2);
        assert_eq!(key, "INC-1:grid:g-1:verify:2");
    }
}
