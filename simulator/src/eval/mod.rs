//! `firegrid eval`'s pure part and its collectors: what firegrid did with a simulated run,
//! scored against the run's ground truth.
//!
//! The routing policy itself is not here (it lives in `firegrid-alerting`, which this crate must
//! not depend on): the caller passes the policy as a function from an incident and a severity to
//! the `(station_id, role)` pairs it notifies — the binary wraps alerting's router.
//!
//! Layout:
//! - `observed` — leaf: the incidents and dispatch messages as read, the policy, the windows;
//! - `score` — matching events to incidents and the figures;
//! - `routing` — checking each incident's notification rounds against the policy;
//! - `report` — the figures as values and as a table;
//! - `html`, `svg` — the figures as a self-contained HTML page with inline SVG charts;
//! - `collect` — the incidents from the HTTP API;
//! - `listen` — the dispatch messages from MQTT.

mod collect;
mod html;
mod listen;
mod observed;
mod report;
mod routing;
mod score;
mod svg;

pub use collect::{fetch_incidents, CollectError};
pub use html::render_html;
pub use listen::{Collected, DispatchListener, ListenError};
pub use observed::{EvalError, EvalSettings, Notified, Observed, ObservedDispatch, ObservedIncident, Policy};
pub use report::{render_table, EvalReport, EventOutcome, Outcome, Percentiles, Ratio, RoutingMismatch, RoutingSource};
pub use score::score;
