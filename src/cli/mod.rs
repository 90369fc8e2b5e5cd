//! What the `firegrid` command does around its subcommands: the exit status it ends with and how
//! it sets up its logs. Kept in the library so that both are unit-tested with plain values.
//!
//! Layout:
//! - `exit` — leaf: the exit codes (0 ok, 1 runtime failure, 2 bad configuration or usage) and
//!   which failures are the operator's to fix before a restart can help;
//! - `logging` — leaf: the tracing subscriber, colours only on a terminal and never with `NO_COLOR`.

pub mod exit;
pub mod logging;
