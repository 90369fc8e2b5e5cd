//! firegrid ingest: from an MQTT message to a stored, enriched reading (DESIGN §1, §2, §4, §8).
//!
//! # Layout
//!
//! A message comes in at `mqtt/`, becomes a reading in `pipeline/` (through `wire/` and
//! `model/`), is encoded by `lineproto/`, batched, and written by `writer/` to a `store/`; its
//! ack goes back out through `mqtt/`. The rows below are layers: each imports only rows under it.
//!
//! ```text
//! pipeline/   the ingest task: enrich (topic → payload → registry), batch, hand to the writer and
//!             the alert engine; the writer's results back into MQTT acks and dead letters
//! writer/     the writer task: one attempt (split on 413, bisect on 400), spool fallback, health
//! store/      the LineStore trait; InfluxDB write API, embedded SQLite store, disk spool    (I/O)
//! batch.rs    encoded lines bound for the store, each with its message's ack; batch_pool.rs the
//!             emptied batches the writer hands back for reuse
//! mqtt/       client options, the event loop task, control routes, the in-order ack sequencer,
//!             the acker and its outbound queue                                        (I/O)
//! config/     firegrid.toml's ingest sections, validated into each component's settings
//! metrics.rs  the ingest metrics;  log_limit.rs  one log line per second per event
//! lineproto/  line protocol: tokens, a device's encoded series, a reading's line, the parser
//! wire/       the wire contract: topics, payloads (JSON), dead letters                (pure)
//! model/      kinds, readings and their field names, devices, stations, grids; the registry
//!             and the one writer of its CSV files                                     (pure)
//! ca_file.rs  a private CA for reqwest clients (store, webhooks)                    (I/O leaf)
//! clock.rs  backoff.rs  geo.rs    now_ms, retry backoff with jitter, distance_m — one of each
//!                                 for the whole workspace                           (leaves)
//! ```
//!
//! Pure modules do no I/O and are tested with plain values. The types every other crate uses
//! are re-exported here, so that dependents import `firegrid_ingest::{Kind, Reading, …}`.

#![warn(unreachable_pub)]

pub mod backoff;
pub mod batch;
pub mod batch_pool;
pub mod ca_file;
pub mod clock;
pub mod config;
pub mod geo;
pub mod lineproto;
pub(crate) mod log_limit;
pub mod metrics;
pub mod model;
pub mod mqtt;
pub mod pipeline;
pub mod store;
pub mod wire;
pub mod writer;

pub use clock::now_ms;
pub use model::device::{Device, SiteType};
pub use model::device_id::DeviceId;
pub use model::enriched::EnrichedReading;
pub use model::grid::Grid;
pub use model::kind::Kind;
pub use model::reading::{ElectricalValues, ForestIrValues, Reading, SmokeValues, Status, Values};
pub use model::record::DeviceRecord;
pub use model::registry::{Registry, RegistryError, RegistryPaths, SharedRegistry};
pub use model::station::{Station, Tier};
pub use mqtt::sequencer::{AckSequencer, AckToken};
pub use pipeline::AlertInput;
pub use wire::deadletter::Reason;
