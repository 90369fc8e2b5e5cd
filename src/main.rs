//! The `firegrid` command: parses the command line, loads the configuration, sets up tracing
//! and calls `firegrid::run` (or another subcommand).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use firegrid::cli::exit::{ConfigContext as _, Failure};
use firegrid::cli::logging;
use firegrid::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "firegrid", version, about = "Fire-sensor ingestion and dispatch pipeline (Chongqing 城乡一体)")]
struct Cli {
    /// Log format: human-readable on a terminal, JSON for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline.
    Run {
        /// firegrid.toml; without it every key takes its default (and the environment).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// What this process runs: all, ingest or alert (DESIGN §9); overrides `[node] role`.
        #[arg(long)]
        role: Option<String>,
    },
    /// Everything on one machine: embedded broker and store, a generated registry, the
    /// simulator with fires and hazards, and the dispatcher console.
    Demo {
        /// Where the demo keeps its registry, tokens, incidents and readings.
        #[arg(long, default_value = "firegrid-data/demo")]
        data_dir: PathBuf,
        /// Console and API address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the embedded broker takes MQTT 3.1.1 publishers.
        #[arg(long, default_value = "127.0.0.1:1883")]
        mqtt_listen: String,
        /// Stop after this many seconds, or this long (`90`, `10m`, `1h 30m`; default: until Ctrl-C).
        #[arg(long, value_parser = firegrid_ingest::config::duration::parse_seconds)]
        duration_seconds: Option<std::time::Duration>,
    },
    /// Simulate a Chongqing sensor fleet: registry files, readings with scenarios, load.
    #[command(subcommand)]
    Simulate(Box<firegrid_simulator::cli::SimulateCommand>),
    /// Score what firegrid did with a simulated run against its ground truth: recall, nuisance
    /// dispatches, severity, routing against the policy, time to dispatch.
    Eval(Box<firegrid::eval::EvalArgs>),
    /// Export the embedded store's readings of a time span as InfluxDB line protocol, to stdout
    /// or straight to an InfluxDB server (`--to`).
    Export(Box<firegrid::export::ExportArgs>),
    /// Validate the configuration and the registry files, and say what to fix.
    CheckConfig {
        /// firegrid.toml.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Check for this role (all, ingest or alert) instead of `[node] role`.
        #[arg(long)]
        role: Option<String>,
        /// Also reach the broker (login with the configured credentials and TLS), the store (its
        /// bucket or database exists; nothing is written) and the data directory.
        #[arg(long)]
        probe: bool,
    },
}

/// The configuration, with `--role` (when given) in place of `[node] role`, and its validation.
fn load(config: Option<&PathBuf>, role: Option<&str>) -> Result<(Config, firegrid::Settings), Failure> {
    let mut c = Config::load(config.map(PathBuf::as_path), std::env::vars())?;
    if let Some(role) = role {
        c.node.role = role.to_owned();
    }
    let s = c.validate()?;
    Ok((c, s))
}

fn main() -> ExitCode {
    // Before any thread starts: one malloc arena per core instead of glibc's eight (issue 14;
    // `MALLOC_ARENA_MAX` in the environment wins). Freed memory stays resident in the arena of the
    // thread that freed it; the 5,000-device drain peaked at 38–39 MiB with glibc's default and
    // 35 MiB with one per core on 2 cores, at the same rate.
    firegrid_memory::limit_arenas(std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN));
    // clap exits 2 itself on a bad command line.
    let cli = Cli::parse();
    logging::init(match cli.log_format {
        LogFormat::Text => logging::LogFormat::Text,
        LogFormat::Json => logging::LogFormat::Json,
    });
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("firegrid: {}", causes_once(f.error()));
            f.exit_code()
        }
    }
}

/// The error and its causes joined by `: `, each cause once: an error whose message already
/// quotes its source (as most do) would otherwise print that source twice.
fn causes_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Runtime::new().context("starting the tokio runtime").runtime()
}

fn real_main(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run { config, role } => {
            let (_, settings) = load(config.as_ref(), role.as_deref())?;
            runtime()?.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(shutdown_on_signal(shutdown.clone()));
                firegrid::run(settings, shutdown).await
            })?;
            Ok(())
        }
        Command::Demo { data_dir, listen, mqtt_listen, duration_seconds } => runtime()?
            .block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(shutdown_on_signal(shutdown.clone()));
                let opts = firegrid::demo::DemoOptions {
                    data_dir,
                    http_listen: listen,
                    mqtt_listen,
                    duration: duration_seconds,
                };
                firegrid::demo::run(opts, shutdown).await
            })
            .runtime(),
        Command::Simulate(cmd) => runtime()?.block_on(cmd.execute()).runtime(),
        Command::Eval(args) => runtime()?.block_on(args.execute()).map(drop).runtime(),
        Command::Export(args) => runtime()?.block_on(args.execute()).runtime(),
        Command::CheckConfig { config, role, probe } => {
            check_config(config.as_ref(), role.as_deref())?;
            if probe {
                run_probe(config.as_ref(), role.as_deref())?;
            }
            Ok(())
        }
    }
}

/// `check-config`: every failure is the configuration's (exit code 2).
fn check_config(config: Option<&PathBuf>, role: Option<&str>) -> Result<(), Failure> {
    let (_, settings) = load(config, role)?;
    let loaded = firegrid::registry_files::load(&settings).config()?;
    let reg = loaded.registry;
    if settings.role.parts().alerting {
        // The same check `firegrid run` makes: no webhook recipient without a secret to sign with.
        settings.dispatch.check_webhooks(&reg).config()?;
    }
    let store = match &settings.store {
        firegrid::config::StoreSettings::Influx(s) => s.write_url.clone(),
        firegrid::config::StoreSettings::Embedded(_) => {
            format!("embedded ({}/readings.sqlite3)", settings.data_dir.display())
        }
    };
    let broker = match (settings.mqtt.embedded, &settings.embedded_users_file) {
        (Some(a), Some(file)) => {
            let users = firegrid::broker::users::BrokerUsers::load(file).config()?;
            format!("embedded on {a}, {} user(s)", users.len())
        }
        (Some(a), None) => format!("embedded on {a}, anonymous clients (loopback only)"),
        (None, _) => format!("{}:{}", settings.mqtt.host, settings.mqtt.port),
    };
    let tokens = if settings.role.parts().alerting {
        check_tokens(&settings.tokens_file).config()?
    } else {
        "no incident API in this role".to_owned()
    };
    let defaulted =
        if loaded.defaulted_empty { " (none configured, default files absent: every device unregistered)" } else { "" };
    println!(
        "configuration ok: role {}, broker {broker} ({} subscription(s)), store {store}, registry {} devices, {} stations{defaulted}, {tokens}",
        settings.role.summary(),
        settings.mqtt.subscriptions.len(),
        reg.device_count(),
        reg.stations().len()
    );
    Ok(())
}

/// `check-config --probe`: one line per failure on stderr; a failure exits 1 (the broker or the
/// store may be what is wrong, not the file).
fn run_probe(config: Option<&PathBuf>, role: Option<&str>) -> Result<(), Failure> {
    let (_, settings) = load(config, role)?;
    let report = runtime()?.block_on(firegrid::probe::probe(&settings));
    for fact in &report.facts {
        println!("probe: {fact}");
    }
    let failures = report.failures;
    if failures.is_empty() {
        println!(
            "probe ok: the broker took the login, the store has the bucket or database, the data directory is writable"
        );
        return Ok(());
    }
    for f in &failures {
        eprintln!("probe failed: {f}");
    }
    Err(Failure::Runtime(anyhow::anyhow!("{} probe(s) failed", failures.len())))
}

/// The tokens file as `run` would load it (a missing file is allowed: the API then refuses every call).
fn check_tokens(file: &std::path::Path) -> anyhow::Result<String> {
    if !file.exists() {
        return Ok(format!("no API tokens ({} does not exist: the API refuses every call)", file.display()));
    }
    let tokens = firegrid_alerting::TokenSet::load(file)?;
    Ok(format!("{} API token(s)", tokens.len()))
}

/// Waits for SIGTERM or Ctrl-C (SIGINT); Ctrl-C only where there is no SIGTERM.
async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn shutdown_on_signal(token: CancellationToken) {
    next_signal().await;
    tracing::info!(event = "signal", "shutdown requested; a second signal stops at once");
    token.cancel();
    // A second signal (SIGTERM or Ctrl-C) means the operator will not wait for the drain: exit
    // now. Unacknowledged messages stay with the broker, so nothing is lost, only redelivered.
    next_signal().await;
    tracing::warn!(event = "shutdown_forced", "second signal: exiting without draining");
    std::process::exit(130);
}
