//! The load generator: publishes a fleet's normal readings as fast as asked — a fixed rate
//! paced against a schedule with catch-up (message `n` is due at `n / rate` seconds; a late
//! sender sends what it owes at once), or as fast as the broker takes them — until a total
//! or a duration is reached, and reports what was delivered.

use std::time::Duration;

use firegrid_ingest::clock::now_ms;
use firegrid_ingest::RegistryPaths;
use tokio::time::Instant;

use crate::error::SimError;
use crate::fleet::{generate_registry, DeviceDirectory, FleetSpec};
use crate::publisher::{MqttTarget, Publisher};
use crate::readings::NormalReadings;

/// What load to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// Broker host (use a loopback address in tests).
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Messages per second; `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many messages.
    pub total: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// QoS 0 or 1.
    pub qos: u8,
    /// MQTT client id.
    pub client_id: String,
    /// Topic prefix, e.g. `firegrid/v1`.
    pub topic_prefix: String,
    /// The fleet whose devices send the readings.
    pub fleet: FleetSpec,
    /// Read the fleet from these registry files instead of generating it.
    pub registry: Option<RegistryPaths>,
    /// Most unacknowledged QoS 1 publishes in flight.
    pub inflight: u16,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            host: "127.0.0.1".into(),
            port: 1883,
            rate: Some(1000.0),
            total: None,
            duration: Some(Duration::from_secs(10)),
            qos: 0,
            client_id: "firegrid-load".into(),
            topic_prefix: "firegrid/v1".into(),
            fleet: FleetSpec::default(),
            registry: None,
            inflight: 1000,
        }
    }
}

/// What a load run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadReport {
    /// Messages delivered: written to the socket (QoS 0) or acknowledged (QoS 1).
    pub sent: u64,
    /// Connection errors and messages not delivered by the end.
    pub errors: u64,
    /// From the first publish to the last delivery.
    pub elapsed: Duration,
    /// `sent / elapsed`, messages per second.
    pub rate: f64,
}

/// Progress of a running load, handed to the observer about ten times a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadProgress {
    /// Messages queued so far.
    pub queued: u64,
    /// Messages delivered so far.
    pub delivered: u64,
    /// Time since the start.
    pub elapsed: Duration,
    /// Fraction done (by total or duration, whichever is nearer), 0–1.
    pub fraction: f64,
}

/// Runs a load and reports; stops by itself at `total` or `duration`.
pub async fn run_load(spec: &LoadSpec) -> Result<LoadReport, SimError> {
    run_load_observed(spec, |_| {}).await
}

/// How many messages are owed at `elapsed` on a schedule of `rate` per second.
pub(crate) fn owed(rate: f64, elapsed: Duration) -> u64 {
    (elapsed.as_secs_f64() * rate).floor() as u64 + 1
}

/// The devices that send: streamed from the registry's `devices.csv` when one is given (only
/// what a reading needs is kept — a million devices in tens of megabytes, issue 14), else the
/// generated fleet's.
fn devices(spec: &LoadSpec) -> Result<DeviceDirectory, SimError> {
    match &spec.registry {
        Some(paths) => DeviceDirectory::read(&paths.devices),
        None => Ok(DeviceDirectory::of(&generate_registry(&spec.fleet)?)),
    }
}

/// Runs a load, calling `observe` with progress about ten times a second.
pub async fn run_load_observed(spec: &LoadSpec, mut observe: impl FnMut(LoadProgress)) -> Result<LoadReport, SimError> {
    if spec.total.is_none() && spec.duration.is_none() {
        return Err(SimError::InvalidSpec("a load needs a total or a duration to stop at".into()));
    }
    if let Some(r) = spec.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(SimError::InvalidSpec(format!("rate must be a positive number, not {r}")));
        }
    }
    let directory = devices(spec)?;
    if directory.is_empty() {
        return Err(SimError::InvalidSpec("the fleet has no devices".into()));
    }
    let n = directory.len();
    let mut gen = NormalReadings::new(directory, spec.fleet.seed, &spec.topic_prefix);
    let target = MqttTarget {
        host: spec.host.clone(),
        port: spec.port,
        client_id: spec.client_id.clone(),
        qos: spec.qos,
        inflight: spec.inflight,
        credentials: None,
    };
    let mut publisher = Publisher::connect(&target, Duration::from_secs(10)).await?;
    let total = spec.total.unwrap_or(u64::MAX);
    let start = Instant::now();
    let end = spec.duration.map(|d| start + d);
    let mut next_report = start;
    let mut sent = 0u64;
    let fraction = |sent: u64, now: Instant| {
        let by_total = spec.total.map_or(0.0, |t| sent as f64 / t.max(1) as f64);
        let by_time = spec.duration.map_or(0.0, |d| (now - start).as_secs_f64() / d.as_secs_f64().max(1e-9));
        by_total.max(by_time).min(1.0)
    };
    while sent < total {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if now >= next_report {
            observe(LoadProgress {
                queued: sent,
                delivered: publisher.delivered(),
                elapsed: now - start,
                fraction: fraction(sent, now),
            });
            next_report = now + Duration::from_millis(100);
        }
        let batch = match spec.rate {
            Some(rate) => {
                let due = owed(rate, now - start).min(total);
                if due <= sent {
                    let next = start + Duration::from_secs_f64(sent as f64 / rate);
                    let wake = end.map_or(next, |e| next.min(e)).min(next_report);
                    tokio::time::sleep_until(wake).await;
                    continue;
                }
                (due - sent).min(1024)
            }
            None => (total - sent).min(256),
        };
        let ts = now_ms();
        for _ in 0..batch {
            let Some(m) = gen.message((sent % n as u64) as usize, ts) else { break };
            publisher.publish(m.topic, m.payload).await?;
            sent += 1;
        }
    }
    let stats = publisher.finish(Duration::from_secs(30)).await;
    let elapsed = stats.drained_at - start;
    observe(LoadProgress { queued: stats.queued, delivered: stats.delivered, elapsed, fraction: 1.0 });
    Ok(LoadReport {
        sent: stats.delivered,
        errors: stats.errors,
        elapsed,
        rate: stats.delivered as f64 / elapsed.as_secs_f64().max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_owes_one_message_per_period() {
        assert_eq!(owed(1000.0, Duration::ZERO), 1);
        assert_eq!(owed(1000.0, Duration::from_millis(999)), 1000);
        assert_eq!(owed(1000.0, Duration::from_secs(1)), 1001);
        assert_eq!(owed(2.5, Duration::from_secs(4)), 11);
    }

    #[tokio::test]
    async fn a_load_without_a_stop_condition_or_with_a_bad_rate_is_refused() {
        let spec = LoadSpec { total: None, duration: None, ..LoadSpec::default() };
        assert!(matches!(run_load(&spec).await, Err(SimError::InvalidSpec(_))));
        let spec = LoadSpec { rate: Some(0.0), ..LoadSpec::default() };
        assert!(matches!(run_load(&spec).await, Err(SimError::InvalidSpec(_))));
    }
}
