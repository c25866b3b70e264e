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
