//! Incidents (DESIGN §5): what an alarm becomes, how it moves, what it keeps.
//!
//! - `model`: [`Incident`], its [`Class`], [`Severity`], [`Status`], [`IncidentSignal`]s and
//!   [`Verification`] (a leaf: everything else here builds on it).
//! - `lifecycle`: responder [`Action`]s and the transitions they make, the [`Event`] and
//!   [`AuditEntry`] of every transition and the [`TransitionError`] of an illegal one.
//! - `evidence`: the readings that raised or fed an incident ([`Evidence`]).
//! - `notification`: who was told, as what and how ([`Recipient`], [`NotifyRole`], [`Channel`],
//!   the outbox row [`OutboxEntry`]).
//! - `outcome`: everything one step changed, written in one transaction ([`Outcome`]).
//! - `forwarded`: an action another instance forwarded to the owning leader
//!   ([`ForwardedAction`]) and the owner's answer ([`Verdict`]).
//! - `correlate` (the stage: alarms into incidents, [`Correlator`]), `keys` (correlation keys),
//!   `severity` (the severity rules), `id` (incident ids), `summary` (the one-line summary),
//!   `note` (a responder's note).
//!
//! All pure: no I/O, the clock passed in.

mod correlate;
mod evidence;
mod forwarded;
mod id;
mod keys;
mod lifecycle;
mod model;
pub(crate) mod note;
mod notification;
mod outcome;
mod severity;
mod summary;

pub use correlate::{CorrelateError, Correlator};
pub use evidence::{Evidence, EvidenceStatus};
pub use forwarded::{ForwardedAction, Verdict};
pub(crate) use id::local_day;
pub use lifecycle::{Action, AuditEntry, Event, TransitionError};
pub use model::{Class, Incident, IncidentSignal, Severity, Status, Verification};
pub(crate) use notification::idempotency_key;
pub use notification::{Channel, NotifyRole, OutboxEntry, Recipient, RecipientTier};
pub use outcome::Outcome;
