//! MQTT delivery: `{prefix}/dispatch/{station_id}` and, for grid managers,
//! `{prefix}/dispatch/grid/{grid_id}`, QoS 1. Dispatches go out on their own connection
//! ([`MqttPublisher`], client id `{client_id}-dispatch`, same broker, credentials and TLS as the
//! consumer, clean start: it subscribes to nothing), so a fire's notification never queues behind
//! the consumer's stream of acknowledgements under load.
//!
//! A row counts as delivered only on the broker's PUBACK for its publish, on the connection that
//! carried it ([`super::puback`]): the one task that owns the connection's event loop
//! ([`MqttPublisher::connect`]) maps packet ids to outbox keys and reports each row delivered or
//! returned on a channel to the delivery loop. Until then the row stays pending in the outbox; a
//! row in flight when the connection drops is returned (rumqttc's own resend list is cleared)
//! and sent again from the outbox after the reconnect, and after a restart every pending row is
//! sent again — a duplicate at worst, which receivers drop by `idempotency_key`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use firegrid_ingest::backoff::Backoff;
use firegrid_ingest::config::MqttSettings;
use firegrid_ingest::mqtt::options::{client_options, OptionsError};
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, Request};
use rumqttc::Outgoing;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::puback::{Report, Tracker};
use crate::incident::Recipient;

/// Publishes queued in the dispatch client before `publish` refuses (the row is then retried).
const QUEUE: usize = 4096;
/// At shutdown, time for queued publishes, their PUBACKs and the DISCONNECT.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// The dispatch stage's own MQTT connection: hands rows to the client (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct MqttPublisher {
    client: AsyncClient,
    tracker: Arc<Mutex<Tracker>>,
}

impl MqttPublisher {
    /// A client for the consumer's broker under `{client_id}-dispatch`, the channel of its
    /// [`Report`]s, and its connection task (reconnects with the consumer's backoff until `stop`).
    pub(crate) fn connect(
        settings: &MqttSettings,
        stop: CancellationToken,
    ) -> Result<
        (MqttPublisher, mpsc::UnboundedReceiver<Report>, impl std::future::Future<Output = ()> + Send),
        OptionsError,
    > {
        let mut s = settings.clone();
        s.client_id = format!("{}-dispatch", settings.client_id);
        let mut options = client_options(&s)?;
        options.set_clean_start(true).set_session_expiry_interval(None);
        let (client, eventloop) = AsyncClient::new(options, QUEUE);
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let (reports, rx) = mpsc::unbounded_channel();
        let link = Link { tracker: tracker.clone(), reports, min: s.reconnect_min, max: s.reconnect_max };
        let task = link.drive(eventloop, client.clone(), stop);
        Ok((MqttPublisher { client, tracker }, rx, task))
    }

    /// Hands one row's message to the client (QoS 1, in order); its [`Report`] follows on the
    /// channel. An error means it was not taken (queue full, connection task gone).
    pub(crate) fn publish(&self, key: &str, topic: String, payload: Vec<u8>) -> Result<(), String> {
        // One lock around the request and its place in the order: the connection task matches
        // packet ids to keys in exactly this order.
        let mut t = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        self.client.try_publish(topic, QoS::AtLeastOnce, false, payload).map_err(|e| e.to_string())?;
        t.handed(key.to_owned());
        Ok(())
    }
}

/// The connection task's state besides the event loop.
struct Link {
    tracker: Arc<Mutex<Tracker>>,
    reports: mpsc::UnboundedSender<Report>,
    min: Duration,
    max: Duration,
}

impl Link {
    async fn drive(self, mut el: EventLoop, client: AsyncClient, stop: CancellationToken) {
        let mut backoff = Backoff::new(self.min, self.max);
        loop {
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(ev) => {
                        if matches!(ev, Event::Incoming(Packet::ConnAck(_))) {
                            backoff.reset();
                            tracing::info!(event = "dispatch_mqtt_connected", "dispatch connection up");
                        }
                        self.follow(&ev);
                    }
                    Err(e) => {
                        let returned = self.dropped(&mut el, &e.to_string());
                        let delay = backoff.next_delay();
                        tracing::warn!(event = "dispatch_mqtt_error", error = %e, returned,
                            retry_in_ms = delay.as_millis() as u64, "dispatch connection lost; reconnecting");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = stop.cancelled() => return,
                        }
                    }
                },
                () = stop.cancelled() => return self.close(&mut el, &client).await,
            }
        }
    }

    /// One event: PUBACKs settle rows.
    fn follow(&self, ev: &Event) {
        if let Event::Incoming(Packet::PubAck(ack)) = ev {
            if ack.reason == PubAckReason::NoMatchingSubscribers {
                tracing::info!(
                    event = "dispatch_mqtt_no_subscriber",
                    pkid = ack.pkid,
                    "the broker took a dispatch nobody is subscribed to"
                );
            }
        }
        let mut out = Vec::new();
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner).on_event(ev, &mut out);
        self.send(out);
    }

    /// The connection dropped (rumqttc has moved what it held to `el.pending`): settle the
    /// events it buffered, clear its resend list and return the rest to the outbox. Returns how
    /// many rows went back.
    fn dropped(&self, el: &mut EventLoop, error: &str) -> usize {
        let mut out = Vec::new();
        let mut t = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        // Events of the old connection not yet yielded (PUBACKs read in the same batch count).
        for ev in el.state.events.drain(..) {
            t.on_event(&ev, &mut out);
        }
        let drained = el.pending.iter().filter(|r| matches!(r, Request::Publish(p) if p.pkid == 0)).count();
        el.pending.clear();
        el.state.collision = None;
        out.extend(t.disconnected(drained, &format!("connection lost before the broker's PUBACK: {error}")));
        drop(t);
        let returned = out.iter().filter(|r| matches!(r, Report::Returned { .. })).count();
        self.send(out);
        returned
    }

    /// Shutdown: let queued publishes, their PUBACKs and the DISCONNECT go out, briefly; rows
    /// still unacknowledged stay pending in the outbox for the next start.
    async fn close(&self, el: &mut EventLoop, client: &AsyncClient) {
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Ok(ev) = el.poll().await {
                self.follow(&ev);
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }

    fn send(&self, out: Vec<Report>) {
        for r in out {
            // The delivery loop has stopped at shutdown: the row stays pending, sent at the next start.
            let _ = self.reports.send(r);
        }
    }
}

/// The dispatch topic of a recipient.
pub(crate) fn dispatch_topic(prefix: &str, recipient: &Recipient) -> String {
    match recipient {
        Recipient::Grid(grid) => format!("{prefix}/dispatch/grid/{grid}"),
        Recipient::Station(station) => format!("{prefix}/dispatch/{station}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stations_and_grids_have_their_own_dispatch_topics() {
        assert_eq!(dispatch_topic("firegrid/v1", &Recipient::Station("ms-1".into())), "firegrid/v1/dispatch/ms-1");
        assert_eq!(dispatch_topic("firegrid/v1", &Recipient::Grid("g-1".into())), "firegrid/v1/dispatch/grid/g-1");
    }
}
