//! The `firegrid simulate …` subcommands: `registry` writes the registry files, `run` publishes
//! a fleet with scenarios and writes the ground truth, `load` publishes as fast as asked. The
//! binary adds `Simulate { #[command(subcommand)] cmd: SimulateCommand }` and calls
//! [`SimulateCommand::execute`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::error::SimError;
use crate::fleet::{generate_registry, FleetSpec, DEFAULT_SEED};
use crate::load::{run_load_observed, LoadProgress, LoadSpec};
use crate::mqtt::parse_url;
use crate::readings::Intervals;
use crate::registry_files::{paths_in, write_registry};
use crate::run::{run_scenario, RunSpec};
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

/// `firegrid simulate …`
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum SimulateCommand {
    /// Generate devices.csv, stations.csv and grids.csv (DESIGN §3) for chosen counties.
    Registry {
        /// Directory to write the three files into.
        #[arg(long, default_value = "deploy/registry")]
        out_dir: PathBuf,
        /// The fleet.
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Publish the fleet's readings with scenarios, writing the ground truth as JSONL.
    Run {
        /// Broker URL.
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        /// MQTT client id.
        #[arg(long, default_value = "firegrid-sim")]
        client_id: String,
        /// Topic prefix.
        #[arg(long, default_value = "firegrid/v1")]
        topic_prefix: String,
        /// QoS 0 or 1.
        #[arg(long, default_value_t = 1)]
        qos: u8,
        /// The fleet (give the flags the registry was generated with).
        #[command(flatten)]
        fleet: FleetArgs,
        /// Read the fleet from devices.csv etc. in this directory instead of generating it.
        #[arg(long)]
        registry_dir: Option<PathBuf>,
        /// Speed-up of the background heartbeat (scenarios play in real time).
        #[arg(long, default_value_t = 60.0)]
        speedup: f64,
        /// How long to run (600, 10m, …).
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        duration: Duration,
        /// Scenarios to inject, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_enum)]
        scenarios: Vec<ScenarioKind>,
        /// Time between scenario starts (default: one of each over the first 60 % of the run).
        #[arg(long, value_parser = parse_duration)]
        every: Option<Duration>,
        /// Ground-truth output (JSONL).
        #[arg(long, default_value = "truth.jsonl")]
        truth: PathBuf,
    },
    /// Publish readings as fast as asked and report the rate achieved.
    Load {
        /// Broker URL.
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        /// Messages per second; 0 = as fast as possible.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Stop after this many messages.
        #[arg(long)]
        total: Option<u64>,
        /// Stop after this long (default 10s when no --total is given).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// QoS 0 or 1.
        #[arg(long, default_value_t = 0)]
        qos: u8,
        /// MQTT client id.
        #[arg(long, default_value = "firegrid-load")]
        client_id: String,
        /// Topic prefix.
        #[arg(long, default_value = "firegrid/v1")]
        topic_prefix: String,
        /// Most unacknowledged QoS 1 publishes in flight.
        #[arg(long, default_value_t = 1000)]
        inflight: u16,
        /// Seed of the fleet whose devices send.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Read the fleet from devices.csv etc. in this directory instead of generating it.
        #[arg(long)]
        registry_dir: Option<PathBuf>,
        /// Print the final figures as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl SimulateCommand {
    /// Runs the command.
    pub async fn execute(self) -> Result<(), SimError> {
        match self {
            SimulateCommand::Registry { out_dir, fleet } => {
                let f = generate_registry(&fleet.spec())?;
                let paths = write_registry(&f, &out_dir)?;
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
            SimulateCommand::Run {
                url,
                client_id,
                topic_prefix,
                qos,
                fleet,
                registry_dir,
                speedup,
                duration,
                scenarios,
                every,
                truth,
            } => {
                let (host, port) = parse_url(&url)?;
                let spec = RunSpec {
                    host,
                    port,
                    client_id,
                    qos,
                    topic_prefix,
                    fleet: fleet.spec(),
                    registry: registry_dir.as_deref().map(paths_in),
                    intervals: Intervals::default(),
                    speedup,
                    duration,
                    scenarios: if scenarios.is_empty() { ScenarioKind::ALL.to_vec() } else { scenarios },
                    every,
                    truth_path: Some(truth.clone()),
                    lead: None,
                    credentials: None,
                };
                eprintln!("publishing to {url} for {duration:?} at {speedup}x; ground truth to {}", truth.display());
                let r = run_scenario(&spec).await?;
                println!(
                    "sent {} messages in {:.1} s ({} errors); {} events in {}",
                    r.sent,
                    r.elapsed.as_secs_f64(),
                    r.errors,
                    r.truth.len(),
                    truth.display()
                );
                Ok(())
            }
            SimulateCommand::Load {
                url,
                rate,
                total,
                duration,
                qos,
                client_id,
                topic_prefix,
                inflight,
                seed,
                registry_dir,
                json,
            } => {
                let (host, port) = parse_url(&url)?;
                let duration =
                    if total.is_none() && duration.is_none() { Some(Duration::from_secs(10)) } else { duration };
                let spec = LoadSpec {
                    host,
                    port,
                    rate: (rate > 0.0).then_some(rate),
                    total,
                    duration,
                    qos,
                    client_id,
                    topic_prefix,
                    fleet: FleetSpec { seed, ..FleetSpec::default() },
                    registry: registry_dir.as_deref().map(paths_in),
                    inflight,
                };
                let r = run_load_observed(&spec, progress_bar).await?;
                eprintln!();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "sent": r.sent, "errors": r.errors, "elapsed_s": r.elapsed.as_secs_f64(),
                            "rate": r.rate, "asked_rate": spec.rate, "qos": qos,
                        })
                    );
                } else {
                    let asked = spec.rate.map_or("unlimited".to_owned(), |r| format!("{r:.0}/s"));
                    println!("sent      {}", r.sent);
                    println!("errors    {}", r.errors);
                    println!("elapsed   {:.3} s", r.elapsed.as_secs_f64());
                    println!("rate      {:.1}/s (asked {asked}, QoS {qos})", r.rate);
                }
                Ok(())
            }
        }
    }
}

fn progress_bar(p: LoadProgress) {
    let width = 30;
    let done = (p.fraction * width as f64).round() as usize;
    let rate = p.delivered as f64 / p.elapsed.as_secs_f64().max(1e-3);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {:>3.0}%  {} sent  {:.0}/s ",
        "#".repeat(done.min(width)),
        "-".repeat(width - done.min(width)),
        p.fraction * 100.0,
        p.delivered,
        rate
    );
    let _ = err.flush();
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
        let SimulateCommand::Registry { out_dir, fleet } = c.cmd else { panic!("registry") };
        assert_eq!(out_dir, PathBuf::from("/tmp/r"));
        assert_eq!(fleet.spec().counties, vec!["渝北区", "500238"]);
        assert_eq!(fleet.seed, DEFAULT_SEED);
        assert_eq!(fleet.spec(), FleetSpec { counties: fleet.counties.clone(), ..FleetSpec::default() });

        let c =
            Cli::try_parse_from(["x", "run", "--scenarios", "kitchen_fire,sun_glint", "--duration", "2m"]).expect("ok");
        let SimulateCommand::Run { scenarios, duration, speedup, qos, .. } = c.cmd else { panic!("run") };
        assert_eq!(scenarios, vec![ScenarioKind::KitchenFire, ScenarioKind::SunGlint]);
        assert_eq!((duration, speedup, qos), (Duration::from_secs(120), 60.0, 1));

        let c = Cli::try_parse_from(["x", "load", "--rate", "0", "--total", "5000", "--qos", "1"]).expect("ok");
        let SimulateCommand::Load { rate, total, qos, .. } = c.cmd else { panic!("load") };
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
        let reg =
            firegrid_ingest::registry::Registry::load(&crate::registry_files::paths_in(dir.path())).expect("loads");
        assert!(reg.device_count() > 100);
    }
}
