use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::data::count::parallelism_arg;
use crate::data::sets::DataSpec;
use crate::error::Result;
use crate::report::progress::FitBars;
use crate::report::training;
use crate::tune::job::{train, Progress, TrainRequest};
use crate::tune::options::SolverOptions;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall train
  cpuwall train --data train.csv --test test.csv --models lr,rf --out models
  cpuwall train --models lr --grid 'lr.C=0.1,1,10' --cv 5 --format json
  cpuwall train --task regression --out models-reg
  cpuwall train --data houses.csv --label price --task regression --models linreg")]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataSpec,
    /// Models to train, comma-separated. Default: every family of the task
    /// (classification: nb,lr,svc,rf; regression: linreg,rfr).
    #[arg(long)]
    pub models: Option<String>,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub cv: usize,
    #[command(flatten)]
    pub solver: SolverOptions,
    /// Worker threads for the (candidate, fold) fits; default: all cores.
    #[arg(long, value_parser = parallelism_arg)]
    pub jobs: Option<usize>,
    /// Grid override, repeatable: MODEL.PARAM=V1,V2 (e.g. lr.C=0.1,1).
    #[arg(long = "grid")]
    pub grid: Vec<String>,
    /// JSON grid file: {"lr": {"C": [0.1, 1], "penalty": ["l2"]}}.
    #[arg(long)]
    pub grid_file: Option<PathBuf>,
    /// Directory for model files and the training report.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Spread the (candidate, fold) fits over MPI ranks (run under mpirun;
    /// needs the `mpi` feature). Rank 0 refits and writes the files.
    #[arg(long)]
    pub mpi: bool,
    /// Also save an ensemble of the K best candidates (OUT/ensemble.cpuwall),
    /// refit on all training rows, with its CV estimate in the report.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub top_k: Option<u32>,
    /// How the ensemble's members vote: soft (average probabilities; the
    /// default where every family gives them) or hard (count labels; the
    /// default with svc).
    #[arg(long, value_name = "soft|hard")]
    pub vote: Option<String>,
    /// Rank the candidates of all --models together for --top-k (without
    /// it, --top-k takes one family).
    #[arg(long)]
    pub across_families: bool,
}

pub fn run(mut a: TrainArgs) -> Result<()> {
    let models = crate::tune::job::resolve_models(a.models.as_deref(), &mut a.data)?;
    let vote = a.vote.as_deref().map(str::parse).transpose()?;
    let k = a.top_k.map(|k| k as usize);
    let top_k = crate::tune::top_k::plan(k, vote, a.across_families, &models)?;
    let req = TrainRequest {
        models,
        top_k,
        data: a.data,
        folds: a.cv,
        solver: a.solver,
        jobs: a.jobs,
        grid: a.grid,
        grid_file: a.grid_file,
        out: a.out,
        mpi: a.mpi,
    };
    let bars = FitBars::new(crate::tune::train::fit_threads(req.jobs));
    let progress = Progress {
        notify: &|line| eprintln!("{line}"),
        on_model_start: &|kind, fits| bars.start(kind.short(), fits),
        on_fit_done: &|| bars.fit_done(),
    };
    let Some(trained) = train(&req, &progress)? else {
        return Ok(()); // an MPI rank other than 0
    };
    drop(bars);
    let t = &trained.models;
    let e = trained.ensemble.as_ref();
    let report = training::write(
        t,
        e,
        &trained.data_line,
        req.folds,
        trained.threads,
        &req.out,
    )?;
    let style = crate::report::style::Style::stderr();
    for line in training::warnings(t) {
        eprintln!("{}", style.paint(&line, crate::report::style::Tone::Bad));
    }
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&training::json(t, e)).expect("json")
        ),
        Format::Table => print!("{}", training::summary(t, e, &report)),
    }
    Ok(())
}
