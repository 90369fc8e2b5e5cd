//! `[ingest]`: payload limits and batching.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{err, ConfigError};
use crate::wire::payload::Limits;

/// `[ingest]`: payload limits and batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest payload accepted; larger ones are dead-lettered as `too_large`.
    pub max_payload_bytes: usize,
    /// How far in the future a reading's `ts` may lie.
    #[serde(deserialize_with = "crate::config::duration::seconds")]
    pub max_future_seconds: u64,
    /// How far in the past a reading's `ts` may lie.
    #[serde(deserialize_with = "crate::config::duration::seconds")]
    pub max_past_seconds: u64,
    /// A batch is written when it holds this many lines… Every batch buffer the pool keeps
    /// (`pending_batches` + 2) is sized for this many: 2,500 (~0.9 MB each with its acks) took
    /// 4 MiB off a drain's peak against 5,000 at the same rate (issue 14).
    pub batch_max_lines: usize,
    /// …or when its oldest line is this old…
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub batch_max_age_ms: u64,
    /// …or when its unacknowledged messages reach this share (percent) of the broker's window…
    pub batch_window_percent: u8,
    /// …or when no message has come for this long: a broker whose real window is smaller than
    /// `receive_maximum` (rumqttd's is 100) pauses until acks come, and this keeps it fed.
    #[serde(deserialize_with = "crate::config::duration::millis")]
    pub batch_idle_ms: u64,
    /// Batches queued for the writer; when full, intake waits (backpressure, nothing dropped).
    /// Two keep the writer busy (one is taken the moment a write ends, the next is filled
    /// meanwhile); each more held ~1.5 MB in a drain (then 5,000 lines) and changed no rate.
    pub pending_batches: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_payload_bytes: 4096,
            max_future_seconds: 300,
            max_past_seconds: 7 * 24 * 3600,
            batch_max_lines: 2500,
            batch_max_age_ms: 1000,
            batch_window_percent: 50,
            batch_idle_ms: 10,
            pending_batches: 2,
        }
    }
}

/// Validated `[ingest]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    /// Decoder limits.
    pub limits: Limits,
    /// Lines per batch.
    pub batch_max_lines: NonZeroUsize,
    /// Age of a batch.
    pub batch_max_age: Duration,
    /// Share of the receive window at which a batch is flushed.
    pub batch_window_percent: u8,
    /// Idle time after which a batch with unacknowledged messages is flushed.
    pub batch_idle: Duration,
    /// Writer queue length.
    pub pending_batches: NonZeroUsize,
}

impl IngestConfig {
    /// Validates into settings.
    pub fn validate(&self) -> Result<IngestSettings, ConfigError> {
        let nz = |v: usize, key: &str| NonZeroUsize::new(v).ok_or_else(|| err(key, "must be at least 1"));
        if self.max_payload_bytes < 64 {
            return Err(err("ingest.max_payload_bytes", "must be at least 64"));
        }
        if !(1..=100).contains(&self.batch_window_percent) {
            return Err(err("ingest.batch_window_percent", "must be 1-100"));
        }
        Ok(IngestSettings {
            limits: Limits {
                max_payload_bytes: self.max_payload_bytes,
                max_future: Duration::from_secs(self.max_future_seconds),
                max_past: Duration::from_secs(self.max_past_seconds),
            },
            batch_max_lines: nz(self.batch_max_lines, "ingest.batch_max_lines")?,
            batch_max_age: Duration::from_millis(self.batch_max_age_ms.max(1)),
            batch_window_percent: self.batch_window_percent,
            batch_idle: Duration::from_millis(self.batch_idle_ms.max(1)),
            pending_batches: nz(self.pending_batches, "ingest.pending_batches")?,
        })
    }
}
