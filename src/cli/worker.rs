use std::path::PathBuf;

use clap::Args;

use crate::error::Result;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Model file to load once.
    #[arg(long)]
    pub model: PathBuf,
}

pub fn run(a: WorkerArgs) -> Result<()> {
    crate::exec::worker::run(&a.model)
}

/// One ensemble member's worker process (the processes strategy).
#[derive(Debug, Args)]
pub struct EnsembleWorkerArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub member: usize,
}

pub fn ensemble(a: EnsembleWorkerArgs) -> Result<()> {
    crate::ensemble::worker::run(&a.weights, a.device.parse()?, a.member)
}
