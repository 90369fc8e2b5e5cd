//! The dispatch stage's metrics (DESIGN §7, names are contract):
//! `firegrid_dispatches_total{tier,channel,outcome}` (`delivered`, `failed`, `skipped`: a webhook
//! row whose recipient no longer has a URL, `abandoned`: a webhook given up because its incident
//! closed or it outlived `webhook_max_age_seconds`), `firegrid_dispatch_seconds` (from the receipt
//! of the reading that opened an incident to its first MQTT notification acknowledged by the
//! broker), `firegrid_dispatch_unroutable_total{class}` (incidents for which routing found no
//! recipient at all) and `firegrid_dispatch_unroutable{class}` (such incidents now).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts};

use crate::incident::Class;

/// The dispatch metrics (cheap to clone: clones count into the same series).
#[derive(Debug, Clone)]
pub struct DispatchMetrics {
    /// `firegrid_dispatches_total{tier,channel,outcome}`.
    pub dispatches: IntCounterVec,
    /// `firegrid_dispatch_seconds`.
    pub seconds: Histogram,
    /// `firegrid_dispatch_unroutable_total{class}`.
    pub unroutable_total: IntCounterVec,
    /// `firegrid_dispatch_unroutable{class}`.
    pub unroutable: IntGaugeVec,
}

impl DispatchMetrics {
    /// Creates the metrics (the unroutable series of every class at 0, so an alert on their
    /// increase sees the first one) and registers them.
    pub fn register(registry: &prometheus::Registry) -> Result<DispatchMetrics, prometheus::Error> {
        let m = DispatchMetrics::unregistered()?;
        registry.register(Box::new(m.dispatches.clone()))?;
        registry.register(Box::new(m.seconds.clone()))?;
        registry.register(Box::new(m.unroutable_total.clone()))?;
        registry.register(Box::new(m.unroutable.clone()))?;
        Ok(m)
    }

    /// The metrics, counting but registered nowhere (tests of the planner).
    pub fn unregistered() -> Result<DispatchMetrics, prometheus::Error> {
        let dispatches = IntCounterVec::new(
            Opts::new(
                "firegrid_dispatches_total",
                "Dispatch notification attempts by recipient tier, channel and outcome",
            ),
            &["tier", "channel", "outcome"],
        )?;
        let seconds = Histogram::with_opts(
            HistogramOpts::new(
                "firegrid_dispatch_seconds",
                "From the receipt of the reading that opened an incident to its first notification acknowledged by the broker",
            )
            .buckets(vec![0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0, 10.0, 60.0]),
        )?;
        let unroutable_total = IntCounterVec::new(
            Opts::new("firegrid_dispatch_unroutable_total", "Incidents for which routing found no recipient at all"),
            &["class"],
        )?;
        let unroutable = IntGaugeVec::new(
            Opts::new("firegrid_dispatch_unroutable", "Active incidents with no recipient, waiting for a station"),
            &["class"],
        )?;
        for c in Class::ALL {
            unroutable_total.with_label_values(&[c.as_str()]);
            unroutable.with_label_values(&[c.as_str()]).set(0);
        }
        Ok(DispatchMetrics { dispatches, seconds, unroutable_total, unroutable })
    }
}
