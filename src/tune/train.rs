//! The whole training job of the study: for each model, grid search with
//! cross-validation, refit, score on train and test, save the model file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::grid::Grid;
use super::search::{grid_search_with, run_jobs_locally, CandidateResult, JobRunner, SearchSpec};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::params::ParamSet;
use crate::model::store::{self, ModelHeader};
use crate::model::vote::Vote;
use crate::model::{errors, score, word_value, Model, ModelKind, Predictor};

#[derive(Debug, Clone, Serialize)]
pub struct TrainedModel {
    pub model: ModelKind,
    pub best_params: ParamSet,
    pub n_candidates: usize,
    pub n_failed: usize,
    /// Wall seconds of the grid search including the refit.
    pub fit_seconds: f64,
    pub refit_seconds: f64,
    /// Classification (the scores are accuracies) or regression (R²).
    pub task: crate::model::Task,
    pub train_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub cv_accuracy: f64,
    /// A regressor's mean absolute and root mean squared error on the test
    /// set.
    pub test_mae: Option<f64>,
    pub test_rmse: Option<f64>,
    pub fit_notes: String,
    /// Whether the chosen model's fit reached its tolerance (`None`: not
    /// an iterative fit).
    pub converged: Option<bool>,
    /// Candidates with a CV fold that stopped short of its tolerance.
    pub n_unconverged: usize,
    pub path: PathBuf,
    pub candidates: Vec<CandidateResult>,
    /// The best candidate refit on all training rows (what `path` holds).
    #[serde(skip)]
    pub fitted: Model,
}

pub struct TrainJob<'a> {
    pub models: &'a [ModelKind],
    pub grids: &'a BTreeMap<ModelKind, Grid>,
    pub folds: usize,
    /// Shuffle rows into folds (seeded); else scikit-learn's unshuffled order.
    pub shuffle: bool,
    pub seed: u64,
    pub out_dir: &'a Path,
    /// `--top-k`: keep every fit's test-fold predictions for this vote.
    pub votes: Option<Vote>,
}

/// Default file name of a model kind in a model directory.
pub fn model_path(dir: &Path, kind: ModelKind) -> PathBuf {
    dir.join(format!("{}.{}", kind.short(), store::EXTENSION))
}

pub use crate::model::store::Resolved;

/// The file a model name stands for: `nb` (any family name) is
/// `DIR/nb.cpuwall`; anything else is a path.
pub fn model_file(name: &str, dir: &Path) -> PathBuf {
    match name.parse::<ModelKind>() {
        Ok(kind) => model_path(dir, kind),
        Err(_) => PathBuf::from(name),
    }
}

/// Load the model `name` stands for ([`model_file`]). A family name whose
/// file is missing gets its default model trained first.
pub fn resolve_model(name: &str, dir: &Path) -> Result<Resolved> {
    let path = model_file(name, dir);
    let mut trained_seconds = None;
    if let Ok(kind) = name.parse::<ModelKind>() {
        if !path.exists() && !kind.family().searched {
            return Err(crate::error::Error::usage(format!(
                "{} not found: an ensemble is made of trained models (cpuwall train --models lr --top-k 5 --out {})",
                path.display(),
                dir.display()
            )));
        }
        if !path.exists() {
            let t = std::time::Instant::now();
            train_default(kind, dir)?;
            trained_seconds = Some(t.elapsed().as_secs_f64());
        }
    } else if !path.exists() && !name.contains('/') && !name.contains('.') {
        return Err(crate::error::Error::usage(format!(
            "unknown model '{name}'; give {} or a model file path",
            ModelKind::choices()
        )));
    }
    let stored = store::load(&path)?;
    // `--model lr` must not silently run an nb model renamed lr.cpuwall.
    if let Ok(kind) = name.parse::<ModelKind>() {
        if stored.header.kind != kind {
            return Err(crate::error::Error::usage(format!(
                "{} holds a {} model, not {kind}: pass the file by its path (--model {}), or train {kind} (cpuwall train --models {kind})",
                path.display(),
                stored.header.kind,
                path.display()
            )));
        }
    }
    Ok(Resolved {
        path,
        stored,
        trained_seconds,
    })
}

/// Train every model in turn (each search is parallel inside), saving each
/// model file as soon as it is fit. `on_model_start(kind, n_fits)` and
/// `on_fit_done()` report progress.
pub fn train_models(
    job: &TrainJob,
    train: &Dataset,
    test: Option<&Dataset>,
    on_model_start: &dyn Fn(ModelKind, usize),
    on_fit_done: &(dyn Fn() + Sync),
) -> Result<Vec<TrainedModel>> {
    train_models_with(
        job,
        train,
        test,
        on_model_start,
        on_fit_done,
        &run_jobs_locally,
    )
}

/// [`train_models`] with the (candidate, fold) fits spread over the ranks of
/// the MPI job this process belongs to; rank 0 refits, saves and returns
/// the models (`Some`), the other ranks only fit.
#[cfg(feature = "mpi")]
pub fn train_models_on_cluster(
    cluster: &crate::exec::mpi::Cluster,
    job: &TrainJob,
    train: &Dataset,
    test: Option<&Dataset>,
) -> Result<Option<Vec<TrainedModel>>> {
    let runner =
        |jobs: &[(usize, usize)],
         run: &(dyn Fn(usize, usize) -> super::search::JobOutcome + Sync)| {
            crate::exec::mpi::run_jobs_on_cluster(cluster, jobs, &|&(c, f)| run(c, f))
        };
    let trained = cluster
        .on_every_rank(|| train_models_with(job, train, test, &|_, _| {}, &|| {}, &runner))?;
    Ok(cluster.is_root().then_some(trained))
}

/// `--models-dir`: a directory the user named must exist (a typo must not
/// silently get a fresh directory of default models); without the option,
/// `./models`, made on first use.
pub fn models_dir(given: &Option<PathBuf>) -> Result<PathBuf> {
    match given {
        None => Ok("models".into()),
        Some(d) if d.is_dir() => Ok(d.clone()),
        Some(d) => Err(crate::error::Error::usage(format!(
            "--models-dir {} is not a directory; create it (mkdir -p {}) or leave the option out to use ./models",
            d.display(),
            d.display()
        ))),
    }
}

/// Refuse, before any training, an `out` that is a file or whose model
/// files or report would replace one of the `inputs` (option, path).
pub fn check_train_outputs(
    out: &Path,
    models: &[ModelKind],
    ensemble: bool,
    inputs: &[(&str, Option<&Path>)],
) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(crate::error::Error::usage(format!(
            "--out {} is a file; train writes a directory of model files: give a directory",
            out.display()
        )));
    }
    let outputs: Vec<PathBuf> = models
        .iter()
        .map(|k| model_path(out, *k))
        .chain(ensemble.then(|| model_path(out, crate::model::vote::KIND)))
        .chain([out.join("training-report.md")])
        .collect();
    let inputs: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|(opt, p)| p.map(|p| (*opt, p)))
        .collect();
    // Each output must be writable now, not after minutes of fitting.
    if let Some(dir) = outputs.iter().find(|p| p.is_dir()) {
        return Err(crate::error::Error::usage(format!(
            "--out: {} is a directory, where train writes a file; remove or rename it, or choose another --out",
            dir.display()
        )));
    }
    let outputs: Vec<(&str, &Path)> = outputs.iter().map(|p| ("--out", p.as_path())).collect();
    crate::atomic::refuse_overwriting_inputs(&outputs, &inputs)
}

/// A line for people when `out` holds an ensemble this run does not
/// rewrite (no `--top-k`) and that was fitted on other data than `train`:
/// its members are no longer the models beside it.
pub fn stale_ensemble_note(out: &Path, train: &Dataset) -> Option<String> {
    let path = model_path(out, crate::model::vote::KIND);
    if !path.is_file() {
        return None;
    }
    let same_data = crate::model::store::load(&path)
        .map(|m| m.header.data_hash == train.content_hash())
        .unwrap_or(false);
    (!same_data).then(|| {
        format!(
            "note: {} is from an earlier run on other data and was not refitted; delete it, or train with --top-k to refit it",
            path.display()
        )
    })
}

/// The thread pool the fits run on: `jobs` threads (0 or None: all cores).
pub fn fit_pool(jobs: Option<usize>) -> Result<rayon::ThreadPool> {
    let n = fit_threads(jobs);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| crate::error::Error::Runtime(format!("cannot start {n} worker threads: {e}")))
}

/// Threads that fit for `--jobs` (None: all cores).
pub fn fit_threads(jobs: Option<usize>) -> usize {
    jobs.filter(|&j| j > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// [`train_models`] with the fits run by `runner` (MPI spreads them over
/// ranks); processes the runner marks as helpers fit but save nothing.
pub fn train_models_with(
    job: &TrainJob,
    train: &Dataset,
    test: Option<&Dataset>,
    on_model_start: &dyn Fn(ModelKind, usize),
    on_fit_done: &(dyn Fn() + Sync),
    runner: &JobRunner,
) -> Result<Vec<TrainedModel>> {
    let data_hash = train.content_hash();
    let mut out = Vec::new();
    for &kind in job.models {
        let grid = job.grids.get(&kind).cloned().unwrap_or_default();
        let candidates = super::grid::validate(kind, &grid)?;
        on_model_start(kind, candidates.len() * job.folds + 1);
        let spec = SearchSpec {
            kind,
            candidates: &candidates,
            folds: job.folds,
            shuffle: job.shuffle,
            seed: job.seed,
            votes: job.votes,
        };
        let Some(result) = grid_search_with(&spec, train, on_fit_done, runner)? else {
            continue;
        };
        let train_accuracy = score(&result.model, train);
        let test_accuracy = test.map(|t| score(&result.model, t));
        let (test_mae, test_rmse) = match test.and_then(|t| t.targets.as_deref().map(|v| (t, v))) {
            Some((t, truth)) => {
                let pred: Vec<f64> = result
                    .model
                    .predict(t.x.view())
                    .into_iter()
                    .map(word_value)
                    .collect();
                let (mae, rmse) = errors(&pred, truth);
                (Some(mae), Some(rmse))
            }
            None => (None, None),
        };
        let header = ModelHeader {
            kind,
            n_features: train.n_features(),
            feature_names: train.names.clone(),
            feature_names_generated: Some(train.generated_names),
            task: result.model.task(),
            classes: result.model.classes().to_vec(),
            class_names: Vec::new(),
            params: result.best_params().clone(),
            cv_accuracy: Some(result.cv_accuracy()),
            train_rows: train.n_rows(),
            data_hash: data_hash.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            fit_notes: result.model.fit_notes(),
            origin: None,
        };
        let path = model_path(job.out_dir, kind);
        store::save(&path, &header, &result.model)?;
        out.push(TrainedModel {
            model: kind,
            best_params: result.best_params().clone(),
            n_candidates: result.candidates.len(),
            n_failed: result.n_failed(),
            fit_seconds: result.wall_seconds,
            refit_seconds: result.refit_seconds,
            task: result.model.task(),
            train_accuracy,
            test_accuracy,
            cv_accuracy: result.cv_accuracy(),
            test_mae,
            test_rmse,
            fit_notes: header.fit_notes,
            converged: result.model.converged(),
            n_unconverged: result.n_unconverged(),
            path,
            candidates: result.candidates,
            fitted: result.model,
        });
    }
    Ok(out)
}

/// Features of the default models trained on first use (make_classification).
pub const DEFAULT_FEATURES: usize = 10;

/// Train the study's default model of `kind` (make_classification 10000 x
/// 10, seed 0, the study's split, default grid, 5-fold CV) into `dir`.
pub fn train_default(kind: ModelKind, dir: &Path) -> Result<TrainedModel> {
    // A regressor's default: make_friedman1 (noise 1) of the same shape.
    let data = match kind.family().task {
        crate::model::Task::Classification => {
            crate::data::synth::study_data(10_000, DEFAULT_FEATURES, 0)?
        }
        crate::model::Task::Regression => {
            crate::data::synth::friedman1(10_000, DEFAULT_FEATURES, 1.0, 0)?
        }
    };
    let (train, test) = crate::data::split::train_test_split(&data, 0.2, 2020, false)?;
    let mut grids = BTreeMap::new();
    grids.insert(kind, super::grid::default_grid(kind));
    let job = TrainJob {
        models: &[kind],
        grids: &grids,
        folds: 5,
        shuffle: true,
        seed: 0,
        out_dir: dir,
        votes: None,
    };
    let mut trained = train_models(&job, &train, Some(&test), &|_, _| {}, &|| {})?;
    Ok(trained.remove(0))
}
