use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{parse_models, thread_pool, Format};
use crate::atomic::write_atomic;
use crate::data::count::count_arg;
use crate::data::split::train_test_split;
use crate::data::synth::study_data;
use crate::data::{check_finite, load_labelled, Dataset};
use crate::error::{Error, Result};
use crate::model::ModelKind;
use crate::report::{table, training};
use crate::tune::grid::{apply_overrides, default_grid, read_grid_file};
use crate::tune::train::{train_models, TrainJob};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data: CSV with a header, or .npy features (with --labels).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data (same format). Without it, --data is split like the study.
    #[arg(long, requires = "data")]
    pub test: Option<PathBuf>,
    /// Labels .npy for --data when it is a .npy file.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Labels .npy for --test when it is a .npy file.
    #[arg(long)]
    pub test_labels: Option<PathBuf>,
    /// Name of the CSV label column.
    #[arg(long, default_value = "y")]
    pub label: String,
    /// Synthetic rows (make_classification) when no --data is given.
    #[arg(long, default_value = "10000", value_parser = count_arg)]
    pub rows: u64,
    /// Synthetic features.
    #[arg(long, default_value = "10", value_parser = count_arg)]
    pub features: u64,
    /// Seed of the synthetic data, the folds and every model's randomness.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Test fraction when splitting (scikit-learn's test_size).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the train/test split (the study used 2020).
    #[arg(long, default_value_t = 2020)]
    pub split_seed: u32,
    /// Models to train, comma-separated.
    #[arg(long, default_value = "nb,lr,svc,rf")]
    pub models: String,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub cv: usize,
    /// Worker threads for the (candidate, fold) fits; default: all cores.
    #[arg(long)]
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
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Spread the (candidate, fold) fits over MPI ranks (run under mpirun;
    /// needs the `mpi` feature). Rank 0 refits and writes the files.
    #[arg(long)]
    pub mpi: bool,
}

/// Training and test sets, plus a line describing where they came from.
pub fn load_data(a: &TrainArgs) -> Result<(Dataset, Dataset, String)> {
    match &a.data {
        Some(path) => {
            let data = load_labelled(path, &a.label, a.labels.as_deref())?;
            data.validate_for_training(path)?;
            match &a.test {
                Some(tp) => {
                    let test = load_labelled(tp, &a.label, a.test_labels.as_deref())?;
                    check_finite(test.x.view(), tp)?;
                    if test.n_features() != data.n_features() {
                        return Err(Error::data(
                            tp,
                            format!(
                                "{} features, but the training data has {}; use matching columns",
                                test.n_features(),
                                data.n_features()
                            ),
                        ));
                    }
                    let line = format!(
                        "{} ({} rows), test {} ({} rows), {} features",
                        path.display(),
                        data.n_rows(),
                        tp.display(),
                        test.n_rows(),
                        data.n_features()
                    );
                    Ok((data, test, line))
                }
                None => {
                    let (train, test) =
                        train_test_split(&data, a.test_fraction, a.split_seed, false)?;
                    let line = format!(
                        "{} split {}/{} (test_fraction {}, seed {}), {} features",
                        path.display(),
                        train.n_rows(),
                        test.n_rows(),
                        a.test_fraction,
                        a.split_seed,
                        data.n_features()
                    );
                    Ok((train, test, line))
                }
            }
        }
        None => {
            let rows = usize::try_from(a.rows).map_err(|_| Error::usage("--rows is too large"))?;
            if rows > 100_000_000 || a.features > 10_000 {
                return Err(Error::usage(format!(
                    "--rows {} x --features {} is too large to train on here; use at most 1e8 rows and 1e4 features",
                    a.rows, a.features
                )));
            }
            let data = study_data(rows, a.features as usize, a.seed)?;
            let origin = PathBuf::from("make_classification");
            let (train, test) = train_test_split(&data, a.test_fraction, a.split_seed, false)?;
            train.validate_for_training(&origin)?;
            let line = format!(
                "make_classification(n_samples={}, n_features={}, random_state={}) split {}/{} (seed {})",
                a.rows,
                a.features,
                a.seed,
                train.n_rows(),
                test.n_rows(),
                a.split_seed
            );
            Ok((train, test, line))
        }
    }
}

pub fn run(a: TrainArgs) -> Result<()> {
    let models = parse_models(&a.models)?;
    let mut grids: BTreeMap<ModelKind, _> = ModelKind::ALL
        .iter()
        .map(|&k| (k, default_grid(k)))
        .collect();
    if let Some(f) = &a.grid_file {
        read_grid_file(f, &mut grids)?;
    }
    apply_overrides(&mut grids, &a.grid)?;
    for &k in &models {
        crate::tune::grid::validate(k, &grids[&k])?;
    }
    let (train, test, data_line) = load_data(&a)?;
    crate::tune::kfold::stratified_folds(&train.y, a.cv, None)?;
    let pool = thread_pool(a.jobs)?;
    let threads = pool.current_num_threads();

    let tty = std::io::stderr().is_terminal();
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let on_start = |kind: ModelKind, fits: usize| {
        if tty {
            let pb = ProgressBar::new(fits as u64);
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:>4} [{bar:30}] {pos}/{len} fits {elapsed_precise} eta {eta}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            pb.set_prefix(kind.short());
            if let Some(old) = bar.lock().expect("lock").replace(pb) {
                old.finish_and_clear();
            }
        } else {
            eprintln!("training {kind}: {fits} fits on {threads} threads");
        }
    };
    let on_fit = || {
        if let Some(pb) = bar.lock().expect("lock").as_ref() {
            pb.inc(1);
        }
    };
    let job = TrainJob {
        models: &models,
        grids: &grids,
        folds: a.cv,
        seed: a.seed as u64,
        out_dir: &a.out,
    };
    #[cfg(feature = "mpi")]
    let cluster = if a.mpi {
        Some(crate::exec::mpi::Cluster::init()?)
    } else {
        None
    };
    #[cfg(not(feature = "mpi"))]
    if a.mpi {
        return Err(Error::usage(
            "--mpi needs a build with the `mpi` feature (cargo build --release --features mpi) launched by mpirun",
        ));
    }
    #[cfg(feature = "mpi")]
    if let Some(cluster) = &cluster {
        let runner =
            |jobs: &[(usize, usize)],
             run: &(dyn Fn(usize, usize) -> crate::tune::search::JobOutcome + Sync)| {
                crate::exec::mpi::run_jobs_on_cluster(cluster, jobs, run)
            };
        let mut trained = Vec::new();
        super::mpi::on_every_rank(cluster, || {
            trained = pool.install(|| {
                crate::tune::train::train_models_with(
                    &job,
                    &train,
                    Some(&test),
                    &|_, _| {},
                    &|| {},
                    &runner,
                )
            })?;
            Ok(())
        })?;
        if !cluster.is_root() {
            return Ok(());
        }
        return print_trained(&a, &trained, &data_line, threads * cluster.size);
    }
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
    let report = training::markdown(trained, data_line, a.cv, threads);
    let report_path = a.out.join("training-report.md");
    write_atomic(&report_path, report.as_bytes())?;

    match a.format {
        Format::Json => {
            let mut obj = serde_json::Map::new();
            for m in trained {
                obj.insert(
                    m.model.short().into(),
                    serde_json::to_value(m).expect("serialises"),
                );
            }
            println!("{}", serde_json::to_string_pretty(&obj).expect("json"));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = training::table_rows(trained)
                .into_iter()
                .map(|r| r.to_vec())
                .collect();
            print!("{}", table::render(&training::TABLE_HEADER, &rows));
            for m in trained {
                let failed: Vec<String> = m
                    .candidates
                    .iter()
                    .filter_map(|c| {
                        c.error
                            .as_ref()
                            .map(|e| format!("{} ({e})", crate::model::params::describe(&c.params)))
                    })
                    .collect();
                println!(
                    "{}: best of {} candidates is {} -> {}{}",
                    m.model,
                    m.n_candidates,
                    crate::model::params::describe(&m.best_params),
                    m.path.display(),
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!("; failed: {}", failed.join(", "))
                    }
                );
            }
            println!("report: {}", report_path.display());
        }
    }
    Ok(())
}
