//! Which outbox row a broker's PUBACK confirms (DESIGN §6, §8), as pure bookkeeping over the
//! events of the dispatch connection's rumqttc event loop: a row handed to the client waits for
//! its packet id (rumqttc takes requests in order and yields `Outgoing::Publish(pkid)` when it
//! writes one), then for the broker's `PubAck` with that id on the same connection. Only a
//! successful PUBACK delivers a row; a refusing one (e.g. `NotAuthorized`) and a lost connection
//! return it to the outbox, whose delivery loop sends it again (a duplicate at worst: receivers
//! deduplicate by `idempotency_key`).
//!
//! When the connection drops, rumqttc moves what it had in flight and what was still queued into
//! its `pending` list to send after the reconnect; the connection task clears that list instead
//! ([`Tracker::disconnected`] returns every key it held), so each row is resent only from the
//! outbox and can be marked delivered only by a PUBACK of the connection that carried it.

use std::collections::{HashMap, VecDeque};

use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::Event;
use rumqttc::Outgoing;

/// What became of a row handed to the dispatch connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// The broker acknowledged the publish (PUBACK success, or "no matching subscribers": the
    /// broker has it and nobody is subscribed to the topic).
    Delivered(String),
    /// Not acknowledged: back to the outbox, to be sent again.
    Returned {
        /// The row's key.
        key: String,
        /// Why (for `last_error`).
        reason: String,
    },
}

/// Rows of one dispatch connection between the client and the broker's PUBACK.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Handed to the client, not yet written (no packet id yet), in the order handed over.
    queued: VecDeque<String>,
    /// Written on this connection, awaiting the PUBACK of their packet id.
    in_flight: HashMap<u16, String>,
    /// Taken by rumqttc while its packet id was still in flight (an out-of-order ack): written
    /// with that id once the earlier publish is acknowledged.
    collided: Option<(u16, String)>,
}

impl Tracker {
    /// A row was handed to the client (call in the same order as the client's requests).
    pub(crate) fn handed(&mut self, key: String) {
        self.queued.push_back(key);
    }

    /// Rows handed over and not yet acknowledged or returned.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queued.len() + self.in_flight.len() + usize::from(self.collided.is_some())
    }

    /// Whether no row waits.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows one event of the connection's event loop; what it settles goes to `out`.
    pub(crate) fn on_event(&mut self, ev: &Event, out: &mut Vec<Report>) {
        match ev {
            Event::Outgoing(Outgoing::Publish(pkid)) if *pkid != 0 => {
                let key = match self.collided.take_if(|(p, _)| p == pkid) {
                    Some((_, key)) => Some(key),
                    None => self.queued.pop_front(),
                };
                if let Some(key) = key {
                    if let Some(old) = self.in_flight.insert(*pkid, key) {
                        // rumqttc never reuses an id in flight; should it, the older row is sent again.
                        out.push(Report::Returned { key: old, reason: format!("packet id {pkid} reused") });
                    }
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                if let Some(key) = self.queued.pop_front() {
                    self.collided = Some((*pkid, key));
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                let Some(key) = self.in_flight.remove(&ack.pkid) else { return };
                out.push(match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Report::Delivered(key),
                    refused => Report::Returned { key, reason: format!("the broker refused the publish: {refused:?}") },
                });
            }
            _ => {}
        }
    }

    /// The connection dropped after rumqttc had taken `drained` fresh requests (packet id 0)
    /// from its queue into `pending` (which the caller clears): every row written on the
    /// connection, the collided one and the `drained` oldest queued ones are returned. Rows
    /// handed over since stay queued: they go out on the next connection.
    pub(crate) fn disconnected(&mut self, drained: usize, reason: &str) -> Vec<Report> {
        let mut keys: Vec<(u16, String)> = self.in_flight.drain().collect();
        keys.sort_unstable();
        let mut out: Vec<Report> =
            keys.into_iter().map(|(_, key)| Report::Returned { key, reason: reason.to_owned() }).collect();
        if let Some((_, key)) = self.collided.take() {
            out.push(Report::Returned { key, reason: reason.to_owned() });
        }
        for _ in 0..drained {
            let Some(key) = self.queued.pop_front() else { break };
            out.push(Report::Returned { key, reason: reason.to_owned() });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::v5::mqttbytes::v5::PubAck;

    use super::*;

    fn publish(pkid: u16) -> Event {
        Event::Outgoing(Outgoing::Publish(pkid))
    }

    fn puback(pkid: u16, reason: PubAckReason) -> Event {
        Event::Incoming(Packet::PubAck(PubAck { pkid, reason, properties: None }))
    }

    fn feed(t: &mut Tracker, events: &[Event]) -> Vec<Report> {
        let mut out = Vec::new();
        for e in events {
            t.on_event(e, &mut out);
        }
        out
    }

    fn delivered(k: &str) -> Report {
        Report::Delivered(k.to_owned())
    }

    #[test]
    fn a_row_is_delivered_only_by_the_puback_of_its_own_packet_id() {
        let mut t = Tracker::default();
        t.handed("a".into());
        t.handed("b".into());
        assert!(feed(&mut t, &[publish(1), publish(2)]).is_empty(), "written is not delivered");
        assert_eq!(feed(&mut t, &[puback(2, PubAckReason::Success)]), vec![delivered("b")]);
        assert_eq!(feed(&mut t, &[puback(2, PubAckReason::Success)]), vec![], "a repeated ack settles nothing");
        assert_eq!(feed(&mut t, &[puback(1, PubAckReason::NoMatchingSubscribers)]), vec![delivered("a")]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_refused_publish_goes_back_to_the_outbox() {
        let mut t = Tracker::default();
        t.handed("a".into());
        let out = feed(&mut t, &[publish(7), puback(7, PubAckReason::NotAuthorized)]);
        assert!(
            matches!(&out[..], [Report::Returned { key, reason }] if key == "a" && reason.contains("NotAuthorized"))
        );
    }

    #[test]
    fn a_disconnect_returns_what_was_in_flight_and_what_rumqttc_drained_but_not_what_came_after() {
        let mut t = Tracker::default();
        for k in ["a", "b", "c", "d"] {
            t.handed(k.into());
        }
        assert!(feed(&mut t, &[publish(1), publish(2)]).is_empty());
        // c was drained into rumqttc's pending list at the drop; d was handed over after it.
        let back: Vec<String> = t
            .disconnected(1, "connection lost")
            .into_iter()
            .map(|r| match r {
                Report::Returned { key, .. } => key,
                Report::Delivered(k) => panic!("{k} delivered by a disconnect"),
            })
            .collect();
        assert_eq!(back, vec!["a", "b", "c"]);
        assert_eq!(t.len(), 1);
        // The next connection reuses packet id 1: its ack delivers d, never a.
        assert_eq!(feed(&mut t, &[publish(1), puback(1, PubAckReason::Success)]), vec![delivered("d")]);
    }

    #[test]
    fn a_collided_publish_takes_its_packet_id_when_the_earlier_one_is_acknowledged() {
        let mut t = Tracker::default();
        for k in ["a", "b"] {
            t.handed(k.into());
        }
        let out = feed(
            &mut t,
            &[publish(1), Event::Outgoing(Outgoing::AwaitAck(1)), puback(1, PubAckReason::Success), publish(1)],
        );
        assert_eq!(out, vec![delivered("a")]);
        assert_eq!(feed(&mut t, &[puback(1, PubAckReason::Success)]), vec![delivered("b")]);
        assert!(t.is_empty());
    }
}
