//! `firegrid eval`: what firegrid did with a simulated run, scored against its ground truth.
//! Collects the incidents from the HTTP API and (with `--mqtt`) the dispatch messages from the
//! dispatch topics while a scenario runs (`--listen-seconds`), then prints detection recall,
//! nuisance dispatch rate, hazard recall, severity agreement, routing accuracy against the
//! policy and time-to-dispatch percentiles, as a table or as JSON, and with `--html FILE` as a
//! self-contained HTML page with charts. While it listens, a progress bar with the rate of
//! dispatch messages is drawn on a terminal (none with `--json` or when stderr is not one).
//!
//! The scoring is pure code in `firegrid_simulator::eval`; the routing policy it checks against
//! is alerting's own ([`firegrid_alerting::dispatch::StationPicker`]) over the registry the pipeline
//! loaded, so the evaluation never carries a copy of the policy. It assumes every station is as
//! available as the registry says: availability changed at run time through the API is not seen
//! here, and a round routed around a busy station would count as a mismatch. This module is the
//! wiring.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use firegrid_alerting::dispatch::StationPicker;
use firegrid_alerting::incident::{Incident, Severity};
use firegrid_ingest::Registry;
use firegrid_simulator::eval::{
    fetch_incidents, render_html, render_table, score, CollectError, DispatchListener, EvalReport, EvalSettings,
    ListenError, Notified, Observed, ObservedDispatch, ObservedIncident,
};
use firegrid_simulator::progress::Progress;
use firegrid_simulator::scenario::truth::{parse_records, Severity as TruthSeverity, TruthRecord};

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The truth file could not be read.
    #[error("{}: {source}", path.display())]
    Truth {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry could not be loaded.
    #[error(transparent)]
    Registry(#[from] firegrid_ingest::RegistryError),
    /// Collecting the incidents from the API failed.
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// Listening to the dispatch topics failed.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The MQTT URL is malformed.
    #[error(transparent)]
    Simulator(#[from] firegrid_simulator::SimError),
    /// Scoring refused its inputs.
    #[error(transparent)]
    Score(#[from] firegrid_simulator::eval::EvalError),
    /// The report could not be encoded.
    #[error("cannot encode the report: {0}")]
    Json(#[from] serde_json::Error),
    /// The HTML report could not be written.
    #[error("cannot write the HTML report {}: {source}", path.display())]
    Html {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// `firegrid eval …`
#[derive(Debug, Clone, PartialEq, Args)]
pub struct EvalArgs {
    /// Ground truth written by `firegrid simulate run` (JSONL).
    #[arg(long, default_value = "truth.jsonl")]
    pub truth: PathBuf,
    /// firegrid's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Bearer token of an admin or dispatcher (sees every incident).
    #[arg(long, env = "FIREGRID_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Broker to listen on for dispatch messages (`mqtt://host:port`); without it routing is
    /// checked against the incidents' notified lists and no time to dispatch is measured.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Listen to the dispatch topics this long before collecting (run the scenario meanwhile).
    #[arg(long, default_value_t = 0)]
    pub listen_seconds: u64,
    /// Topic prefix of firegrid.
    #[arg(long, default_value = "firegrid/v1")]
    pub topic_prefix: String,
    /// The registry firegrid loaded (devices.csv, stations.csv, grids.csv).
    #[arg(long, default_value = "deploy/registry")]
    pub registry_dir: PathBuf,
    /// The pipeline's `[dispatch] max_distance_km`.
    #[arg(long, default_value_t = firegrid_alerting::DispatchConfig::default().max_distance_km)]
    pub max_distance_km: f64,
    /// An incident may open up to this long after its event ends and still match it.
    #[arg(long, default_value_t = 120)]
    pub grace_seconds: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page with charts to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// Reads a truth file.
pub fn read_truth(path: &std::path::Path) -> Result<Vec<TruthRecord>, EvalError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| EvalError::Truth { path: path.to_owned(), source: Box::new(e) })?;
    parse_records(&text).map_err(|e| EvalError::Truth { path: path.to_owned(), source: Box::new(e) })
}

/// What the routing policy is computed from: the registry the pipeline loaded and its
/// `[dispatch] max_distance_km` (every station as available as the registry says).
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// The pipeline's `[dispatch] max_distance_km`.
    pub max_distance_km: f64,
}

/// Scores collected incidents (with the API's raw JSON) and dispatch messages (`None` when the
/// dispatch topics were not listened to) against `truth`, routing checked with alerting's
/// [`StationPicker`].
pub fn evaluate(
    truth: &[TruthRecord],
    incidents: &[(ObservedIncident, serde_json::Value)],
    dispatches: Option<&[ObservedDispatch]>,
    routing: &Routing<'_>,
    settings: &EvalSettings,
) -> Result<EvalReport, EvalError> {
    let full: HashMap<String, Result<Incident, String>> = incidents
        .iter()
        .map(|(o, raw)| (o.id.clone(), serde_json::from_value::<Incident>(raw.clone()).map_err(|e| e.to_string())))
        .collect();
    let availability = HashMap::new();
    let router = StationPicker {
        registry: routing.registry,
        availability: &availability,
        max_distance_km: routing.max_distance_km,
    };
    let policy = |o: &ObservedIncident, severity: TruthSeverity| -> Result<Notified, String> {
        let mut inc = match full.get(&o.id) {
            Some(Ok(i)) => i.clone(),
            Some(Err(e)) => return Err(format!("the API's incident does not decode: {e}")),
            None => return Err("not listed by the API".into()),
        };
        inc.severity =
            Severity::parse(severity.as_str()).ok_or_else(|| format!("unknown severity `{}`", severity.as_str()))?;
        Ok(router.route(&inc).into_iter().map(|r| (r.recipient.target(), r.role.as_str().to_owned())).collect())
    };
    let observed: Vec<ObservedIncident> = incidents.iter().map(|(o, _)| o.clone()).collect();
    Ok(score(truth, Observed { incidents: &observed, dispatches }, &policy, settings)?)
}

impl EvalArgs {
    /// Collects, scores and prints.
    pub async fn execute(self) -> Result<EvalReport, EvalError> {
        let listener = match &self.mqtt {
            Some(url) => {
                let (host, port) = firegrid_simulator::publisher::parse_url(url)?;
                let id = format!("firegrid-eval-{}", std::process::id());
                Some(DispatchListener::start(&host, port, &self.topic_prefix, &id, Duration::from_secs(10)).await?)
            }
            None => None,
        };
        if self.listen_seconds > 0 {
            eprintln!("listening to {}/dispatch/# for {} s", self.topic_prefix, self.listen_seconds);
            listen(listener.as_ref(), Duration::from_secs(self.listen_seconds), self.json).await;
        }
        let truth = read_truth(&self.truth)?;
        let since = truth.iter().map(|t| t.start_ts).min().unwrap_or(0) - EvalSettings::default().before_ms;
        let incidents = fetch_incidents(&self.api, &self.token, since).await?;
        let collected = match listener {
            Some(l) => Some(l.finish().await),
            None => None,
        };
        let registry = Registry::load(&firegrid_simulator::fleet::paths_in(&self.registry_dir))?;
        let settings = EvalSettings { after_ms: self.grace_seconds as i64 * 1000, ..EvalSettings::default() };
        let routing = Routing { registry: &registry, max_distance_km: self.max_distance_km };
        let dispatches = collected.as_ref().map(|c| c.dispatches.as_slice());
        let report = evaluate(&truth, &incidents, dispatches, &routing, &settings)?;
        if let Some(path) = &self.html {
            std::fs::write(path, render_html(&report))
                .map_err(|source| EvalError::Html { path: path.clone(), source })?;
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", render_table(&report));
        }
        Ok(report)
    }
}

/// Waits `period` while the listener collects, with a progress bar of the dispatch messages
/// and their rate on a terminal (none with `--json` or off a terminal).
async fn listen(listener: Option<&DispatchListener>, period: Duration, json: bool) {
    let bar = Progress::on_stderr(json, period.as_millis() as u64);
    let start = tokio::time::Instant::now();
    let end = start + period;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while tokio::time::Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(end) => {}
        }
        let seen = listener.map_or(0, |l| l.count() as u64);
        bar.update(start.elapsed().as_millis() as u64, seen, start.elapsed());
    }
    bar.finish();
}
