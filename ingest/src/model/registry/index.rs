//! The registry's devices, found by id: a hash set of the records themselves, hashed and
//! compared by their id, so the id is stored once (in the record) and a lookup by `&str` costs
//! one probe. A map from `String` to record kept a second copy of every id.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::model::record::DeviceRecord;

/// A record as a set member: hashes, compares and borrows as its device id.
#[derive(Debug, Clone)]
struct ById(Arc<DeviceRecord>);

impl PartialEq for ById {
    fn eq(&self, other: &ById) -> bool {
        self.0.device_id() == other.0.device_id()
    }
}

impl Eq for ById {}

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.device_id().hash(state);
    }
}

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.0.device_id()
    }
}

/// Devices by id (see the module doc).
#[derive(Debug, Default)]
pub(super) struct DeviceIndex(HashSet<ById>);

impl DeviceIndex {
    /// The device with this id.
    pub(super) fn get(&self, device_id: &str) -> Option<&Arc<DeviceRecord>> {
        self.0.get(device_id).map(|d| &d.0)
    }

    /// Adds a device, replacing one with the same id.
    pub(super) fn insert(&mut self, device: Arc<DeviceRecord>) {
        self.0.replace(ById(device));
    }

    /// Every device, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Arc<DeviceRecord>> {
        self.0.iter().map(|d| &d.0)
    }

    /// Number of devices.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Gives back the room a load reserved beyond what it needed.
    pub(super) fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}
