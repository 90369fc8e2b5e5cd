//! The `firegrid simulate …` subcommands: `registry` writes the registry files, `run` publishes
//! a fleet with scenarios and writes the ground truth, `load` publishes as fast as asked. The
//! binary adds `Simulate { #[command(subcommand)] cmd: SimulateCommand }` and calls
//! [`SimulateCommand::execute`]. `run` and `load` draw a progress bar with the rate on a terminal
//! ([`crate::progress`]): none with `--json` or when stderr is not a terminal.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::error::SimError;
use crate::fleet::{generate_registry, paths_in, write_registry, FleetSpec, DEFAULT_SEED};
use crate::load::{run_load_observed, LoadSpec};
use crate::progress::{self, Progress};
use crate::publisher::parse_url;
use crate::readings::Intervals;
use crate::run::{run_scenario_observed, RunSpec};
use crate::scenario::ScenarioKind;

/// Which fleet (the same flags must be given to `registry` and `run`).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct FleetArgs {
    /// Seed: the same seed and counties give the same fleet, byte for byte.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Counties, by 6-digit code or name, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "500103,500112,500238")]
    pub counties: Vec<String>,
    /// Homes with smoke detectors per urban community (社区).
    #[arg(long, default_value_t = 3)]
    pub households_per_urban: u32,
    /// Homes with smoke detectors per rural village (村).
    #[arg(long, default_value_t = 2)]
    pub households_per_rural: u32,
    /// Share of communities with a micro fire station.
    #[arg(long, default_value_t = 0.85)]
    pub micro_station_share: f64,
}

impl FleetArgs {
    /// The fleet spec these flags describe.
    pub fn spec(&self) -> FleetSpec {
        FleetSpec {
            seed: self.seed,
            counties: self.counties.clone(),
            households_per_urban_community: self.households_per_urban,
            households_per_rural_community: self.households_per_rural,
            micro_station_share: self.micro_station_share,
            ..FleetSpec::default()
        }
    }
}

/// Parses `600`, `600s`, `10m`, `1h` or `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a duration like 600, 30s, 10m, 1h"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: the unit must be ms, s, m or h")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("`{s}` is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `firegrid simulate registry`: where to write, which fleet.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct RegistryArgs {
    /// Directory to write the three files into.
    #[arg(long, default_value = "deploy/registry")]
    pub out_dir: PathBuf,
    /// The fleet.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `firegrid simulate run`: the broker, the fleet, the pace, the scenarios, the truth file.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct RunArgs {
    /// Broker URL.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,
    /// MQTT client id.
    #[arg(long, default_value = "firegrid-sim")]
    pub client_id: String,
    /// Topic prefix.
    #[arg(long, default_value = "firegrid/v1")]
    pub topic_prefix: String,
    /// QoS 0 or 1.
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// The fleet (give the flags the registry was generated with).
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Read the fleet from devices.csv etc. in this directory instead of generating it.
    #[arg(long)]
    pub registry_dir: Option<PathBuf>,
    /// Speed-up of the background heartbeat (scenarios play in real time).
    #[arg(long, default_value_t = 60.0)]
    pub speedup: f64,
    /// How long to run (600, 10m, …).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Scenarios to inject, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub scenarios: Vec<ScenarioKind>,
    /// Time between scenario starts (default: one of each over the first 60 % of the run).
    #[arg(long, value_parser = parse_duration)]
    pub every: Option<Duration>,
    /// Ground-truth output (JSONL).
    #[arg(long, default_value = "truth.jsonl")]
    pub truth: PathBuf,
}

/// `firegrid simulate load`: the broker, the rate, when to stop, how to report.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct LoadArgs {
    /// Broker URL.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,
    /// Messages per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Stop after this many messages.
    #[arg(long)]
    pub total: Option<u64>,
    /// Stop after this long (default 10s when no --total is given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// QoS 0 or 1.
    #[arg(long, default_value_t = 0)]
    pub qos: u8,
    /// MQTT client id.
    #[arg(long, default_value = "firegrid-load")]
    pub client_id: String,
    /// Topic prefix.
    #[arg(long, default_value = "firegrid/v1")]
    pub topic_prefix: String,
    /// Most unacknowledged QoS 1 publishes in flight.
    #[arg(long, default_value_t = 1000)]
    pub inflight: u16,
    /// Seed of the fleet whose devices send.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Read the fleet from devices.csv etc. in this directory instead of generating it.
    #[arg(long)]
    pub registry_dir: Option<PathBuf>,
    /// Print the final figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `firegrid simulate …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum SimulateCommand {
    /// Generate devices.csv, stations.csv and grids.csv (DESIGN §3) for chosen counties.
    Registry(RegistryArgs),
    /// Publish the fleet's readings with scenarios, writing the ground truth as JSONL.
    Run(RunArgs),
    /// Publish readings as fast as asked and report the rate achieved.
    Load(LoadArgs),
}

impl SimulateCommand {
    /// Runs the command.
    pub async fn execute(self) -> Result<(), SimError> {
        match self {
            SimulateCommand::Registry(a) => registry(&a),
            SimulateCommand::Run(a) => run(a).await,
            SimulateCommand::Load(a) => load(a).await,
        }
    }
}

fn registry(a: &RegistryArgs) -> Result<(), SimError> {
    let f = generate_registry(&a.fleet.spec())?;
    let paths = write_registry(&f, &a.out_dir)?;
    println!(
        "wrote {} devices to {}, {} stations to {}, {} grids to {}",
        f.devices.len(),
        paths.devices.display(),
        f.stations.len(),
        paths.stations.display(),
        f.grids.len(),
        paths.grids.display()
    );
    Ok(())
}

async fn run(a: RunArgs) -> Result<(), SimError> {
    let (host, port) = parse_url(&a.url)?;
    let spec = RunSpec {
        host,
        port,
        client_id: a.client_id,
        qos: a.qos,
        topic_prefix: a.topic_prefix,
        fleet: a.fleet.spec(),
        registry: a.registry_dir.as_deref().map(paths_in),
        intervals: Intervals::default(),
        speedup: a.speedup,
        duration: a.duration,
        scenarios: if a.scenarios.is_empty() { ScenarioKind::ALL.to_vec() } else { a.scenarios },
        every: a.every,
        truth_path: Some(a.truth.clone()),
        lead: None,
        credentials: None,
    };
    eprintln!("publishing to {} for {:?} at {}x; ground truth to {}", a.url, a.duration, a.speedup, a.truth.display());
    const STEPS: u64 = 1000;
    let bar = Progress::on_stderr(false, STEPS);
    let r = run_scenario_observed(&spec, &CancellationToken::new(), |p| {
        bar.update(progress::position(p.fraction, STEPS), p.delivered, p.elapsed);
    })
    .await;
    bar.finish();
    let r = r?;
    println!(
        "sent {} messages in {:.1} s ({} errors); {} events in {}",
        r.sent,
        r.elapsed.as_secs_f64(),
        r.errors,
        r.truth.len(),
        a.truth.display()
    );
    Ok(())
}

async fn load(a: LoadArgs) -> Result<(), SimError> {
    let (host, port) = parse_url(&a.url)?;
    let duration = if a.total.is_none() && a.duration.is_none() { Some(Duration::from_secs(10)) } else { a.duration };
    let spec = LoadSpec {
        host,
        port,
        rate: (a.rate > 0.0).then_some(a.rate),
        total: a.total,
        duration,
        qos: a.qos,
        client_id: a.client_id,
        topic_prefix: a.topic_prefix,
        fleet: FleetSpec { seed: a.seed, ..FleetSpec::default() },
        registry: a.registry_dir.as_deref().map(paths_in),
        inflight: a.inflight,
    };
    const STEPS: u64 = 1000;
    let bar = Progress::on_stderr(a.json, STEPS);
    let r = run_load_observed(&spec, |p| {
        bar.update(progress::position(p.fraction, STEPS), p.delivered, p.elapsed);
    })
    .await;
    bar.finish();
    let r = r?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "sent": r.sent, "errors": r.errors, "elapsed_s": r.elapsed.as_secs_f64(),
                "rate": r.rate, "asked_rate": spec.rate, "qos": a.qos,
            })
        );
    } else {
        let asked = spec.rate.map_or("unlimited".to_owned(), |r| format!("{r:.0}/s"));
        println!("sent      {}", r.sent);
        println!("errors    {}", r.errors);
        println!("elapsed   {:.3} s", r.elapsed.as_secs_f64());
        println!("rate      {:.1}/s (asked {asked}, QoS {})", r.rate, a.qos);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: SimulateCommand,
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn the_subcommands_parse_with_their_defaults() {
        let c =
            Cli::try_parse_from(["x", "registry", "--out-dir", "/tmp/r", "--counties", "渝北区,500238"]).expect("ok");
        let SimulateCommand::Registry(RegistryArgs { out_dir, fleet }) = c.cmd else { panic!("registry") };
        assert_eq!(out_dir, PathBuf::from("/tmp/r"));
        assert_eq!(fleet.spec().counties, vec!["渝北区", "500238"]);
        assert_eq!(fleet.seed, DEFAULT_SEED);
        assert_eq!(fleet.spec(), FleetSpec { counties: fleet.counties.clone(), ..FleetSpec::default() });

        let c =
            Cli::try_parse_from(["x", "run", "--scenarios", "kitchen_fire,sun_glint", "--duration", "2m"]).expect("ok");
        let SimulateCommand::Run(RunArgs { scenarios, duration, speedup, qos, .. }) = c.cmd else { panic!("run") };
        assert_eq!(scenarios, vec![ScenarioKind::KitchenFire, ScenarioKind::SunGlint]);
        assert_eq!((duration, speedup, qos), (Duration::from_secs(120), 60.0, 1));

        let c = Cli::try_parse_from(["x", "load", "--rate", "0", "--total", "5000", "--qos", "1"]).expect("ok");
        let SimulateCommand::Load(LoadArgs { rate, total, qos, .. }) = c.cmd else { panic!("load") };
        assert_eq!((rate, total, qos), (0.0, Some(5000), 1));
        assert!(Cli::try_parse_from(["x", "run", "--scenarios", "volcano"]).is_err());
    }

    #[tokio::test]
    async fn the_registry_command_writes_three_loadable_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Cli::try_parse_from([
            "x",
            "registry",
            "--out-dir",
            &dir.path().display().to_string(),
            "--counties",
            "500103",
        ])
        .expect("ok");
        c.cmd.execute().await.expect("runs");
        let reg = firegrid_ingest::Registry::load(&crate::fleet::paths_in(dir.path())).expect("loads");
        assert!(reg.device_count() > 100);
    }
}
