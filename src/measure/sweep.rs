//! The sweep: every model x backend x batch size, each batch size's
//! backends compared in interleaved blocks until a minimum measured time.
//! Data is generated once at the largest size and sliced, so 1e7 x 10
//! features lives in memory once. Results are saved after every cell.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::compare::{build_all, compare};
use super::env::{load_average, Environment};
use super::results::sweep::cells_csv;
use super::results::{Cell, Settings, SweepResults};
use super::run::{warm_up, warmup_arg, Repeats, Warmup};
use crate::atomic::{refuse_overwriting_inputs, write_atomic};
use crate::data::count::parallelism_arg;
use crate::data::synth::study_data;
use crate::error::{Error, Result};
use crate::exec::build::{cores, current_exe, BackendSetup};
use crate::exec::BackendKind;
use crate::model::{ModelKind, Predictor};
use crate::tune::train::{model_path, resolve_model};

/// `dir/NAME.partial.EXT` for `dir/NAME.EXT`.
pub fn partial_path(out: &std::path::Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}.partial.{}", ext.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    out.with_file_name(name)
}

/// `cpuwall sweep`'s measurement options (clap), flattened into the CLI.
#[derive(Debug, clap::Args)]
pub struct SweepOptions {
    /// Models to sweep, comma-separated (each file in --models-dir, trained if missing).
    #[arg(long, default_value_t = crate::model::ModelKind::all_list())]
    pub models: String,
    /// Backends to measure, comma-separated: direct, threads, processes, auto.
    #[arg(long, default_value = "direct,threads,processes,auto")]
    pub backends: String,
    /// Batch sizes: LOW..HIGH by decade (10..1e7) or a list (10,500,1e4).
    #[arg(long, default_value = "10..1e7")]
    pub rows: String,
    /// Minimum measured time per cell (e.g. 0.2s, 200ms).
    #[arg(long, default_value = "0.2s", value_parser = crate::data::count::seconds_arg, allow_hyphen_values = true)]
    pub min_time: f64,
    /// Passes over each model's rows before timing: a duration (300ms) or a number of passes (5).
    #[arg(long, default_value = "300ms", value_parser = warmup_arg, allow_hyphen_values = true)]
    pub warmup: Warmup,
    /// At most this many timed samples per cell: caps --min-time for slow cells.
    #[arg(long, default_value_t = 1000)]
    pub max_repeats: usize,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub threads: Option<usize>,
    /// Worker processes for the processes backend (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub workers: Option<usize>,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Where nb/lr/svc/rf model files live (must exist; default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Results file (JSON); written after every cell.
    #[arg(long, default_value = "results/sweep.json")]
    pub out: PathBuf,
}

impl SweepOptions {
    pub fn job(&self) -> Result<SweepJob> {
        Ok(SweepJob {
            models: crate::model::ModelKind::parse_list(&self.models)?,
            models_dir: crate::tune::train::models_dir(&self.models_dir)?,
            backends: crate::exec::parse_backend_list(&self.backends, "--backends")?,
            rows: crate::data::count::parse_batch_sizes(&self.rows)?,
            min_time: self.min_time,
            max_repeats: self.max_repeats,
            warmup: self.warmup,
            threads: self.threads,
            workers: self.workers,
            seed: self.seed,
            out: self.out.clone(),
            exe: None,
            csv: false,
        })
    }
}

/// What to sweep and where to write it.
#[derive(Debug, Clone)]
pub struct SweepJob {
    pub models: Vec<ModelKind>,
    pub models_dir: PathBuf,
    pub backends: Vec<BackendKind>,
    pub rows: Vec<usize>,
    /// Passes over each model's rows before its first cell is timed.
    pub warmup: Warmup,
    /// Minimum measured seconds per cell...
    pub min_time: f64,
    /// ...but at most this many runs.
    pub max_repeats: usize,
    pub threads: Option<usize>,
    pub workers: Option<usize>,
    pub seed: u32,
    /// Results file (JSON). While the sweep runs, results go to
    /// [`SweepJob::partial_path`] after every cell; only a complete sweep is
    /// renamed over `out`, so an interrupted one never replaces it.
    pub out: PathBuf,
    /// Executable for process workers (default: this one).
    pub exe: Option<PathBuf>,
    /// Also write the cells as CSV beside the JSON (`out` with `.csv`),
    /// partial while running and renamed when complete, as the JSON is.
    pub csv: bool,
}

impl SweepJob {
    /// The backends in the order they are measured: direct first (the others'
    /// speedups are relative to it).
    fn ordered_backends(&self) -> Vec<BackendKind> {
        let mut b = self.backends.clone();
        b.sort_by_key(|k| *k != BackendKind::Direct);
        b
    }

    /// Number of cells a complete sweep has.
    pub fn cells(&self) -> usize {
        self.models.len() * self.rows.len() * self.backends.len()
    }

    /// `NAME.partial.json` beside `out`: the results while the sweep runs,
    /// and what an interrupted sweep leaves.
    /// The files the sweep writes, named by their options (`csv`: with
    /// `--csv`, the cells beside the JSON).
    pub fn outputs(&self, csv: bool) -> (crate::atomic::NamedPaths, crate::atomic::NamedPaths) {
        let mut out = vec![
            ("--out", self.out.clone()),
            ("--out (while running)", self.partial_path()),
        ];
        if csv {
            out.push(("--csv", self.out.with_extension("csv")));
        }
        (Vec::new(), out)
    }

    pub fn partial_path(&self) -> PathBuf {
        partial_path(&self.out)
    }

    /// Refuse a results path that is one of the model files swept.
    pub fn check_outputs(&self) -> Result<()> {
        let models: Vec<PathBuf> = self
            .models
            .iter()
            .map(|k| model_path(&self.models_dir, *k))
            .collect();
        let inputs: Vec<(&str, &std::path::Path)> = models
            .iter()
            .map(|p| ("--models-dir", p.as_path()))
            .collect();
        let partial = self.partial_path();
        refuse_overwriting_inputs(&[("--out", &self.out), ("--out", &partial)], &inputs)
    }

    /// Save the results so far (to the partial files).
    pub(crate) fn save(&self, r: &SweepResults) -> Result<()> {
        r.save(&self.partial_path())?;
        if self.csv {
            let csv = self.partial_path().with_extension("csv");
            write_atomic(&csv, cells_csv(&r.cells).as_bytes())?;
        }
        Ok(())
    }

    /// Save the final results: a complete sweep replaces `out` (and its
    /// CSV); an incomplete one stays in the partial files.
    pub(crate) fn finish(&self, r: &SweepResults) -> Result<()> {
        self.save(r)?;
        if r.complete {
            let mut moves = vec![(self.partial_path(), self.out.clone())];
            if self.csv {
                moves.push((
                    self.partial_path().with_extension("csv"),
                    self.out.with_extension("csv"),
                ));
            }
            for (from, to) in moves {
                std::fs::rename(&from, &to).map_err(|e| {
                    Error::io(
                        format!("cannot move {} to {}", from.display(), to.display()),
                        e,
                    )
                })?;
            }
        }
        Ok(())
    }

    /// `--backends mpi` runs with direct only: every rank runs the same
    /// command. Whether this job is an MPI sweep (only an `mpi` build can
    /// parse `--backends mpi`).
    pub fn is_mpi(&self) -> Result<bool> {
        #[cfg(feature = "mpi")]
        if self.backends.contains(&BackendKind::Mpi) {
            if self
                .backends
                .iter()
                .any(|b| !matches!(b, BackendKind::Mpi | BackendKind::Direct))
            {
                return Err(Error::usage(
                    "--backends mpi runs with direct only (every rank runs the same command); drop the others",
                ));
            }
            return Ok(true);
        }
        Ok(false)
    }
}

/// Run `job`, saving after every cell. `notify` hears lines for people (a
/// default model trained), `on_cell` the results after every finished cell
/// (the newest last); `stop` ends the sweep early
/// between cells, leaving it incomplete.
pub fn sweep(
    job: &SweepJob,
    stop: &AtomicBool,
    notify: &dyn Fn(&str),
    on_cell: &mut dyn FnMut(&SweepResults) -> Result<()>,
) -> Result<SweepResults> {
    job.check_outputs()?;
    // One sweep at a time writes a results file (and its partial file).
    let _lock = crate::atomic::lock_output(&job.out, "cpuwall sweep")?;
    let max_rows = *job
        .rows
        .iter()
        .max()
        .ok_or_else(|| Error::usage("no batch sizes to sweep"))?;
    crate::data::check_memory(max_rows as u64, 10, 2)?;
    let backends = job.ordered_backends();
    let (threads, workers) = (
        job.threads.unwrap_or_else(cores).max(1),
        job.workers.unwrap_or_else(cores).max(1),
    );
    let exe = match &job.exe {
        Some(e) => e.clone(),
        None => current_exe()?,
    };
    let mut models = Vec::new();
    for k in &job.models {
        let r = resolve_model(k.short(), &job.models_dir)?;
        if let Some(n) = r.notice() {
            notify(&n);
        }
        models.push(r);
    }
    let settings = Settings {
        models: job.models.iter().map(|k| k.short().to_string()).collect(),
        backends: backends.iter().map(|b| b.as_str().to_string()).collect(),
        rows: job.rows.iter().map(|&r| r as u64).collect(),
        min_time_seconds: job.min_time,
        max_repeats: job.max_repeats,
        threads,
        workers,
        seed: job.seed,
    };
    let mut results = SweepResults::new(Environment::capture(), settings);
    let started = Instant::now();
    let repeats = Repeats::timed(job.min_time, None, job.max_repeats);
    let mut data_cache: Option<(usize, ndarray::Array2<f64>)> = None;
    'models: for resolved in models {
        let model = Arc::new(resolved.stored.model);
        let name = model.kind().short();
        let nf = model.n_features();
        if data_cache.as_ref().is_none_or(|(f, _)| *f != nf) {
            data_cache = Some((nf, study_data(max_rows, nf, job.seed)?.x));
        }
        let x_all = &data_cache.as_ref().expect("just made").1;
        warm_up(
            model.as_ref(),
            x_all.view(),
            &mut vec![0i64; x_all.nrows() * model.n_outputs()],
            job.warmup,
        );
        let setup = BackendSetup {
            threads,
            workers,
            exe: exe.clone(),
            ..BackendSetup::new(
                model.clone(),
                resolved.path,
                resolved.stored.header.data_hash,
            )?
        };
        let mut contenders = build_all(&backends, &setup)?;
        for &rows in &job.rows {
            if stop.load(Ordering::SeqCst) {
                break 'models;
            }
            let x = x_all.slice(ndarray::s![..rows, ..]);
            let mut reference = vec![0i64; rows * model.n_outputs()];
            model.predict_into(x, &mut reference);
            let compared = compare(&mut contenders, x, &reference, repeats, false, &|| {
                stop.load(Ordering::SeqCst)
            })?;
            for c in compared {
                results.cells.push(Cell::from_compared(name, &c));
                results.update_noise();
                results.elapsed_seconds = started.elapsed().as_secs_f64();
                job.save(&results)?;
                on_cell(&results)?;
            }
        }
    }
    results.complete = !stop.load(Ordering::SeqCst);
    results.header.environment.load_average_end = load_average();
    results.elapsed_seconds = started.elapsed().as_secs_f64();
    job.finish(&results)?;
    Ok(results)
}
