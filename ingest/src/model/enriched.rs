//! A reading joined with its registry entry: what the store and the alert engine consume.

use std::sync::Arc;

use crate::model::reading::Reading;
use crate::model::record::DeviceRecord;

/// A reading joined with its registry entry: what the store and the alert engine consume.
#[derive(Debug, Clone)]
pub struct EnrichedReading {
    /// The reading as decoded.
    pub reading: Reading,
    /// The registered device, or `None` for a device missing from the registry.
    pub device: Option<Arc<DeviceRecord>>,
    /// The topic named another county or township than the registry.
    pub location_mismatch: bool,
}

impl EnrichedReading {
    /// The county that routing should use: the registry's, else the topic's.
    pub fn county(&self) -> &str {
        self.device.as_ref().map_or(&self.reading.county, |d| d.county())
    }

    /// The township that routing should use: the registry's, else the topic's.
    pub fn township(&self) -> &str {
        self.device.as_ref().map_or(&self.reading.township, |d| d.township())
    }
}
