//! `cpuwall predict` as a library call: load (or train) the model, load or
//! make the rows, compare the chosen backends on them, write the labels.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::compare::{build_all, compare, Compared};
use super::run::{warm_up, warmup_arg, Repeats, Warmup, MIN_SAMPLES};
use crate::atomic::refuse_overwriting_inputs;
use crate::data::count::{
    count_arg, parallelism_arg, positive_count_arg, seconds_arg, timeout_arg,
};
use crate::data::csv::delimiter_arg;
use crate::data::source::RowSource;
use crate::data::{check_memory, write_labels, write_scores, write_values};
use crate::error::{Error, Result};
use crate::exec::build::{cores, current_exe, BackendSetup};
use crate::exec::BackendKind;
use crate::model::{word_value, ModelKind, Predictor, ScoreKind, Task};
use crate::tune::train::{model_file, resolve_model, DEFAULT_FEATURES};

/// `cpuwall predict`'s options (clap, flattened into the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct PredictOptions {
    /// nb, lr, svc, rf (the file in --models-dir, trained if missing) or a model file path.
    #[arg(long)]
    pub model: String,
    /// Synthetic rows to predict (make_classification, the model's feature count; default 1e6 when no --data).
    #[arg(long, value_parser = count_arg, conflicts_with = "data", allow_negative_numbers = true)]
    pub rows: Option<u64>,
    /// Rows to predict: CSV with a header (a label column is dropped) or .npy.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV label column to drop from --data.
    #[arg(long, default_value = "y")]
    pub label: String,
    /// CSV field separator (one character, or tab).
    #[arg(long, default_value = ",", value_parser = delimiter_arg)]
    pub delimiter: u8,
    /// How a CSV's columns meet the model's features: by-name (by position,
    /// with a notice, for a model trained without feature names) or
    /// by-position (in order, whatever their names).
    #[arg(long, value_enum, default_value = "by-name")]
    pub columns: crate::data::columns::ColumnRule,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// direct, threads, processes, auto, or all (comma-separated list allowed).
    #[arg(long, default_value = "all")]
    pub backend: String,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub threads: Option<usize>,
    /// Worker processes for the processes backend (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub workers: Option<usize>,
    /// Rows per chunk for threads (default: sized by the model's cost).
    #[arg(long, value_parser = positive_count_arg)]
    pub chunk_rows: Option<u64>,
    /// Minimum timed samples per backend (default 6; raises the count, never lowers --min-time).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Minimum measured time per backend (e.g. 0.5s, 200ms); tiny calls are timed in batches.
    #[arg(long, default_value = "0.5s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub min_time: f64,
    /// Passes over the rows before timing: a duration (300ms) or a number of passes (5; 0: none).
    #[arg(long, default_value = "300ms", value_parser = warmup_arg, allow_hyphen_values = true)]
    pub warmup: Warmup,
    /// Batch size from which auto uses threads (default: measured once, cached).
    #[arg(long, value_parser = count_arg)]
    pub threads_from: Option<u64>,
    /// Seconds a worker may take for its share before it is killed.
    #[arg(long, default_value_t = 60.0, value_parser = timeout_arg, allow_hyphen_values = true)]
    pub worker_timeout: f64,
    /// Where nb/lr/svc/rf model files live (must exist; default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Write the predictions: .csv (column y) or .npy.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --out X.csv: after y, one column per class, p_<class> (nb, lr,
    /// rf, soft-voting ensemble probabilities), score_<class> (svc decision
    /// values; one column, the second class's, for two classes, as
    /// scikit-learn) or votes_<class> (a hard-voting ensemble's vote shares).
    #[arg(long, requires = "out")]
    pub proba: bool,
}

impl PredictOptions {
    pub fn job(&self, backends: Vec<BackendKind>) -> Result<PredictJob> {
        Ok(PredictJob {
            model: self.model.clone(),
            models_dir: crate::tune::train::models_dir(&self.models_dir)?,
            source: RowSource::new(
                self.data.as_deref(),
                &self.label,
                self.delimiter,
                self.columns,
                self.seed,
            ),
            rows: self.rows,
            backends,
            threads: self.threads,
            workers: self.workers,
            chunk_rows: self.chunk_rows.map(|c| c as usize),
            threads_from: self.threads_from.map(|c| c as usize),
            worker_timeout: Duration::from_secs_f64(self.worker_timeout),
            repeat: self.repeat,
            min_time: self.min_time,
            warmup: self.warmup,
            out: self.out.clone(),
            proba: self.proba,
        })
    }
}

/// What to predict, with what, and how to time it.
#[derive(Debug, Clone)]
pub struct PredictJob {
    /// A family name (its file in `models_dir`, trained if missing) or a path.
    pub model: String,
    pub models_dir: PathBuf,
    pub source: RowSource,
    /// Synthetic rows (default 1e6); ignored for a file source.
    pub rows: Option<u64>,
    pub backends: Vec<BackendKind>,
    pub threads: Option<usize>,
    pub workers: Option<usize>,
    pub chunk_rows: Option<usize>,
    pub threads_from: Option<usize>,
    pub worker_timeout: Duration,
    /// Minimum measured seconds per backend.
    pub min_time: f64,
    /// Raises the minimum number of timed samples per backend (default 6);
    /// never lowers `min_time`.
    pub repeat: Option<usize>,
    /// Passes over the batch before the first backend is timed.
    pub warmup: Warmup,
    /// Where to write the labels (.csv column `y`, or .npy).
    pub out: Option<PathBuf>,
    /// Add each class's probability (or decision score) to `out` (CSV).
    pub proba: bool,
}

/// Whether `backends` asks for an MPI job (only an `mpi` build can parse
/// `--backend mpi`), which runs alone: every rank runs the same command.
pub fn is_mpi(backends: &[BackendKind]) -> Result<bool> {
    if !cfg!(feature = "mpi") || !backends.contains(&BackendKind::Mpi) {
        return Ok(false);
    }
    if backends.len() > 1 {
        return Err(Error::usage(
            "--backend mpi runs alone (every rank runs the same command); drop the other backends",
        ));
    }
    Ok(true)
}

impl PredictJob {
    /// The files the job reads (`--model`'s file, `--data`) and writes
    /// (`--out`), named by their options, for checks of other outputs.
    pub fn paths(&self) -> (crate::atomic::NamedPaths, crate::atomic::NamedPaths) {
        let mut inputs = vec![("--model", model_file(&self.model, &self.models_dir))];
        if let Some(p) = self.source.path() {
            inputs.push(("--data", p.to_path_buf()));
        }
        let outputs = self.out.iter().map(|p| ("--out", p.clone())).collect();
        (inputs, outputs)
    }
}

/// What a predict job measured.
#[derive(Debug, Clone)]
pub struct PredictOutcome {
    pub model: ModelKind,
    pub model_path: PathBuf,
    pub rows: usize,
    pub features: usize,
    /// What the rows were (`make_classification(...)` or the file).
    pub data: String,
    pub backends: Vec<Compared>,
    /// The machine and build, captured before timing (load average after).
    pub environment: super::env::Environment,
    /// How it was timed.
    pub settings: PredictSettings,
}

/// The timing settings a predict job ran with (as given; `None`: the
/// default, all cores).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PredictSettings {
    pub min_time_seconds: f64,
    pub min_samples: usize,
    /// `--warmup`: seconds of passes, or a number of passes.
    pub warmup_seconds: Option<f64>,
    pub warmup_passes: Option<usize>,
    pub threads: Option<usize>,
    pub workers: Option<usize>,
    pub chunk_rows: Option<usize>,
    /// The synthetic rows' seed (None: rows from a file).
    pub seed: Option<u32>,
}

impl PredictOutcome {
    /// Every backend returned direct's labels.
    pub fn identical(&self) -> bool {
        self.backends.iter().all(|b| b.identical)
    }
}

/// Run `job`; `notify` hears lines for people (a default model trained).
/// Backends that disagree with direct are reported, not an error here: the
/// caller prints the table first, then fails.
/// A job's start, with its estimated length in seconds: what the caller
/// shows meanwhile (a progress bar), held until the job ends.
pub type OnTiming<'a> = &'a dyn Fn(f64) -> Option<Box<dyn std::any::Any>>;

pub fn predict(
    job: &PredictJob,
    notify: &dyn Fn(&str),
    on_timing: OnTiming,
) -> Result<PredictOutcome> {
    if job.workers == Some(0) || job.threads == Some(0) {
        return Err(Error::usage("--workers and --threads must be at least 1"));
    }
    if let Some(out) = &job.out {
        if job.proba && crate::data::extension(out) == "npy" {
            return Err(Error::usage(format!(
                "--proba writes CSV columns: name --out {} with .csv",
                out.display()
            )));
        }
        let (inputs, _) = job.paths();
        let inputs: Vec<(&str, &std::path::Path)> =
            inputs.iter().map(|(o, p)| (*o, p.as_path())).collect();
        refuse_overwriting_inputs(&[("--out", out)], &inputs)?;
    }
    if job.backends.contains(&BackendKind::Mpi) {
        return Err(Error::usage(
            "--backend mpi runs under mpirun (measure::mpi), not in a local comparison",
        ));
    }
    let copies = if job.backends.contains(&BackendKind::Processes) {
        3
    } else {
        2
    };
    // Refuse a batch that cannot fit before anything else happens, training
    // a missing default model (10 features) included.
    if let (Some(rows), RowSource::Synthetic { .. }) = (job.rows, &job.source) {
        if job.model.parse::<ModelKind>().is_ok()
            && !model_file(&job.model, &job.models_dir).exists()
        {
            check_memory(rows, DEFAULT_FEATURES as u64, copies)?;
        }
    }
    // A missing default model is trained on 10-feature synthetic data
    // (no real names, so columns by position): say so before training one
    // that cannot read the user's file.
    if job.model.parse::<ModelKind>().is_ok() && !model_file(&job.model, &job.models_dir).exists() {
        if let (Some(names), Some(path)) = (job.source.file_names()?, job.source.path()) {
            if names.len() != DEFAULT_FEATURES {
                return Err(Error::usage(format!(
                    "{} does not exist, and the default {} model is trained on {DEFAULT_FEATURES}-feature synthetic data (its columns are taken by position), but {} has {} feature columns ({}): train a model on your data first (cpuwall train --data {})",
                    model_file(&job.model, &job.models_dir).display(),
                    job.model,
                    path.display(),
                    names.len(),
                    crate::data::columns::list(&names),
                    path.display()
                )));
            }
        }
    }
    let resolved = resolve_model(&job.model, &job.models_dir)?;
    let regressor = resolved.stored.model.task() == Task::Regression;
    if regressor && job.proba {
        return Err(Error::usage(format!(
            "--proba: {} is a regressor, which has no class scores; drop --proba (--out writes its predicted values)",
            resolved.path.display()
        )));
    }
    if let Some(n) = resolved.notice() {
        notify(&n);
    }
    let mut features = resolved.stored.header.features();
    features.missing = resolved.stored.model.routes_missing();
    let model = Arc::new(resolved.stored.model);
    let nf = model.n_features();
    let (x, data) = job.source.load(job.rows, &features, copies, notify)?;
    let repeats = Repeats::timed(job.min_time, job.repeat, 1000);
    let mut environment = super::env::Environment::capture();
    let mut reference = vec![0i64; x.nrows() * model.n_outputs()];
    let first = std::time::Instant::now();
    model.predict_into(x.view(), &mut reference);
    let pass = first.elapsed().as_secs_f64();
    // Each backend: settling (up to 0.1 s and a call), then at least
    // min_time and MIN_SAMPLES calls.
    let per_backend = 0.1 + pass + job.min_time.max(MIN_SAMPLES as f64 * pass);
    let _bar = on_timing(job.backends.len() as f64 * per_backend);
    warm_up(model.as_ref(), x.view(), &mut reference, job.warmup);
    let setup = BackendSetup {
        model: model.clone(),
        model_path: resolved.path.clone(),
        data_hash: resolved.stored.header.data_hash.clone(),
        threads: job.threads.unwrap_or_else(cores),
        workers: job.workers.unwrap_or_else(cores),
        chunk_rows: job.chunk_rows,
        threads_from: job.threads_from,
        worker_timeout: job.worker_timeout,
        exe: current_exe()?,
    };
    let mut contenders = build_all(&job.backends, &setup)?;
    let backends = compare(
        &mut contenders,
        x.view(),
        &reference,
        repeats,
        true,
        &|| false,
    )?;
    if let Some(p) = &job.out {
        if regressor {
            let values: Vec<f64> = reference.iter().map(|&w| word_value(w)).collect();
            write_values(p, &values, model.n_outputs())?;
        } else if job.proba {
            // Through the first backend compared that gives scores (direct,
            // threads, auto), as its labels were; processes and MPI give
            // labels only.
            let scores = contenders
                .iter_mut()
                .find_map(|c| c.backend.scores(x.view()).ok())
                .map_or_else(|| model.scores(x.view()).1, |(s, _)| s);
            let kind = model.score_kind();
            let prefix = match kind {
                ScoreKind::Probability => "p",
                ScoreKind::Decision => "score",
                ScoreKind::Votes => "votes",
                ScoreKind::Value => "value",
            };
            write_scores(p, &reference, model.classes(), prefix, scores.view())?;
        } else {
            write_labels(p, &reference)?;
        }
    }
    environment.load_average_end = super::env::load_average();
    Ok(PredictOutcome {
        model: model.kind(),
        model_path: resolved.path,
        rows: x.nrows(),
        features: nf,
        data,
        backends,
        environment,
        settings: PredictSettings {
            min_time_seconds: job.min_time,
            min_samples: job.repeat.unwrap_or(MIN_SAMPLES).max(MIN_SAMPLES),
            warmup_seconds: match job.warmup {
                Warmup::Time(d) => Some(d.as_secs_f64()),
                Warmup::Passes(_) => None,
            },
            warmup_passes: match job.warmup {
                Warmup::Passes(n) => Some(n),
                Warmup::Time(_) => None,
            },
            threads: job.threads,
            workers: job.workers,
            chunk_rows: job.chunk_rows,
            seed: match job.source {
                RowSource::Synthetic { seed } => Some(seed),
                _ => None,
            },
        },
    })
}
