//! The partition's gauges: `firegrid_partition_leader{partition}` (1 while this instance is
//! the acting leader, 0 on a standby) and `firegrid_partition_epoch{partition}` (the epoch of
//! the last term it led). The same collectors are registered in each registry the instance
//! serves (its standby endpoint's, then each term's service), so a scrape always sees them.

use prometheus::{IntGauge, Opts, Registry};

/// The partition gauges (cheap to clone: shared values).
#[derive(Debug, Clone)]
pub struct PartitionMetrics {
    /// 1 = leader, 0 = standby.
    pub leader: IntGauge,
    /// The last epoch led.
    pub epoch: IntGauge,
}

impl PartitionMetrics {
    /// Gauges labelled with `partition`, not registered yet.
    pub fn new(partition: &str) -> Result<PartitionMetrics, prometheus::Error> {
        let opts = |name: &str, help: &str| Opts::new(name, help).const_label("partition", partition);
        Ok(PartitionMetrics {
            leader: IntGauge::with_opts(opts(
                "firegrid_partition_leader",
                "1 while this instance leads its alert partition, 0 on a standby",
            ))?,
            epoch: IntGauge::with_opts(opts("firegrid_partition_epoch", "The lease epoch of the last term led"))?,
        })
    }

    /// Registers both gauges in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.leader.clone()))?;
        registry.register(Box::new(self.epoch.clone()))
    }
}
