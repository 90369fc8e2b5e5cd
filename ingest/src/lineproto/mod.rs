//! InfluxDB line protocol (DESIGN §4), the format of every batch firegrid writes. Pure.
//!
//! - [`escape`]: the tokens (escaped names and tags, quoted strings, numbers);
//! - [`series`]: a reading's measurement and tags, pre-encoded once per registered device;
//! - [`encode`]: the whole line of a reading;
//! - `parse`: the parser the embedded store reads batches with.

pub mod encode;
pub mod escape;
pub(crate) mod parse;
pub mod series;
