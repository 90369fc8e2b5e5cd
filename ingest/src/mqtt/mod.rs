//! The MQTT edge (DESIGN §8): one task owns the rumqttc `EventLoop` (MQTT 5, or 3.1.1 with
//! `mqtt.protocol = "3.1.1"`, through one [`client`] adapter), reconnects with capped backoff
//! forever, resubscribes on every connection, and forwards QoS 1 messages into a bounded queue.
//! MQTT 5 with a persistent session (fixed client id, clean start off, session expiry) and a
//! large Receive Maximum lets acknowledgements follow the store's writes without capping
//! throughput at the broker's in-flight window; 3.1.1 keeps the persistent session and the
//! ordered acks, and leaves the window to the broker's setting.
//!
//! The queue holds the broker's window (Receive Maximum) of unacknowledged messages, so with a
//! broker that honours it the queue never fills. One that sends past it (mosquitto 2.0.11 does,
//! docs/guarantees.md "Memory") finds the queue full: the event loop then holds what comes, in
//! order, in a bounded [`overflow`] and keeps polling the connection — acks and keep-alive pings
//! go on — and stops reading only when the overflow holds `mqtt.overflow_max_messages`
//! (`firegrid_ingest_queue_full_total`, `firegrid_mqtt_overflow_*`). No QoS 1 message is dropped.
//!
//! - [`client`]: one client and event loop over MQTT 5 and 3.1.1 (`mqtt.protocol`);
//! - [`options`]: the client options and connection, with [`tls`] for `mqtts://`;
//! - [`event_loop`]: the task that owns the event loop, with [`message`], [`connection`], the
//!   ordered [`overflow`] of a full queue and [`keepalive`] (a ping answered late behind a
//!   backlog is not a dead connection);
//! - [`route`]: control topics to their own queue;
//! - [`sequencer`]: the in-order ack sequencer every QoS 1 message joins on arrival, releasing
//!   acks as runs of consecutive packet ids ([`ack_run`]);
//! - [`acker`]: the handle for acks, dead letters and publishes, drained by `outbound`.

pub(crate) mod ack_run;
pub mod acker;
pub mod client;
pub mod connection;
pub mod event_loop;
pub(crate) mod keepalive;
pub mod message;
pub mod options;
pub(crate) mod outbound;
pub(crate) mod overflow;
pub mod route;
pub mod sequencer;
pub mod tls;
