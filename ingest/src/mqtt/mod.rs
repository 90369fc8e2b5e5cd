//! The MQTT edge (DESIGN §8): one task owns the rumqttc `EventLoop` (MQTT 5, or 3.1.1 with
//! `mqtt.protocol = "3.1.1"`, through one [`client`] adapter), reconnects with capped backoff
//! forever, resubscribes on every connection, and forwards QoS 1 messages into a bounded queue.
//! MQTT 5 with a persistent session (fixed client id, clean start off, session expiry) and a
//! large Receive Maximum lets acknowledgements follow the store's writes without capping
//! throughput at the broker's in-flight window; 3.1.1 keeps the persistent session and the
//! ordered acks, and leaves the window to the broker's setting.
//!
//! The queue holds at most the broker's window (Receive Maximum) of unacknowledged messages,
//! so in normal operation it never fills; if a broker ignores the window, the loop waits for
//! room (counted in `firegrid_ingest_queue_full_total`) rather than drop a message.
//!
//! - [`client`]: one client and event loop over MQTT 5 and 3.1.1 (`mqtt.protocol`);
//! - [`options`]: the client options and connection, with [`tls`] for `mqtts://`;
//! - [`event_loop`]: the task that owns the event loop, with [`message`] and [`connection`];
//! - [`route`]: control topics to their own queue;
//! - [`sequencer`]: the in-order ack sequencer every QoS 1 message joins on arrival;
//! - [`acker`]: the handle for acks, dead letters and publishes, drained by `outbound`.

pub mod acker;
pub mod client;
pub mod connection;
pub mod event_loop;
pub mod message;
pub mod options;
pub(crate) mod outbound;
pub(crate) mod overflow;
pub mod route;
pub mod sequencer;
pub mod tls;
