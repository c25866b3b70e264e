use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;
use indicatif::ProgressBar;

use super::Format;
use crate::atomic::lock_dir;
use crate::data::count::parallelism_arg;
use crate::data::sets::{self, DataSpec};
use crate::error::Result;
use crate::model::ModelKind;
use crate::report::progress::progress_bar;
use crate::report::training;
use crate::tune::grid::grids_for;
use crate::tune::options::SolverOptions;
use crate::tune::train::{check_train_outputs, fit_pool, train_models, TrainJob};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall train
  cpuwall train --data train.csv --test test.csv --models lr,rf --out models
  cpuwall train --models lr --grid 'lr.C=0.1,1,10' --cv 5 --format json")]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataSpec,
    /// Models to train, comma-separated.
    #[arg(long, default_value = "nb,lr,svc,rf")]
    pub models: String,
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
}

pub fn run(a: TrainArgs) -> Result<()> {
    let models = crate::model::ModelKind::parse_list(&a.models)?;
    check_outputs(&a, &models)?;
    let mut grids = grids_for(&models, a.grid_file.as_deref(), &a.grid)?;
    a.solver.apply(&mut grids);
    let (train, test, data_line) = sets::load(&a.data, &|line| eprintln!("{line}"))?;
    crate::tune::kfold::stratified_folds(&train.y, a.cv, None)?;
    let pool = fit_pool(a.jobs)?;
    let threads = pool.current_num_threads();
    let job = TrainJob {
        models: &models,
        grids: &grids,
        folds: a.cv,
        shuffle: a.solver.cv_shuffle,
        seed: a.data.seed as u64,
        out_dir: &a.out,
    };
    if a.mpi {
        #[cfg(not(feature = "mpi"))]
        return Err(crate::error::Error::usage(
            "--mpi needs a build with the `mpi` feature (cargo build --release --features mpi) launched by mpirun",
        ));
        #[cfg(feature = "mpi")]
        {
            let cluster = crate::exec::mpi::Cluster::init()?;
            let _lock = if cluster.is_root() {
                Some(lock_dir(&a.out, "cpuwall train")?)
            } else {
                None
            };
            let trained = pool.install(|| {
                crate::tune::train::train_models_on_cluster(&cluster, &job, &train, Some(&test))
            })?;
            return match trained {
                Some(t) => print_trained(&a, &t, &data_line, threads * cluster.size),
                None => Ok(()),
            };
        }
    }
    // One run at a time writes a directory's set of models.
    let _lock = lock_dir(&a.out, "cpuwall train")?;
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let on_start = |kind: ModelKind, fits: usize| {
        let template = "{prefix:>4} [{bar:30}] {pos}/{len} fits {elapsed_precise} eta {eta}";
        match progress_bar(fits as u64, template) {
            Some(pb) => {
                pb.set_prefix(kind.short());
                if let Some(old) = bar.lock().expect("lock").replace(pb) {
                    old.finish_and_clear();
                }
            }
            None => eprintln!("training {kind}: {fits} fits on {threads} threads"),
        }
    };
    let on_fit = || {
        if let Some(pb) = bar.lock().expect("lock").as_ref() {
            pb.inc(1);
        }
    };
    let trained = pool.install(|| train_models(&job, &train, Some(&test), &on_start, &on_fit))?;
    if let Some(pb) = bar.lock().expect("lock").take() {
        pb.finish_and_clear();
    }
    print_trained(&a, &trained, &data_line, threads)
}

fn print_trained(
    a: &TrainArgs,
    trained: &[crate::tune::train::TrainedModel],
    data_line: &str,
    threads: usize,
) -> Result<()> {
    let report = training::write(trained, data_line, a.cv, threads, &a.out)?;
    let style = crate::report::style::Style::stderr();
    for line in training::warnings(trained) {
        eprintln!("{}", style.paint(&line, crate::report::style::Tone::Bad));
    }
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&training::json(trained)).expect("json")
        ),
        Format::Table => print!("{}", training::summary(trained, &report)),
    }
    Ok(())
}

/// Before any work: `--out` must be a directory (or not exist yet), and no
/// file written into it may be one of the inputs.
fn check_outputs(a: &TrainArgs, models: &[ModelKind]) -> Result<()> {
    let inputs = [
        ("--data", &a.data.data),
        ("--test", &a.data.test),
        ("--labels", &a.data.labels),
        ("--test-labels", &a.data.test_labels),
        ("--grid-file", &a.grid_file),
    ]
    .map(|(opt, p)| (opt, p.as_deref()));
    check_train_outputs(&a.out, models, &inputs)
}
