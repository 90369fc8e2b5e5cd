//! The delivery channels of DESIGN §6: MQTT QoS 1 ([`mqtt`], delivered on the broker's PUBACK,
//! tracked by [`puback`]), signed HTTP webhooks ([`webhook`]) and the console's server-sent
//! events ([`sse`]; within a partition shared with every instance through PostgreSQL by
//! `sse_shared`). Each takes a stored outbox payload as is; the delivery loop
//! ([`super::deliver`]) decides when to try and what to record.

pub(crate) mod mqtt;
pub(crate) mod puback;
pub(crate) mod sse;
mod sse_shared;
pub(crate) mod webhook;
