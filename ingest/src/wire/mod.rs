//! The wire contract (DESIGN §2): what publishers send and what firegrid answers. Pure: bytes
//! in, typed values or a [`Rejection`](deadletter::Rejection) out.
//!
//! - [`topic`]: the topic grammar, subscription filters and the topics firegrid publishes;
//! - `json`: a borrowed JSON value that tells a missing field from a wrongly typed one;
//! - [`payload`]: decoding and validating a payload into a [`Reading`](crate::model::reading::Reading);
//! - [`deadletter`]: the fixed set of rejection reasons and the dead-letter document.

pub mod deadletter;
pub(crate) mod json;
pub mod payload;
pub mod topic;
