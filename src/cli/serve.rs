use std::path::PathBuf;

use clap::Args;

use super::models_dir;
use crate::error::Result;
use crate::report;
use crate::serve::options::ServeOptions;
use crate::serve::server::serve;
use crate::tune::train::resolve_model;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall serve --model nb,lr,rf --port 8080
  curl -s localhost:8080/v1/models/nb/predict -d '{\"rows\": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]}'
  cpuwall serve --model iris=models/iris.cpuwall --max-batch 1 --port 0")]
pub struct ServeArgs {
    #[command(flatten)]
    pub options: ServeOptions,
    /// Where nb/lr/svc/rf model files live (default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

pub fn run(a: ServeArgs) -> Result<()> {
    let dir = models_dir(&a.models_dir)?;
    let resolve = |target: &str| resolve_model(target, &dir);
    let config = a.options.config(&resolve, &|line| eprintln!("{line}"))?;
    let names: Vec<String> = config.models.iter().map(|m| m.name.clone()).collect();
    let a = &a.options;
    let summary = serve(config, &|addr| {
        let backend = a.backend.to_string();
        let line = report::load::listening(addr, &names, &backend, a.max_batch, a.max_wait);
        eprintln!("{line}")
    })?;
    eprintln!(
        "{}",
        report::load::stopped(summary.answered, summary.abandoned)
    );
    Ok(())
}
