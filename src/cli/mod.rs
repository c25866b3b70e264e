//! Command-line glue: parse arguments, call the library, print results.
//! No algorithm lives here.

pub mod ensemble;
pub mod export;
pub mod import;
pub mod inspect;
pub mod load;
pub mod predict;
pub mod report;
pub mod serve;
pub mod shell;
pub mod sweep;
pub mod train;
pub mod worker;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::Result;

#[derive(Debug, Parser)]
#[command(
    name = "cpuwall",
    version = env!("CPUWALL_VERSION_LINE"),
    about = "Train classical classifiers, predict through parallel backends, and measure wall vs CPU time honestly."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Grid-search, cross-validate, refit and save models.
    Train(train::TrainArgs),
    /// Predict with a model through one or all backends, measuring wall and CPU time.
    Predict(predict::PredictArgs),
    /// Measure every model x backend x batch size into a results file.
    Sweep(sweep::SweepArgs),
    /// Turn sweep results into a markdown report with SVG plots.
    Report(report::ReportArgs),
    /// Print a model file's metadata.
    Inspect(inspect::InspectArgs),
    /// Import a scikit-learn model (exported to JSON) or an ONNX model as a .cpuwall model.
    Import(import::ImportArgs),
    /// Write a model (lr, svc, rf) as ONNX, for ONNX Runtime.
    Export(export::ExportArgs),
    /// Serve predictions over HTTP with adaptive micro-batching and Prometheus metrics.
    Serve(serve::ServeArgs),
    /// Load a prediction server (open or closed loop) and measure latency, throughput and its CPU/wall.
    Load(load::LoadArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(shell::CompletionsArgs),
    /// Print cpuwall's man page (roff).
    Man(shell::ManArgs),
    /// Train, benchmark and run the CNN ensemble (4 CIFAR-10 members).
    Ensemble(ensemble::EnsembleArgs),
    /// One ensemble member's worker process (started by the processes strategy).
    #[command(hide = true)]
    EnsembleWorker(worker::EnsembleWorkerArgs),
    /// A prediction worker process (started by the processes backend).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(cli: Cli) -> Result<()> {
    // A CPUWALL_ISA this CPU cannot run is bad input, refused before any work.
    crate::isa::from_env().map_err(crate::Error::Usage)?;
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Report(a) => report::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Load(a) => load::run(a),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
        Command::Worker(a) => worker::run(a),
        Command::Ensemble(a) => ensemble::run(a),
        Command::EnsembleWorker(a) => worker::ensemble(a),
    }
}

pub use crate::tune::train::models_dir;
