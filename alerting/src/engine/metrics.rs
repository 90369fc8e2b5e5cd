//! Alerting metrics (DESIGN §7, names are contract): `firegrid_incidents_opened_total{class,severity}`,
//! `firegrid_incidents_open{class}`, `firegrid_devices_offline` and
//! `firegrid_township_devices_offline{county,township}` (division codes: a bounded set), plus the count of dropped
//! redeliveries, of unregistered devices' alarms stored only (open unverified incidents at their
//! limit), of devices whose rule state is held, and of forwarded actions a partition leader's sweep
//! expired (`firegrid_forwarded_actions_expired_total`, DESIGN §9). Registered into the registry the binary serves
//! at `/metrics`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::incident::{Class, Severity};

/// The alerting metrics.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    /// Incidents opened, by class and opening severity.
    pub(crate) opened: IntCounterVec,
    /// Incidents not yet closed, by class.
    pub(crate) open: IntGaugeVec,
    /// Devices currently offline.
    pub(crate) offline: IntGauge,
    /// Devices currently offline, by county and township code.
    pub(crate) offline_by_township: IntGaugeVec,
    /// Readings dropped as MQTT redeliveries.
    pub(crate) duplicates: IntCounter,
    /// Alarms of unregistered devices stored only: the open unverified incidents were at their limit.
    pub(crate) unregistered_suppressed: IntCounter,
    /// Devices whose rule state is held in memory, by `registry` (`registered`, `unregistered`).
    pub(crate) state_devices: IntGaugeVec,
    /// Forwarded actions this instance's sweep cancelled: no leader claimed them in time.
    pub(crate) forwarded_expired: IntCounter,
}

impl Metrics {
    /// Creates the metrics, with every label pre-registered, and registers them.
    pub(crate) fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let opened = IntCounterVec::new(
            Opts::new("firegrid_incidents_opened_total", "Incidents opened, by class and severity at opening"),
            &["class", "severity"],
        )?;
        let open =
            IntGaugeVec::new(Opts::new("firegrid_incidents_open", "Incidents not yet closed, by class"), &["class"])?;
        let offline = IntGauge::new("firegrid_devices_offline", "Devices silent for their offline delay")?;
        let offline_by_township = IntGaugeVec::new(
            Opts::new("firegrid_township_devices_offline", "Devices silent for their offline delay, by township"),
            &["county", "township"],
        )?;
        let duplicates =
            IntCounter::new("firegrid_alert_duplicates_total", "Readings dropped by alerting as MQTT redeliveries")?;
        let unregistered_suppressed = IntCounter::new(
            "firegrid_unregistered_alarms_suppressed_total",
            "Alarms of unregistered devices stored only because the open unverified incidents were at their limit",
        )?;
        let state_devices = IntGaugeVec::new(
            Opts::new("firegrid_alert_state_devices", "Devices whose detection rule state is held, by registry status"),
            &["registry"],
        )?;
        let forwarded_expired = IntCounter::new(
            "firegrid_forwarded_actions_expired_total",
            "Forwarded actions this instance's sweep cancelled because no partition leader claimed them in time",
        )?;
        for c in Class::ALL {
            open.with_label_values(&[c.as_str()]).set(0);
            for s in Severity::ALL {
                opened.with_label_values(&[c.as_str(), s.as_str()]);
            }
        }
        registry.register(Box::new(opened.clone()))?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(offline.clone()))?;
        registry.register(Box::new(offline_by_township.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        registry.register(Box::new(unregistered_suppressed.clone()))?;
        registry.register(Box::new(state_devices.clone()))?;
        registry.register(Box::new(forwarded_expired.clone()))?;
        Ok(Metrics {
            opened,
            open,
            offline,
            offline_by_township,
            duplicates,
            unregistered_suppressed,
            state_devices,
            forwarded_expired,
        })
    }
}
