//! firegrid: the fire-sensor ingestion and dispatch pipeline for grassroots fire control in
//! Chongqing. This crate wires the parts (`firegrid-ingest`, and the alerting and simulator
//! crates) into one service; the `firegrid` binary only parses the command line, loads the
//! configuration, sets up logging and calls [`run`].

pub mod broker;
pub mod broker_users;
pub mod config;
pub mod demo;
pub mod eval;
pub mod http;
pub mod run;

pub use config::{Config, Settings};
pub use run::{run, start, RunError, Running};
