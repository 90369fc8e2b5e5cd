//! End to end with the real broker and the real pipeline: the simulator runs the sample fleet
//! (deploy/registry) with every scenario kind at a 60× heartbeat speed-up through mosquitto into
//! an in-process firegrid (VictoriaMetrics as the store), while the evaluation listens to the
//! dispatch topics; then `firegrid eval`'s scoring must find every injected fire detected, no
//! nuisance dispatched as a fire and every notification round routed as alerting's policy says.
//!
//! Run length: 5 minutes, not the 10. The simulator leaves out events that cannot play
//! out before the run ends; ordered longest first (forest hotspot 240 s, offline camera noticed
//! after 180 s, kitchen fire 150 s, residual current 82 s, then the short ones), one of each
//! spread over the first 60 % of the run, all eleven kinds fit in 300 s (in the default order
//! they need about 7.3 minutes). A 10-minute run adds only more heartbeats, at 10 minutes of CI.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_simulator::eval::{
    fetch_incidents, render_table, DispatchListener, EvalReport, EvalSettings, ObservedDispatch, ObservedIncident,
    Outcome,
};
use firegrid_simulator::fleet::paths_in;
use firegrid_simulator::scenario::truth::ExpectedClass;
use firegrid_simulator::scenario::ScenarioKind;
use firegrid_simulator::{FleetSpec, RunSpec};
use support::{Mosquitto, VictoriaMetrics};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "dispatcher-token-eval-0123456789abcdef";
const RUN: Duration = Duration::from_secs(300);
/// After the run: time for the last incidents to open and be dispatched.
const SETTLE: Duration = Duration::from_secs(90);

/// The scenario kinds, longest first, so that one of each fits in [`RUN`].
const ORDER: [ScenarioKind; 11] = [
    ScenarioKind::ForestHotspot,
    ScenarioKind::Offline,
    ScenarioKind::KitchenFire,
    ScenarioKind::ResidualCurrentCreep,
    ScenarioKind::ArcFault,
    ScenarioKind::LowBattery,
    ScenarioKind::Tamper,
    ScenarioKind::CookingSteam,
    ScenarioKind::TestButton,
    ScenarioKind::SunGlint,
    ScenarioKind::Malformed,
];

/// How often the evaluation looks again while the pipeline finishes.
const POLL: Duration = Duration::from_secs(2);

/// Whether every incident that was dispatched at all has had the round of its current severity
/// (a rise to critical is a round of its own, sent a moment after the incident shows it).
fn rounds_caught_up(incidents: &[(ObservedIncident, serde_json::Value)], seen: &[ObservedDispatch]) -> bool {
    incidents.iter().all(|(inc, _)| {
        let rounds = seen.iter().filter(|d| d.incident_id == inc.id).map(|d| d.severity);
        rounds.clone().next().is_none() || rounds.max() == Some(inc.severity)
    })
}

fn settled(r: &EvalReport) -> bool {
    r.fire_recall.rate == Some(1.0)
        && r.hazard_recall.rate == Some(1.0)
        && r.events.iter().filter(|e| e.outcome == Outcome::Detected).all(|e| e.dispatch_after_start_ms.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_minute_run_of_every_scenario_is_detected_without_nuisance_dispatches_and_routed_by_the_policy(
) -> Result<()> {
    tokio::time::timeout(RUN + SETTLE + Duration::from_secs(120), async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let registry_dir = root.join("deploy/registry");
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        // Mode 0600: firegrid refuses a tokens file others may read.
        firegrid_alerting::access::private_file::write_private(
            &dir.path().join("tokens.csv"),
            &format!("{TOKEN},dispatcher,\n"),
        )?;
        let reg_paths = paths_in(&registry_dir);
        let mut c = firegrid::Config::default();
        c.mqtt.url = mqtt.url();
        c.mqtt.client_id = format!("firegrid-eval-e2e-{}", std::process::id());
        c.store.influxdb.url = vm.url();
        c.registry.devices = reg_paths.devices.display().to_string();
        c.registry.stations = reg_paths.stations.display().to_string();
        c.registry.grids = reg_paths.grids.display().to_string();
        c.api.tokens_file = dir.path().join("tokens.csv").display().to_string();
        c.http.listen = "127.0.0.1:0".into();
        c.data.dir = dir.path().join("data").display().to_string();
        let max_distance_km = c.dispatch.max_distance_km;
        let settings = c.validate()?;
        let shutdown = CancellationToken::new();
        let running = firegrid::start(settings, shutdown.clone()).await?;
        let api = format!("http://{}", running.http_addr);

        let listener = DispatchListener::start(
            "127.0.0.1",
            mqtt.port(),
            "firegrid/v1",
            "eval-e2e-listener",
            Duration::from_secs(10),
        )
        .await?;
        let truth_path = dir.path().join("truth.jsonl");
        let spec = RunSpec {
            port: mqtt.port(),
            client_id: "eval-e2e-simulator".into(),
            fleet: FleetSpec::default(),
            registry: Some(reg_paths.clone()),
            speedup: 60.0,
            duration: RUN,
            scenarios: ORDER.to_vec(),
            every: None,
            truth_path: Some(truth_path.clone()),
            ..RunSpec::default()
        };
        let run = firegrid_simulator::run_scenario(&spec).await?;
        eprintln!("simulator: {} messages in {:.1} s, {} errors", run.sent, run.elapsed.as_secs_f64(), run.errors);
        ensure!(run.errors == 0, "the simulator's publishes all went through");

        let truth = firegrid::eval::read_truth(&truth_path)?;
        let scenarios: std::collections::BTreeSet<&str> = truth.iter().map(|t| t.scenario.as_str()).collect();
        ensure!(scenarios.len() == ORDER.len(), "every scenario kind ran: {scenarios:?}");
        let registry = firegrid_ingest::Registry::load(&reg_paths)?;
        let since = truth.iter().map(|t| t.start_ts).min().context("truth lines")? - 5_000;
        let eval_settings = EvalSettings::default();
        let routing = firegrid::eval::Routing { registry: &registry, max_distance_km };

        // Let the pipeline finish the last events (the offline camera is noticed 3 min after it
        // went quiet): until every fire and hazard is detected and dispatched, and every
        // incident's latest severity has had its round, then score once more with all of it.
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let incidents = fetch_incidents(&api, TOKEN, since).await?;
            let seen = listener.snapshot();
            let r = firegrid::eval::evaluate(&truth, &incidents, Some(&seen), &routing, &eval_settings)?;
            if settled(&r) && rounds_caught_up(&incidents, &seen) || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let incidents = fetch_incidents(&api, TOKEN, since).await?;
        let collected = listener.finish().await;
        let report =
            firegrid::eval::evaluate(&truth, &incidents, Some(&collected.dispatches), &routing, &eval_settings)?;
        eprintln!("{}", render_table(&report));
        eprintln!("{}", serde_json::to_string(&report)?);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), running.wait()).await??;

        let fires = truth.iter().filter(|t| {
            matches!(t.expected_class, ExpectedClass::Fire | ExpectedClass::ElectricalFire | ExpectedClass::ForestFire)
        });
        ensure!(report.fire_recall.total == fires.count() && report.fire_recall.total >= 4, "{:?}", report.fire_recall);
        ensure!(report.fire_recall.rate == Some(1.0), "recall of injected fires: {:?}", report.fire_recall);
        ensure!(report.nuisance_dispatch_rate.total >= 3, "{:?}", report.nuisance_dispatch_rate);
        ensure!(report.nuisance_dispatch_rate.count == 0, "nuisances dispatched: {:?}", report.nuisance_dispatch_rate);
        ensure!(
            report.unmatched_fire_incidents.is_empty(),
            "fires from nowhere: {:?}",
            report.unmatched_fire_incidents
        );
        ensure!(report.routing_accuracy.total >= report.fire_recall.total, "{:?}", report.routing_accuracy);
        ensure!(
            report.routing_accuracy.rate == Some(1.0) && report.routing_errors.is_empty(),
            "routing: {:?} {:?} {:?}",
            report.routing_accuracy,
            report.routing_mismatches,
            report.routing_errors
        );
        ensure!(report.time_to_dispatch_from_alarm_ms.count == report.fire_recall.total, "every fire was dispatched");
        Ok(())
    })
    .await?
}
