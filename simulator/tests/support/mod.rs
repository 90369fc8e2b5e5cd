//! The simulator's tests run against the same real mosquitto as the workspace's end-to-end tests:
//! this module takes the root harness's files (`tests/support/`) by path — the broker, the
//! QoS 1 publisher and the subscriber that syncs by marker — so there is one copy of each helper.

// Each test file uses part of the harness.
#![allow(dead_code, unused_imports)]

#[path = "../../../tests/support/base.rs"]
pub mod base;
#[path = "../../../tests/support/mosquitto.rs"]
pub mod mosquitto;
#[path = "../../../tests/support/publish.rs"]
pub mod publish;
#[path = "../../../tests/support/server.rs"]
mod server;
#[path = "../../../tests/support/watch.rs"]
pub mod watch;

pub use base::*;
pub use mosquitto::{Mosquitto, MosquittoOptions};
