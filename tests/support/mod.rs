//! End-to-end test support, the one place every test binary in `tests/` takes its helpers from: real servers
//! (mosquitto, VictoriaMetrics) each on a free loopback port in a private temporary directory, owned by the test that
//! started it; the real `firegrid` binary as a child process; test traffic; watchers of what firegrid publishes; the
//! dispatch fixtures. Nothing here sleeps to synchronise: waits are on conditions, each with a deadline.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`base`] | [`free_port`], [`eventually`] (a condition polled until a deadline), the bounds |
//! | `server` | a server process: log file, SIGTERM within a bound, killed by PID on drop |
//! | [`mosquitto`], [`victoria`] | the two servers every end-to-end test needs |
//! | [`influxdb`] | InfluxDB 1.x, for the store answers VictoriaMetrics never gives (400 on a bad line, 401) |
//! | [`process`] | the real `firegrid` binary as a child process, its memory, a run to its exit |
//! | [`registry`] | registry files from typed rows, through ingest's one registry writer |
//! | [`fleet`] | a test fleet: registry, readings, malformed messages, what the store holds, a config |
//! | [`embedded`] | what the embedded store's SQLite file holds of a test fleet, read beside the running process |
//! | [`publish`] | QoS 1 publishing that returns once the broker acknowledged everything |
//! | [`watch`] | subscribers that collect firegrid's dispatch messages and dead letters, and sync by marker |
//! | [`login`] | MQTT 3.1.1 sessions that log in (or are refused) |
//! | [`dispatch`] | the dispatch tests' registry, tokens, config and incident API calls |
//! | [`hooks`] | a webhook receiver and the receiver's signature check |
//! | [`proxy`] | a TCP fault injector between firegrid and the broker |
//! | [`bare`] | the binary run as a newcomer runs it: in a chosen working directory, with no configuration |
//! | [`api`] | reading `/metrics` |
//! | [`scale`] | scale-out: instances in a role (`ingest` on a shared group, `alert`), a fleet's backlog, readings counted in the store |
//! | [`postgres`] | a private PostgreSQL cluster (the shared incident store's tests); also used by `alerting/tests` |
//! | [`pg_proxy`] | a TCP fault injector in front of PostgreSQL that loses a commit's answer; also used by `alerting/tests` |
//! | [`passwords`] | mosquitto password files made by `mosquitto_passwd` |
//! | [`tls`] | certificates a test makes (rcgen) and mosquitto's mutual-TLS listener |
//!
//! Include it from a test file in `tests/` with `mod support;`. Everything here is async where it waits, so it is
//! used straight from `#[tokio::test]` functions:
//!
//! ```ignore
//! let broker = support::Mosquitto::start().await?;          // mqtt://127.0.0.1:<port>
//! let store = support::VictoriaMetrics::start().await?;     // http://127.0.0.1:<port>
//! store.write_lines("smoke,device_id=SM-1 obscuration_db_m=0.12 1700000000000").await?;
//! let series = store.export("{__name__=~\"smoke_.*\"}").await?;
//! broker.restart().await?;                                  // same port, same persistence directory
//! store.stop().await?;                                      // SIGTERM; data directory kept
//! store.start_again().await?;                               // same port, same data directory
//! ```
//!
//! # Processes
//!
//! The binaries are `/usr/sbin/mosquitto` and `/usr/bin/victoria-metrics` (Debian packages `mosquitto` and
//! `victoria-metrics`; `./scripts/test.sh` installs them when missing). The environment variables
//! `FIREGRID_TEST_MOSQUITTO` and `FIREGRID_TEST_VICTORIA_METRICS` override the paths. A missing binary is an error,
//! never a skipped test.
//!
//! Every wait is bounded: start waits at most [`START_TIMEOUT`] for the port (mosquitto) or `/health` (VictoriaMetrics),
//! stop waits at most [`STOP_TIMEOUT`] after SIGTERM and then kills. Dropping a handle — also while unwinding from a
//! panic — kills the process by its PID (SIGKILL), reaps it, and then removes the temporary directory. The servers'
//! stdout and stderr go to `server.log` in that directory; [`Mosquitto::logs`] and [`VictoriaMetrics::logs`] read it,
//! and a handle dropped during a panic prints the last lines of its log to stderr, so a failing test shows them. A
//! test that fails by returning `Err` does not panic: run it with `FIREGRID_TEST_KEEP_DIRS=1` to print every log tail
//! and keep the directories (their paths are printed).
//!
//! # mosquitto configuration (mosquitto 2.0.11)
//!
//! ```text
//! listener <port> 127.0.0.1
//! allow_anonymous true
//! persistence true
//! persistence_location <tempdir>/        # trailing slash: mosquitto appends "mosquitto.db" to it
//! autosave_interval 1                    # seconds; the in-memory database is saved every second, so even a
//! autosave_on_changes false              #   SIGKILL loses at most ~1 s; SIGTERM always saves on exit
//! max_queued_messages 1000000            # per client, above the in-flight ones (default 1000, then silent drops)
//! max_queued_bytes 0                     # no byte limit
//! max_inflight_messages 1000             # broker -> MQTT 3.1.1 client window (default 20); MQTT 5 clients set
//!                                        #   their own with Receive Maximum
//! set_tcp_nodelay true
//! log_dest stderr                        # unbuffered, captured in server.log
//! log_type error / warning / notice / information
//! user root                              # only when the tests run as root: otherwise mosquitto 2.0 switches to
//!                                        #   the `mosquitto` user, which cannot write the persistence directory
//! ```
//!
//! [`MosquittoOptions`] changes the window, the queue limit and the autosave interval. mosquitto also announces
//! `max_inflight_messages` to MQTT 5 clients as the CONNACK's Receive Maximum (1000 here), which caps how many QoS 1
//! publishes a *publisher* may have unacknowledged. Verified by `tests/harness.rs`: a 3.1.1 consumer that holds its
//! acks receives exactly 1000 messages of a 1500 backlog; a persistent session's queue survives a SIGTERM restart
//! and, after an autosave, a SIGKILL.
//!
//! # VictoriaMetrics (1.79) and InfluxDB line protocol — verified against the Debian build, 1.79.5
//!
//! Started as `victoria-metrics -storageDataPath=<tempdir>/data -httpListenAddr=127.0.0.1:<port>
//! -retentionPeriod=100y -dedup.minScrapeInterval=1ms` (see [`VmOptions`]).
//!
//! * `POST /api/v2/write?org=..&bucket=..&precision=ms` answers **204 No Content** (header `X-Influxdb-Version:
//!   1.8.0`). `org` and `bucket` are ignored: they add no label. (`?db=NAME`, on `/write` or `/api/v2/write`, adds
//!   the label `db="NAME"`.) `precision` accepts `ns` (the default), `us`, `ms`, `s`.
//! * Each field becomes its own series named `{measurement}_{field}`: measurement `smoke` with field
//!   `obscuration_db_m` is the metric `smoke_obscuration_db_m` — also when the line has a single field. Tags become
//!   labels, with escapes (`\ `, `\,`, `\=`) resolved and UTF-8 (Chinese) kept as is, in label names and values and in
//!   the metric name. Every series of a line carries all of the line's tags.
//! * Field values are all stored as float64: a float is itself; an integer `42i` is 42 (`7u` is 7); a boolean
//!   `true`/`T`/`TRUE` is 1 and `false`/`F` is 0; a string field is parsed as a number if it is one (`"12.5"` is 12.5)
//!   and is **0** otherwise — text such as an incident summary cannot be read back from VictoriaMetrics. `NaN` is
//!   accepted and is not returned by export.
//! * A malformed line is skipped and logged (`cannot unmarshal InfluxDB line ...; skipping it`), the other lines of
//!   the body are stored, and the answer is still **204**. VictoriaMetrics 1.79 answers 400 only for an unreadable
//!   body (e.g. `Content-Encoding: gzip` that is not gzip); it never answers 422, so a writer's 400/422 handling
//!   cannot be exercised against it.
//! * A point more than 2 days in the future is dropped (a warning in the log, still 204). A point older than the
//!   retention is dropped too, hence the 100-year retention (the default is one month).
//! * Data is visible to reads only after an in-memory flush (about a second); `GET /internal/force_flush` forces it,
//!   and [`VictoriaMetrics::export`] calls it first.
//! * `/api/v1/export` streams one JSON object per series and line:
//!   `{"metric":{"__name__":"smoke_alarm","device_id":"SM-1",...},"values":[1],"timestamps":[1700000000000]}`
//!   (timestamps in milliseconds). Without an `end` parameter it stops at *now*; [`VictoriaMetrics::export`] passes an
//!   `end` three days ahead so slightly-future points are included.
//! * Duplicates: without deduplication, the same point written twice is exported twice (and counted twice by
//!   `count_over_time`). With `-dedup.minScrapeInterval=1ms` only one sample per series and millisecond is kept —
//!   export returns it once — which is the idempotency DESIGN §4 promises (InfluxDB overwrites a point with the same
//!   series and timestamp). With two *different* values at the same timestamp one of them survives.
//! * Authentication is off: an `Authorization: Token ...` header is ignored. `GET /ping` answers 204 and `GET /health`
//!   200 `OK`, but the InfluxDB 2 endpoints `/api/v2/health` and `/api/v2/ready` answer **400** (unsupported path), so
//!   a readiness check through them fails against VictoriaMetrics. Even `GET /api/v2/write` answers 204.
//! * A line without a field (`m,tag=v 1700000000000`) is malformed (skipped); a line without a timestamp gets the
//!   time of arrival.
//! * SIGTERM stops it in well under a second, with all accepted data on disk; it restarts in ~0.2 s on the same data
//!   directory.

// Every test file includes this module and uses only part of it.
#![allow(dead_code)]

pub mod api;
pub mod bare;
pub mod base;
pub mod dispatch;
pub mod embedded;
pub mod events;
pub mod fleet;
pub mod hooks;
pub mod influxdb;
pub mod login;
pub mod mosquitto;
pub mod partition;
pub mod passwords;
pub mod pg_proxy;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod publish;
pub mod registry;
pub mod scale;
mod server;
pub mod tls;
pub mod victoria;
pub mod watch;

// Each test file uses part of the harness (as with `dead_code` above).
#[allow(unused_imports)]
pub use mosquitto::{Mosquitto, MosquittoOptions};
#[allow(unused_imports)]
pub use postgres::Postgres;
#[allow(unused_imports)]
pub use victoria::{VictoriaMetrics, VmOptions, VmTls};

pub use base::*;
