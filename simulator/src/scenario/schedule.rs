//! What a run publishes, as plain values shared by the reading generator, the scenarios and the
//! publishers: a [`Message`] ready for the wire, a [`ScheduledReading`] a scenario wants a device
//! to send, a [`Silence`] that holds a device's normal readings back, and the [`Injection`] that
//! carries one scenario's part of a run. A leaf: it depends on nothing else in the crate but the
//! payload and truth values.

use firegrid_ingest::Status;

use crate::readings::payload::WireValues;
use crate::scenario::truth::TruthRecord;

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// When it is due (and, for readings, its `ts`), epoch ms.
    pub at_ms: i64,
    /// MQTT topic.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Index of the device in the fleet, when it is a device's reading.
    pub device: Option<usize>,
}

/// A reading a scenario schedules for a device; the generator adds `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledReading {
    /// Measurement time, epoch ms.
    pub at_ms: i64,
    /// Device index in the fleet.
    pub device: usize,
    /// The device's status.
    pub status: Status,
    /// The values.
    pub values: WireValues,
}

/// A window in which a device sends no normal readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// Device index.
    pub device: usize,
    /// From, epoch ms (inclusive).
    pub from_ms: i64,
    /// Until, epoch ms (exclusive).
    pub until_ms: i64,
}

/// What one scenario adds to a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Injection {
    /// Ground truth (one record; one per reason for malformed input).
    pub truth: Vec<TruthRecord>,
    /// Device readings to add.
    pub readings: Vec<ScheduledReading>,
    /// Raw messages to add (malformed input).
    pub raw: Vec<Message>,
    /// Normal readings to suppress.
    pub silences: Vec<Silence>,
}
