//! firegrid ingest: the wire contract (topics, payloads, validation), the domain model of
//! readings, the device/station registry, line-protocol encoding, and at the edges the MQTT
//! consumer and the time-series writers. Pure modules do no I/O and are tested with plain values.

pub mod ack;
pub mod batch;
pub mod config;
pub mod consumer;
pub mod deadletter;
pub mod embedded_store;
pub mod enrich;
pub mod json;
pub mod line_parse;
pub mod line_protocol;
pub mod metrics;
pub mod payload;
pub mod pipeline;
pub mod reading;
pub mod registry;
pub mod spool;
pub mod store;
pub mod topic;
pub mod writer;
pub mod writer_task;

/// Wall-clock time, epoch milliseconds UTC.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
