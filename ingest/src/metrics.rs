//! Ingest metrics (names are contract, DESIGN §7). Labels come only from fixed sets
//! ([`Kind`], [`Reason`], batch outcomes); never a device id.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::model::kind::Kind;
use crate::store::influx::WireCounters;
use crate::wire::deadletter::Reason;

/// Outcomes of one write attempt of a batch (`firegrid_write_batches_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Accepted by the store.
    Ok,
    /// Failed transiently (network, 429, 5xx, auth) and will be retried.
    Retry,
    /// Too large for the store (413): split in two.
    Split,
    /// Refused as malformed (400/422): bisected to find the bad lines.
    Rejected,
}

impl BatchOutcome {
    const ALL: [BatchOutcome; 4] = [BatchOutcome::Ok, BatchOutcome::Retry, BatchOutcome::Split, BatchOutcome::Rejected];

    fn as_str(self) -> &'static str {
        match self {
            BatchOutcome::Ok => "ok",
            BatchOutcome::Retry => "retry",
            BatchOutcome::Split => "split",
            BatchOutcome::Rejected => "rejected",
        }
    }
}

/// The `queue` label values of the overflow metrics: the reading queue and the control route.
pub(crate) const OVERFLOW_QUEUES: [&str; 2] = ["readings", "control"];

/// Every ingest metric, registered once per process.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    received: IntCounterVec,
    /// `received` of each kind (in [`Kind::ALL`] order) and of "unknown", looked up once: a
    /// labelled lookup hashes the label with SipHash on every message.
    received_by_kind: [IntCounter; 4],
    rejected: IntCounterVec,
    /// Registered devices whose topic named another county or township.
    pub(crate) location_mismatch: IntCounter,
    /// Points the store accepted.
    pub(crate) points_written: IntCounter,
    batches: IntCounterVec,
    /// Duration of one write request.
    pub(crate) write_seconds: Histogram,
    /// Bytes held in the disk spool.
    pub(crate) spool_bytes: IntGauge,
    /// Segment files in the disk spool.
    pub(crate) spool_segments: IntGauge,
    /// Points appended to the spool.
    pub(crate) spool_appended_points: IntCounter,
    /// Points replayed from the spool into the store.
    pub(crate) spool_replayed_points: IntCounter,
    /// Bytes cut from torn or corrupt spool tails at start-up.
    pub spool_truncated_bytes: IntCounter,
    /// 1 while connected to the broker.
    pub(crate) mqtt_connected: IntGauge,
    /// Connections established (the first one included).
    pub(crate) mqtt_connections: IntCounter,
    /// Acks not sent because their message came on an earlier connection (the broker redelivers it).
    pub(crate) stale_acks: IntCounter,
    /// QoS 1 messages that found their queue full and went to the event loop's overflow.
    pub(crate) ingest_queue_full: IntCounter,
    /// Messages held in the event loop's overflow, by `queue` (`readings`, `control`).
    pub(crate) overflow: IntGaugeVec,
    /// The most messages held in an overflow at once since start, by `queue`.
    pub(crate) overflow_high_water: IntGaugeVec,
    /// Times an overflow reached `mqtt.overflow_max_messages` and the event loop stopped reading.
    pub(crate) overflow_full: IntCounterVec,
    /// Keep-alive pings forgiven: unanswered half a keep-alive on while messages kept arriving.
    pub(crate) late_pingresp: IntCounter,
    /// Dead letters published.
    pub(crate) deadletters: IntCounter,
    /// Dead letters of QoS 0 messages dropped because their bounded queue was full.
    pub(crate) deadletters_dropped: IntCounter,
    /// QoS 0 messages dropped because the ingest queue was full.
    pub(crate) qos0_dropped: IntCounter,
    /// QoS 1 messages received and not yet acknowledged (places in the ack sequence).
    pub(crate) mqtt_unacked: IntGauge,
    /// Line protocol bytes handed to the InfluxDB write API, and request body bytes sent.
    store_wire: WireCounters,
}

impl IngestMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> Result<IngestMetrics, prometheus::Error> {
        let m = IngestMetrics::new()?;
        m.register_in(registry)?;
        // Pre-create every label value so dashboards see zeros, not gaps.
        for k in Kind::ALL {
            m.received.with_label_values(&[k.as_str()]);
        }
        m.received.with_label_values(&["unknown"]);
        for r in Reason::ALL {
            m.rejected.with_label_values(&[r.as_str()]);
        }
        for o in BatchOutcome::ALL {
            m.batches.with_label_values(&[o.as_str()]);
        }
        for q in OVERFLOW_QUEUES {
            m.overflow.with_label_values(&[q]);
            m.overflow_high_water.with_label_values(&[q]);
            m.overflow_full.with_label_values(&[q]);
        }
        Ok(m)
    }

    /// The metrics with their contract names and help texts, not yet registered.
    fn new() -> Result<IngestMetrics, prometheus::Error> {
        let received = IntCounterVec::new(
            Opts::new("firegrid_messages_received_total", "MQTT messages received, by kind in the topic"),
            &["kind"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new("firegrid_messages_rejected_total", "Messages dead-lettered, by reason"),
            &["reason"],
        )?;
        let batches = IntCounterVec::new(
            Opts::new("firegrid_write_batches_total", "Write attempts of batches to the store, by outcome"),
            &["outcome"],
        )?;
        let by_kind = |i: usize| received.with_label_values(&[Kind::ALL.get(i).map_or("unknown", |k| k.as_str())]);
        let m = IngestMetrics {
            received_by_kind: [by_kind(0), by_kind(1), by_kind(2), by_kind(3)],
            received,
            rejected,
            location_mismatch: IntCounter::new(
                "firegrid_location_mismatch_total",
                "Readings of registered devices whose topic named another county or township",
            )?,
            points_written: IntCounter::new("firegrid_points_written_total", "Points accepted by the store")?,
            batches,
            write_seconds: Histogram::with_opts(
                HistogramOpts::new("firegrid_write_seconds", "Duration of one write request to the store")
                    .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )?,
            spool_bytes: IntGauge::new("firegrid_spool_bytes", "Bytes held in the disk spool")?,
            spool_segments: IntGauge::new("firegrid_spool_segments", "Segment files in the disk spool")?,
            spool_appended_points: IntCounter::new(
                "firegrid_spool_appended_points_total",
                "Points appended to the disk spool while the store was unavailable",
            )?,
            spool_replayed_points: IntCounter::new(
                "firegrid_spool_replayed_points_total",
                "Points replayed from the disk spool into the store",
            )?,
            spool_truncated_bytes: IntCounter::new(
                "firegrid_spool_truncated_bytes_total",
                "Bytes cut from torn or corrupt spool tails at start-up (never acknowledged)",
            )?,
            mqtt_connected: IntGauge::new("firegrid_mqtt_connected", "1 while connected to the MQTT broker")?,
            mqtt_connections: IntCounter::new("firegrid_mqtt_connections_total", "MQTT connections established")?,
            stale_acks: IntCounter::new(
                "firegrid_mqtt_stale_acks_total",
                "Acks withheld because their message came on an earlier connection",
            )?,
            ingest_queue_full: IntCounter::new(
                "firegrid_ingest_queue_full_total",
                "QoS 1 messages that found their queue full and were held in the MQTT event loop's overflow",
            )?,
            overflow: IntGaugeVec::new(
                Opts::new("firegrid_mqtt_overflow_messages", "Messages held in the MQTT event loop's overflow, by queue"),
                &["queue"],
            )?,
            overflow_high_water: IntGaugeVec::new(
                Opts::new(
                    "firegrid_mqtt_overflow_high_water_messages",
                    "The most messages held in the MQTT event loop's overflow at once since start, by queue",
                ),
                &["queue"],
            )?,
            late_pingresp: IntCounter::new(
                "firegrid_mqtt_late_pingresp_total",
                "Keep-alive pings still unanswered half a keep-alive later while messages kept arriving (the answer queued behind them): the connection was kept",
            )?,
            overflow_full: IntCounterVec::new(
                Opts::new(
                    "firegrid_mqtt_overflow_full_total",
                    "Times the overflow reached mqtt.overflow_max_messages and the event loop stopped reading the broker",
                ),
                &["queue"],
            )?,
            deadletters: IntCounter::new("firegrid_deadletters_published_total", "Dead letters published")?,
            deadletters_dropped: IntCounter::new(
                "firegrid_deadletters_dropped_total",
                "Dead letters of QoS 0 messages dropped because their bounded queue was full",
            )?,
            qos0_dropped: IntCounter::new(
                "firegrid_mqtt_qos0_dropped_total",
                "QoS 0 messages dropped because the ingest queue was full (QoS 1 messages wait instead)",
            )?,
            mqtt_unacked: IntGauge::new(
                "firegrid_mqtt_unacked_messages",
                "QoS 1 messages received and not yet acknowledged (waiting for the store, the engine or an earlier message)",
            )?,
            store_wire: WireCounters {
                line_bytes: IntCounter::new(
                    "firegrid_store_line_bytes_total",
                    "Line protocol bytes handed to the InfluxDB write API (before compression)",
                )?,
                body_bytes: IntCounter::new(
                    "firegrid_store_request_bytes_total",
                    "Request body bytes sent to the InfluxDB write API (after compression)",
                )?,
            },
        };
        Ok(m)
    }

    /// Registers every metric with `registry`.
    fn register_in(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        let m = self;
        registry.register(Box::new(m.received.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.location_mismatch.clone()))?;
        registry.register(Box::new(m.points_written.clone()))?;
        registry.register(Box::new(m.batches.clone()))?;
        registry.register(Box::new(m.write_seconds.clone()))?;
        registry.register(Box::new(m.spool_bytes.clone()))?;
        registry.register(Box::new(m.spool_segments.clone()))?;
        registry.register(Box::new(m.spool_appended_points.clone()))?;
        registry.register(Box::new(m.spool_replayed_points.clone()))?;
        registry.register(Box::new(m.spool_truncated_bytes.clone()))?;
        registry.register(Box::new(m.mqtt_connected.clone()))?;
        registry.register(Box::new(m.mqtt_connections.clone()))?;
        registry.register(Box::new(m.stale_acks.clone()))?;
        registry.register(Box::new(m.ingest_queue_full.clone()))?;
        registry.register(Box::new(m.overflow.clone()))?;
        registry.register(Box::new(m.overflow_high_water.clone()))?;
        registry.register(Box::new(m.overflow_full.clone()))?;
        registry.register(Box::new(m.late_pingresp.clone()))?;
        registry.register(Box::new(m.deadletters.clone()))?;
        registry.register(Box::new(m.deadletters_dropped.clone()))?;
        registry.register(Box::new(m.qos0_dropped.clone()))?;
        registry.register(Box::new(m.mqtt_unacked.clone()))?;
        registry.register(Box::new(m.store_wire.line_bytes.clone()))?;
        registry.register(Box::new(m.store_wire.body_bytes.clone()))?;
        Ok(())
    }

    /// The byte counters of the InfluxDB write API ([`crate::store::influx::InfluxV2::with_wire_counters`]).
    pub fn store_wire(&self) -> WireCounters {
        self.store_wire.clone()
    }

    /// Counts a received message; `None` when the topic named no valid kind.
    pub(crate) fn received(&self, kind: Option<Kind>) {
        let i = kind.and_then(|k| Kind::ALL.iter().position(|&a| a == k)).unwrap_or(Kind::ALL.len());
        if let Some(c) = self.received_by_kind.get(i) {
            c.inc();
        }
    }

    /// Counts a rejection.
    pub(crate) fn rejected(&self, reason: Reason) {
        self.rejected.with_label_values(&[reason.as_str()]).inc();
    }

    /// Counts a batch write attempt.
    pub(crate) fn batch(&self, outcome: BatchOutcome) {
        self.batches.with_label_values(&[outcome.as_str()]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register_under_their_contract_names() {
        let reg = Registry::new();
        let m = IngestMetrics::register(&reg).expect("registers");
        m.received(Some(Kind::Smoke));
        m.rejected(Reason::NotJson);
        m.batch(BatchOutcome::Ok);
        let names: Vec<String> = reg.gather().iter().map(|f| f.name().to_owned()).collect();
        for want in [
            "firegrid_messages_received_total",
            "firegrid_messages_rejected_total",
            "firegrid_points_written_total",
            "firegrid_write_batches_total",
            "firegrid_write_seconds",
            "firegrid_spool_bytes",
            "firegrid_mqtt_connected",
            "firegrid_location_mismatch_total",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
    }
}
