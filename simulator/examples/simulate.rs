//! The `simulate` subcommands on their own, until and besides `firegrid simulate`:
//! `cargo run --release -p firegrid-simulator --example simulate -- load --rate 0 --total 200000`.

use clap::Parser;
use firegrid_simulator::SimulateCommand;

/// firegrid simulator.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: SimulateCommand,
}

#[tokio::main]
async fn main() -> Result<(), firegrid_simulator::SimError> {
    Cli::parse().cmd.execute().await
}
