//! Who may do what (DESIGN §6, §7), for both edges that let people act — the HTTP API and the
//! MQTT acknowledgements:
//!
//! - `tokens`: the API bearer tokens (`[api] tokens_file`), their [`CallerRole`]s, and their reload.
//! - [`permissions`]: the role × action table, one pure function both edges ask.
//! - [`private_file`]: files that hold secrets must be private to their owner.
//! - `constant_time`: comparing secrets without a timing leak ([`ct_eq`]).

mod constant_time;
pub(crate) mod permissions;
pub mod private_file;
mod tokens;

pub use constant_time::ct_eq;
pub(crate) use tokens::Principal;
pub use tokens::{CallerRole, SharedTokens, TokenError, TokenSet};
