//! The service's own metrics, beside the components': the process (`process_*`: CPU, memory,
//! file descriptors, start time), `firegrid_build_info{version,commit}`, `firegrid_store_up`,
//! `firegrid_http_requests_total{route,code}`, the memory keeper's `firegrid_memory_trims_total`
//! and `firegrid_allocator_free_bytes`; and
//! the Prometheus-style names of the duration histograms.
//!
//! Renames (DESIGN §7): `firegrid_write_seconds` and `firegrid_dispatch_seconds` are served under
//! `firegrid_write_duration_seconds` and `firegrid_dispatch_duration_seconds` too. The old names
//! stay for one release so dashboards and alerts can move; they go in the release after.

use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Old histogram name → its Prometheus-style name; both are served for one release.
pub(crate) const RENAMED: [(&str, &str); 2] = [
    ("firegrid_write_seconds", "firegrid_write_duration_seconds"),
    ("firegrid_dispatch_seconds", "firegrid_dispatch_duration_seconds"),
];

/// The metrics the HTTP edge updates at scrape time.
#[derive(Debug, Clone)]
pub(crate) struct ServiceMetrics {
    /// 1 while the store takes writes (not failing, not refusing credentials, not spooling).
    pub(crate) store_up: IntGauge,
    /// `firegrid_http_requests_total{route,code}`.
    pub(crate) http_requests: IntCounterVec,
    /// `firegrid_memory_trims_total`: trims the memory keeper ran.
    pub(crate) memory_trims: IntCounter,
    /// `firegrid_allocator_free_bytes`: what the C allocator held free at the keeper's last look.
    pub(crate) allocator_free_bytes: IntGauge,
}

/// Registers the process collector, the build info and the store gauge.
pub(crate) fn register(registry: &Registry) -> Result<ServiceMetrics, prometheus::Error> {
    registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
    let build = IntGaugeVec::new(
        Opts::new("firegrid_build_info", "Always 1; the labels say which build runs"),
        &["version", "commit"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION"), env!("FIREGRID_COMMIT")]).set(1);
    registry.register(Box::new(build))?;
    let store_up = IntGauge::new("firegrid_store_up", "1 while the store accepts writes, 0 while it fails or spools")?;
    registry.register(Box::new(store_up.clone()))?;
    let http_requests = IntCounterVec::new(
        Opts::new("firegrid_http_requests_total", "HTTP requests answered, by route template and status code"),
        &["route", "code"],
    )?;
    registry.register(Box::new(http_requests.clone()))?;
    let memory_trims = IntCounter::new(
        "firegrid_memory_trims_total",
        "Times the memory keeper asked the C allocator to give the pages it held free back to the system",
    )?;
    registry.register(Box::new(memory_trims.clone()))?;
    let allocator_free_bytes = IntGauge::new(
        "firegrid_allocator_free_bytes",
        "Bytes the C allocator held free (freed, kept for reuse; resident until trimmed) at the memory keeper's last look",
    )?;
    registry.register(Box::new(allocator_free_bytes.clone()))?;
    Ok(ServiceMetrics { store_up, http_requests, memory_trims, allocator_free_bytes })
}

/// `families` with each renamed histogram served under its new name as well.
pub(crate) fn with_new_names(mut families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    let mut added = Vec::new();
    for f in &families {
        if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == f.name()) {
            let mut copy = f.clone();
            copy.set_name((*new).to_owned());
            added.push(copy);
        }
    }
    families.extend(added);
    families.sort_by(|a, b| a.name().cmp(b.name()));
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_histograms_are_served_under_both_names() {
        let r = Registry::new();
        let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("firegrid_write_seconds", "w"))
            .expect("histogram");
        r.register(Box::new(h.clone())).expect("register");
        h.observe(0.5);
        let fams = with_new_names(r.gather());
        let names: Vec<&str> = fams.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["firegrid_write_duration_seconds", "firegrid_write_seconds"]);
        assert_eq!(fams[0].get_metric()[0].get_histogram().get_sample_count(), 1);
    }
}
