//! [`Term`]: what a partition leader's service runs under for one term — the epoch its writes
//! carry (the store's fence), the guard dispatch asks before each send, the partition gauges,
//! and the token cancelled when the term ends.

use tokio_util::sync::CancellationToken;

use super::{LeaderGuard, PartitionMetrics, Scope};
use crate::store::Fence;

/// The leader term a service runs under (see the module doc).
#[derive(Debug, Clone)]
pub struct Term {
    /// The partition.
    pub partition: String,
    /// The epoch granted.
    pub epoch: i64,
    /// The partition's counties: the incidents this term owns.
    pub scope: Scope,
    /// Cleared when the term ends; dispatch asks it before each send.
    pub guard: LeaderGuard,
    /// The partition gauges, registered in the term's metrics registry too.
    pub metrics: PartitionMetrics,
    /// Cancelled when the term ends: the MQTT consumer then never reconnects (its session
    /// belongs to the next leader, and a reconnect under the same client id would take it back).
    pub ended: CancellationToken,
}

impl Term {
    /// The fence every write of this term carries.
    pub fn fence(&self) -> Fence {
        Fence { partition: self.partition.clone(), epoch: self.epoch }
    }
}
