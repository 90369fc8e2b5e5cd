//! The scenario runner: publishes a fleet's readings over MQTT in real time — the background
//! heartbeat sped up by a factor for demos, the scenarios at their real pace so firegrid's
//! time-based rules see what they would in the field — and writes the ground truth of each
//! injected event (JSONL) as it starts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use firegrid_ingest::clock::now_ms;
use firegrid_ingest::RegistryPaths;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SimError;
use crate::fleet::{load_fleet, Fleet, FleetSpec};
use crate::publisher::{MqttTarget, Publisher};
use crate::readings::{Intervals, ReadingGenerator};
use crate::scenario::plan::{plan, PlanSpec};
use crate::scenario::truth::TruthRecord;
use crate::scenario::ScenarioKind;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Broker host (use a loopback address in tests).
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id.
    pub client_id: String,
    /// QoS 0 or 1.
    pub qos: u8,
    /// Topic prefix.
    pub topic_prefix: String,
    /// The fleet (the same spec as the registry firegrid loaded).
    pub fleet: FleetSpec,
    /// Read the fleet from these registry files instead of generating it from `fleet` (whose
    /// seed still seeds the readings).
    pub registry: Option<RegistryPaths>,
    /// Background reporting intervals before the speed-up.
    pub intervals: Intervals,
    /// Speed-up of the background heartbeat (60 = an hour of heartbeats a minute).
    pub speedup: f64,
    /// How long to run.
    pub duration: Duration,
    /// Scenarios to inject.
    pub scenarios: Vec<ScenarioKind>,
    /// Time between scenario starts; `None` spreads one of each over the first 60 % of the run.
    pub every: Option<Duration>,
    /// Where to write the ground truth (JSONL); `None` = nowhere.
    pub truth_path: Option<PathBuf>,
    /// Quiet time before the first scenario; `None` = a tenth of the run, at most 20 s.
    pub lead: Option<Duration>,
    /// Username and password for the broker; `None` = anonymous.
    pub credentials: Option<(String, firegrid_ingest::config::Secret)>,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: "firegrid-sim".into(),
            qos: 1,
            topic_prefix: "firegrid/v1".into(),
            fleet: FleetSpec::default(),
            registry: None,
            intervals: Intervals::default(),
            speedup: 60.0,
            duration: Duration::from_secs(600),
            scenarios: ScenarioKind::ALL.to_vec(),
            every: None,
            truth_path: Some(PathBuf::from("truth.jsonl")),
            lead: None,
            credentials: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Messages delivered (written for QoS 0, acknowledged for QoS 1).
    pub sent: u64,
    /// Connection errors and messages not delivered by the end.
    pub errors: u64,
    /// Run time.
    pub elapsed: Duration,
    /// The events that started, as written to the truth file.
    pub truth: Vec<TruthRecord>,
}

/// Where the ground truth goes: each record is written and flushed as its event starts, so a
/// reader (`firegrid eval`, a test) sees events as they happen.
struct TruthLog {
    out: Option<(BufWriter<File>, PathBuf)>,
}

impl TruthLog {
    fn create(path: Option<&PathBuf>) -> Result<TruthLog, SimError> {
        let out = match path {
            Some(p) => {
                let file = File::create(p).map_err(|source| SimError::Io { path: p.clone(), source })?;
                Some((BufWriter::new(file), p.clone()))
            }
            None => None,
        };
        Ok(TruthLog { out })
    }

    fn write(&mut self, t: &TruthRecord) -> Result<(), SimError> {
        let Some((out, path)) = self.out.as_mut() else { return Ok(()) };
        out.write_all(t.to_line()?.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| SimError::Io { path: path.clone(), source })
    }
}

/// The readings of a run starting at `start_ms` with its scenarios injected, and the truth of
/// those scenarios latest first (so the next to start is at the end).
fn schedule(spec: &RunSpec, fleet: &Fleet, start_ms: i64) -> (ReadingGenerator, Vec<TruthRecord>) {
    let intervals = spec.intervals.sped_up(spec.speedup);
    let mut gen = ReadingGenerator::new(fleet, spec.fleet.seed, start_ms, &spec.topic_prefix, intervals);
    let plan_spec = PlanSpec {
        seed: spec.fleet.seed,
        start_ms,
        duration_ms: spec.duration.as_millis() as i64,
        kinds: spec.scenarios.clone(),
        every_ms: spec.every.map(|e| e.as_millis() as i64),
        prefix: spec.topic_prefix.clone(),
        lead_ms: spec.lead.map(|l| l.as_millis() as i64),
    };
    let mut pending: Vec<TruthRecord> = Vec::new();
    for inj in plan(fleet, &plan_spec) {
        gen.inject(&inj);
        pending.extend(inj.truth);
    }
    pending.sort_by_key(|t| std::cmp::Reverse(t.start_ts));
    (gen, pending)
}

/// Runs the fleet and its scenarios for `spec.duration`, then stops.
pub async fn run_scenario(spec: &RunSpec) -> Result<RunReport, SimError> {
    run_scenario_until(spec, &CancellationToken::new()).await
}

/// Runs the fleet and its scenarios for `spec.duration` or until `stop` is cancelled, then waits
/// (up to 30 s) for what was published to be delivered and disconnects.
pub async fn run_scenario_until(spec: &RunSpec, stop: &CancellationToken) -> Result<RunReport, SimError> {
    run_scenario_observed(spec, stop, |_| {}).await
}

/// Progress of a running scenario run, handed to the observer about ten times a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunProgress {
    /// Messages delivered so far.
    pub delivered: u64,
    /// Since the start.
    pub elapsed: Duration,
    /// Share of the run's duration behind us, 0–1.
    pub fraction: f64,
}

/// [`run_scenario_until`], calling `observe` with progress about ten times a second.
pub async fn run_scenario_observed(
    spec: &RunSpec,
    stop: &CancellationToken,
    mut observe: impl FnMut(RunProgress),
) -> Result<RunReport, SimError> {
    if !(spec.speedup.is_finite() && spec.speedup > 0.0) {
        return Err(SimError::InvalidSpec(format!("speedup must be a positive number, not {}", spec.speedup)));
    }
    let fleet = load_fleet(&spec.fleet, spec.registry.as_ref())?;
    let target = MqttTarget {
        host: spec.host.clone(),
        port: spec.port,
        client_id: spec.client_id.clone(),
        qos: spec.qos,
        inflight: 1000,
        credentials: spec.credentials.clone(),
    };
    let mut truth = TruthLog::create(spec.truth_path.as_ref())?;
    let mut publisher = Publisher::connect(&target, Duration::from_secs(10)).await?;
    let start_ms = now_ms();
    let start = Instant::now();
    let end_ms = start_ms + spec.duration.as_millis() as i64;
    let (mut gen, mut pending) = schedule(spec, &fleet, start_ms);
    let mut started = Vec::new();
    let elapsed_ms = || start_ms + start.elapsed().as_millis() as i64;
    while !stop.is_cancelled() {
        let now = elapsed_ms();
        if now >= end_ms {
            break;
        }
        while pending.last().is_some_and(|t| t.start_ts <= now) {
            let Some(t) = pending.pop() else { break };
            truth.write(&t)?;
            tracing::info!(event = "scenario_started", id = %t.id, scenario = %t.scenario, devices = ?t.devices);
            started.push(t);
        }
        while let Some(m) = gen.next_until(now) {
            publisher.publish(m.topic, m.payload).await?;
        }
        let next = gen.next_due().unwrap_or(end_ms).min(end_ms);
        let next = pending.last().map_or(next, |t| next.min(t.start_ts));
        let wait = (next - elapsed_ms()).clamp(1, 100);
        let elapsed = start.elapsed();
        let fraction = elapsed.as_secs_f64() / spec.duration.as_secs_f64().max(1e-3);
        observe(RunProgress { delivered: publisher.delivered(), elapsed, fraction: fraction.min(1.0) });
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            () = stop.cancelled() => {}
        }
    }
    let stats = publisher.finish(Duration::from_secs(30)).await;
    Ok(RunReport { sent: stats.delivered, errors: stats.errors, elapsed: start.elapsed(), truth: started })
}
