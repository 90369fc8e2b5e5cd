//! One consumer over two protocols (`mqtt.protocol`, DESIGN §8): rumqttc's MQTT 5 client
//! (`rumqttc::v5`) and its MQTT 3.1.1 client (the crate root) have the same shape but their own
//! packet, event and error types. This adapter gives the event loop, the outbound task and the
//! acker one [`Client`] and one [`Connection`], so the persistent session, the ack sequencer, the
//! stale-ack guard and the queueing are one code path whatever the protocol.
//!
//! What 3.1.1 cannot express is handled here: it has no retain handling, so a retained message
//! delivered because of a subscription (3.1.1 §3.3.1.3 sets its RETAIN flag, and only for those)
//! is acknowledged and dropped ([`Arrival::retained`]), the same promise the MQTT 5 path gets
//! from retain handling 2.

use bytes::Bytes;
use rumqttc::v5;
use rumqttc::Outgoing;

/// The client's request queue is closed or full (the event loop has ended, or is not polled):
/// rumqttc's reason, without the request it hands back (which nobody here resends).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be queued.
    #[error("the MQTT client did not take the request: {0}")]
    NotQueued(String),
}

impl From<v5::ClientError> for ClientError {
    fn from(e: v5::ClientError) -> Self {
        ClientError::NotQueued(e.to_string())
    }
}

impl From<rumqttc::ClientError> for ClientError {
    fn from(e: rumqttc::ClientError) -> Self {
        ClientError::NotQueued(e.to_string())
    }
}

/// The connection failed (the event loop reconnects on the next poll).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// MQTT 5.
    #[error(transparent)]
    V5(#[from] v5::ConnectionError),
    /// MQTT 3.1.1.
    #[error(transparent)]
    V4(#[from] rumqttc::ConnectionError),
}

/// The consumer's client handle (cheap to clone), in the configured protocol.
#[derive(Debug, Clone)]
pub enum Client {
    /// MQTT 5.
    V5(v5::AsyncClient),
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
}

/// The consumer's event loop, in the configured protocol (boxed: the two differ in size, and
/// there is one per process).
pub enum Connection {
    /// MQTT 5.
    V5(Box<v5::EventLoop>),
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connection::V5(_) => "Connection::V5",
            Connection::V4(_) => "Connection::V4",
        })
    }
}

/// A PUBLISH from the broker, whatever the protocol.
#[derive(Debug)]
pub struct Arrival {
    /// Topic bytes.
    pub topic: Bytes,
    /// Payload bytes.
    pub payload: Bytes,
    /// Packet id (0 for QoS 0).
    pub pkid: u16,
    /// QoS 0: nothing to acknowledge.
    pub qos0: bool,
    /// Delivered because it is retained (the RETAIN flag, which brokers set only on messages a
    /// subscription replays; MQTT 5 with retain handling 2 never gets one).
    pub retained: bool,
}

/// What the event loop reacts to; everything else is [`Event::Other`].
#[derive(Debug)]
pub enum Event {
    /// A CONNACK: a new connection (and ack generation).
    ConnAck {
        /// The broker kept the session.
        session_present: bool,
    },
    /// A message.
    Publish(Arrival),
    /// firegrid's own DISCONNECT went out.
    Disconnected,
    /// The broker sent a DISCONNECT (MQTT 5 only), with its reason.
    ServerDisconnect(String),
    /// A keep-alive PINGREQ went out.
    PingSent,
    /// Any other packet from the broker (PINGRESP, acks of firegrid's publishes, SUBACK).
    Incoming,
    /// Anything else firegrid sent (acks, publishes, subscriptions).
    Other,
}

impl Connection {
    /// The next event; an error means the connection is down (the next poll reconnects).
    pub async fn poll(&mut self) -> Result<Event, PollError> {
        match self {
            Connection::V5(el) => Ok(from_v5(el.poll().await?)),
            Connection::V4(el) => Ok(from_v4(el.poll().await?)),
        }
    }

    /// The next event rumqttc has already read and handled but not yet handed out (its public
    /// `MqttState::events`, which `poll` pops first, before touching the network): one poll
    /// reads a burst of up to ten packets and hands them out one per call, so taking the rest
    /// from here spares a new poll future per packet (a few hundred bytes built and moved each
    /// time: the event loop's largest memcpy in issue 14's CPU profile). `None` when the next
    /// event needs a poll.
    pub fn buffered(&mut self) -> Option<Event> {
        match self {
            Connection::V5(el) => el.state.events.pop_front().map(from_v5),
            Connection::V4(el) => el.state.events.pop_front().map(from_v4),
        }
    }

    /// Marks the last PINGREQ as answered (rumqttc's public `MqttState::await_pingresp`), so the
    /// next keep-alive sends a new one instead of failing the connection; true when one was
    /// outstanding. Only for a ping whose answer is queued behind messages already arriving
    /// ([`super::keepalive`]).
    pub fn forgive_late_pingresp(&mut self) -> bool {
        let awaiting = match self {
            Connection::V5(el) => &mut el.state.await_pingresp,
            Connection::V4(el) => &mut el.state.await_pingresp,
        };
        std::mem::replace(awaiting, false)
    }
}

fn from_v5(event: v5::Event) -> Event {
    use v5::mqttbytes::v5::Packet;
    match event {
        v5::Event::Incoming(Packet::ConnAck(ack)) => Event::ConnAck { session_present: ack.session_present },
        v5::Event::Incoming(Packet::Publish(p)) => Event::Publish(Arrival {
            topic: p.topic,
            payload: p.payload,
            pkid: p.pkid,
            qos0: p.qos == v5::mqttbytes::QoS::AtMostOnce,
            retained: p.retain,
        }),
        v5::Event::Incoming(Packet::Disconnect(d)) => Event::ServerDisconnect(format!("{:?}", d.reason_code)),
        v5::Event::Incoming(_) => Event::Incoming,
        v5::Event::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
        v5::Event::Outgoing(Outgoing::PingReq) => Event::PingSent,
        v5::Event::Outgoing(_) => Event::Other,
    }
}

fn from_v4(event: rumqttc::Event) -> Event {
    use rumqttc::Packet;
    match event {
        rumqttc::Event::Incoming(Packet::ConnAck(ack)) => Event::ConnAck { session_present: ack.session_present },
        rumqttc::Event::Incoming(Packet::Publish(p)) => Event::Publish(Arrival {
            topic: Bytes::from(p.topic),
            payload: p.payload,
            pkid: p.pkid,
            qos0: p.qos == rumqttc::QoS::AtMostOnce,
            retained: p.retain,
        }),
        rumqttc::Event::Incoming(_) => Event::Incoming,
        rumqttc::Event::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
        rumqttc::Event::Outgoing(Outgoing::PingReq) => Event::PingSent,
        rumqttc::Event::Outgoing(_) => Event::Other,
    }
}

/// MQTT 5 subscriptions at QoS 1 with retain handling 2.
fn v5_filters(filters: &[String]) -> Vec<v5::mqttbytes::v5::Filter> {
    use v5::mqttbytes::v5::{Filter, RetainForwardRule};
    let filter = |f: &String| {
        let mut filter = Filter::new(f.clone(), v5::mqttbytes::QoS::AtLeastOnce);
        filter.retain_forward_rule = RetainForwardRule::Never;
        filter
    };
    filters.iter().map(filter).collect()
}

/// MQTT 3.1.1 subscriptions at QoS 1.
fn v4_filters(filters: &[String]) -> Vec<rumqttc::SubscribeFilter> {
    filters.iter().map(|f| rumqttc::SubscribeFilter::new(f.clone(), rumqttc::QoS::AtLeastOnce)).collect()
}

impl Client {
    /// Subscribes to every filter at QoS 1 without waiting. MQTT 5 asks for retain handling 2
    /// (retained messages never replayed); 3.1.1 cannot, and [`Arrival::retained`] covers it.
    pub fn try_subscribe_many(&self, filters: &[String]) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => Ok(c.try_subscribe_many(v5_filters(filters))?),
            Client::V4(c) => Ok(c.try_subscribe_many(v4_filters(filters))?),
        }
    }

    /// [`try_subscribe_many`](Self::try_subscribe_many), waiting for room in the request queue
    /// (never from the task that polls the event loop: only polling makes room).
    pub async fn subscribe_many(&self, filters: &[String]) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => Ok(c.subscribe_many(v5_filters(filters)).await?),
            Client::V4(c) => Ok(c.subscribe_many(v4_filters(filters)).await?),
        }
    }

    /// Queues the PUBACK of packet `pkid`.
    pub async fn ack(&self, pkid: u16) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => {
                let mut p = v5::mqttbytes::v5::Publish::new("", v5::mqttbytes::QoS::AtLeastOnce, Bytes::new(), None);
                p.pkid = pkid;
                Ok(c.ack(&p).await?)
            }
            Client::V4(c) => {
                let mut p = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::new());
                p.pkid = pkid;
                Ok(c.ack(&p).await?)
            }
        }
    }

    /// Queues a QoS 1, non-retained publish.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => Ok(c.publish(topic, v5::mqttbytes::QoS::AtLeastOnce, false, payload).await?),
            Client::V4(c) => Ok(c.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload).await?),
        }
    }

    /// Queues the DISCONNECT.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => Ok(c.disconnect().await?),
            Client::V4(c) => Ok(c.disconnect().await?),
        }
    }
}
