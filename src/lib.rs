//! firegrid: the fire-sensor ingestion and dispatch pipeline for grassroots fire control in
//! Chongqing. This crate wires the parts (`firegrid-ingest`, and the alerting and simulator
//! crates) into one service; the `firegrid` binary only parses the command line, loads the
//! configuration, sets up logging and calls [`run`].
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`config`] | `firegrid.toml` and `FIREGRID_*` overrides, validated into [`Settings`] |
//! | [`role`] | `[node] role` / `--role`: which parts a process starts (`all`, `ingest`, `alert`) |
//! | [`mod@run`] | wiring every part, and shutdown as one token tree walked in order |
//! | `http` | `/metrics`, `/healthz`, `/readyz`; the component routers are merged in by `run` |
//! | [`registry_files`] | which registry `run` loads: the configured files, or empty when none is configured and the defaults are absent |
//! | `http_layers` | gzip (not SSE), the response deadline, `http_request` logs and `firegrid_http_requests_total` |
//! | `http_serve` | `axum::serve` behind a listener that caps the connections served at once |
//! | `metrics` | `process_*`, `firegrid_build_info`, `firegrid_store_up`, the `_duration_seconds` renames |
//! | [`probe`] | `check-config --probe`: the broker login, the store's bucket or database, the data directory |
//! | [`broker`] | the embedded MQTT broker and its users file |
//! | [`cli`] | the command's exit codes (0 ok, 1 runtime, 2 bad config or usage) and its logs (`NO_COLOR`) |
//! | [`demo`] | `firegrid demo`: everything on one machine with the simulator |
//! | [`export`] | `firegrid export`: the embedded store's readings as line protocol, to stdout or a server |
//! | [`eval`] | `firegrid eval`: collecting a run and scoring it with alerting's routing policy |

#![warn(unreachable_pub)]

pub mod broker;
pub mod cli;
pub mod config;
pub mod demo;
pub mod eval;
pub mod export;
pub(crate) mod http;
pub(crate) mod http_layers;
pub(crate) mod http_serve;
pub(crate) mod metrics;
pub mod probe;
pub mod registry_files;
pub mod role;
pub mod run;

pub use config::{Config, Settings};
pub use role::Role;
pub use run::{run, start, RunError, Running};
