//! The time-series writer (DESIGN §4, §8): takes batches from the pipeline, writes them to the
//! store, spools them to disk while the store is unavailable, and acknowledges their MQTT
//! messages only once the store (or the spool) has them.
//!
//! - [`task`]: the writer task (live batches, the spool, replay);
//! - `attempt`: one batch against the store, split and bisected; retry in place;
//! - [`health`]: the store's health for `/readyz`;
//! - [`sink`]: what the writer hands on (acks, refused lines).

pub(crate) mod attempt;
pub mod health;
pub mod sink;
pub mod task;
