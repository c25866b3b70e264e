use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::report::sweep::write_report;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall report results/sweep.json -o reports/sweep.md
  cpuwall report results/sweep.json --baseline results/sklearn.csv -o reports/sweep.md
  cpuwall report results/sweep.json -o cells.csv
  cpuwall report reports/serving/*.json -o reports/serving.md")]
pub struct ReportArgs {
    /// Results files written by `cpuwall sweep`, or by `cpuwall load --out` (a serving report).
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Output: .md (with SVG plots beside it), .json or .csv.
    #[arg(short = 'o', long, default_value = "reports/sweep.md")]
    pub out: PathBuf,
    /// scikit-learn's sweep CSV (the study's sklearn_sweep.csv format) to compare against.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let written = if crate::measure::results::load::LoadResults::sniff(&a.results[0]) {
        crate::report::serving::write_report(&a.results, &a.out)?
    } else {
        write_report(&a.results, &a.out, a.baseline.as_deref())?
    };
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
