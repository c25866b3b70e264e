//! `predict` and `sweep` across MPI ranks (cargo feature `mpi`), run under
//! `mpirun`/`srun`: every rank runs the same job on its own range of rows
//! (exec's cluster runner), rank 0 gathers labels and CPU times, checks them
//! against direct and keeps the results.

use std::time::Instant;

use super::predict::PredictJob;
use super::results::{Cell, Settings, SweepResults};
use super::run::{measure, Measured, Repeats};
use super::stats::{median_ci95, speedup, Spread, MIN_SAMPLES};
use super::sweep::SweepJob;
use crate::clock::Usage;
use crate::data::count::format_count;
use crate::data::source::{RowSource, DEFAULT_ROWS};
use crate::error::{Error, Result};
use crate::exec::build::BackendSetup;
use crate::exec::mpi::{local_rows, predict_local, Cluster, MpiRun};
use crate::exec::BackendKind;
use crate::measure::env::{load_average, Environment};
use crate::model::{store, ModelKind, Predictor};
use crate::tune::train::{model_file, resolve_model};

/// Test hook: the rank named here panics once the job is running (test
/// builds only: a release build has no debug assertions and ignores it).
pub const PANIC_RANK_ENV: &str = "CPUWALL_TEST_PANIC_RANK";

/// What an MPI predict measured (rank 0).
#[derive(Debug, Clone)]
pub struct MpiPredictOutcome {
    pub model: ModelKind,
    pub model_path: std::path::PathBuf,
    pub rows: usize,
    pub features: usize,
    pub data: String,
    pub ranks: usize,
    pub runs: usize,
    pub wall_seconds: Spread,
    /// 95% CI of the median wall (order statistics over the runs).
    pub wall_seconds_ci95: [f64; 2],
    /// The run whose wall time is closest to the median.
    pub median: MpiRun,
    /// Labels equal direct's, and direct's wall (up to 1e7 rows: direct
    /// needs every row in one process).
    pub check: Option<(bool, f64)>,
    /// Every run's wall seconds, in order (the raw runs).
    pub walls: Vec<f64>,
    /// Rank 0's machine and build.
    pub environment: Environment,
}

impl MpiPredictOutcome {
    /// CPU inside the predict calls, all ranks.
    pub fn predict_cpu(&self) -> f64 {
        self.median
            .ranks
            .iter()
            .map(|r| r.predict_cpu_seconds)
            .sum()
    }
    /// CPU spent in the gather (busy-polling MPI), all ranks.
    pub fn gather_cpu(&self) -> f64 {
        self.median.ranks.iter().map(|r| r.gather_cpu_seconds).sum()
    }
    pub fn cpu_per_wall(&self) -> f64 {
        self.predict_cpu() / self.median.wall_seconds
    }
    pub fn speedup_vs_direct(&self) -> Option<f64> {
        self.check
            .map(|(_, d)| speedup(d, self.median.wall_seconds))
    }
}

/// `job` across the ranks of the MPI job this process belongs to; `Some` on
/// rank 0.
pub fn predict(job: &PredictJob) -> Result<Option<MpiPredictOutcome>> {
    let cluster = Cluster::init()?;
    cluster.on_every_rank(|| predict_on(&cluster, job))
}

fn predict_on(cluster: &Cluster, job: &PredictJob) -> Result<Option<MpiPredictOutcome>> {
    if cfg!(debug_assertions)
        && std::env::var(PANIC_RANK_ENV)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            == Some(cluster.rank)
    {
        cluster.barrier();
        panic!("test panic on rank {} ({PANIC_RANK_ENV})", cluster.rank);
    }
    // Rank 0 trains a missing default model; the others wait, then load it.
    let path = model_file(&job.model, &job.models_dir);
    if cluster.is_root() {
        resolve_model(&job.model, &job.models_dir)?;
    }
    cluster.barrier();
    let stored = store::load(&path)?;
    let names = stored.header.features();
    let model = stored.model;
    let nf = model.n_features();
    let source = job.source.clone();
    let (total, data) = match &source {
        RowSource::Npy(p) => {
            let rows = crate::data::npy::shape(p)?.first().copied().unwrap_or(0);
            (rows, format!("{} ({} rows)", p.display(), rows))
        }
        RowSource::Csv {
            path,
            label,
            delimiter,
            ..
        } => {
            let rows = crate::data::csv::read_features(path, label, *delimiter)?
                .x
                .nrows();
            (rows, format!("{} ({} rows)", path.display(), rows))
        }
        RowSource::Synthetic { seed } => {
            let rows = job.rows.unwrap_or(DEFAULT_ROWS);
            if rows == 0 {
                return Err(Error::usage("--rows 0: give at least one row to predict"));
            }
            crate::data::check_memory(rows.div_ceil(cluster.size as u64), nf as u64, 1)?;
            (
                rows as usize,
                format!(
                    "blocked make_classification({} x {nf}, seed {seed})",
                    format_count(rows)
                ),
            )
        }
    };
    let repeats = job.repeat.unwrap_or(0).max(MIN_SAMPLES);
    let load_start = load_average();
    let (x, generated) = local_rows(cluster, &names, total, &source)?;
    predict_local(cluster, &model, total, x.view(), generated)?; // warm-up
    let mut runs: Vec<MpiRun> = Vec::new();
    for _ in 0..repeats {
        if let Some(run) = predict_local(cluster, &model, total, x.view(), generated)? {
            runs.push(run);
        }
    }
    drop(x);
    if !cluster.is_root() {
        return Ok(None);
    }
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_seconds).collect();
    let spread = Spread::of(&walls);
    let median = runs
        .iter()
        .min_by(|x, y| {
            (x.wall_seconds - spread.median)
                .abs()
                .total_cmp(&(y.wall_seconds - spread.median).abs())
        })
        .expect("runs")
        .clone();
    // The check against direct needs all rows in one process.
    let check = (total <= 10_000_000)
        .then(|| -> Result<(bool, f64)> {
            let x = source.rows(0..total, &names)?;
            let t = Instant::now();
            let expected = model.predict(x.view());
            Ok((expected == median.labels, t.elapsed().as_secs_f64()))
        })
        .transpose()?;
    Ok(Some(MpiPredictOutcome {
        model: model.kind(),
        model_path: path,
        rows: total,
        features: nf,
        data,
        ranks: cluster.size,
        runs: runs.len(),
        wall_seconds: spread,
        wall_seconds_ci95: median_ci95(&walls),
        median,
        check,
        walls,
        environment: {
            let mut e = Environment::capture();
            e.load_average_start = load_start;
            e
        },
    }))
}

/// A sweep of direct (rank 0, on the very rows the ranks make, up to 1e7
/// rows) and mpi: every rank walks the same cells; rank 0 decides the
/// repeats, writes the results file after every cell (`on_cell` hears each)
/// and returns them.
pub fn sweep(
    job: &SweepJob,
    on_cell: &mut dyn FnMut(&SweepResults),
) -> Result<Option<SweepResults>> {
    let cluster = Cluster::init()?;
    cluster.on_every_rank(|| sweep_on(&cluster, job, on_cell))
}

fn sweep_on(
    cluster: &Cluster,
    job: &SweepJob,
    on_cell: &mut dyn FnMut(&SweepResults),
) -> Result<Option<SweepResults>> {
    job.check_outputs()?;
    if cluster.is_root() {
        for k in &job.models {
            resolve_model(k.short(), &job.models_dir)?;
        }
    }
    cluster.barrier();
    let mut results = cluster.is_root().then(|| {
        SweepResults::new(
            Environment::capture(),
            Settings {
                models: job.models.iter().map(|k| k.short().to_string()).collect(),
                backends: vec!["direct".into(), "mpi".into()],
                rows: job.rows.iter().map(|&r| r as u64).collect(),
                min_time_seconds: job.min_time,
                max_repeats: job.max_repeats,
                threads: 1,
                workers: cluster.size,
                seed: job.seed,
            },
        )
    });
    let started = Instant::now();
    let source = RowSource::Synthetic { seed: job.seed };
    for k in &job.models {
        let path = model_file(k.short(), &job.models_dir);
        let stored = store::load(&path)?;
        let setup = BackendSetup::new(
            std::sync::Arc::new(stored.model),
            path,
            stored.header.data_hash.clone(),
        )?;
        let model = &setup.model;
        let names = crate::data::columns::Features::unnamed(model.n_features());
        for &n in &job.rows {
            // Direct on rank 0, on the very rows the ranks will make.
            let mut reference = None;
            if let Some(res) = results.as_mut().filter(|_| n <= 10_000_000) {
                let x = source.rows(0..n, &names)?;
                let mut out = vec![0i64; n * model.n_outputs()];
                let m = measure(
                    &mut *BackendKind::Direct.build(&setup)?,
                    x.view(),
                    &mut out,
                    Repeats::timed(job.min_time, None, job.max_repeats),
                )?;
                let direct_wall = m.wall_seconds.median;
                res.cells.push(Cell::from_measured(
                    k.short(),
                    "direct",
                    &m,
                    Some(direct_wall),
                    true,
                ));
                reference = Some((out, direct_wall));
            }
            let (x, generated) = local_rows(cluster, &names, n, &source)?;
            predict_local(cluster, model, n, x.view(), generated)?; // warm-up
            let mut usages = Vec::new();
            let mut labels = Vec::new();
            loop {
                if let Some(run) = predict_local(cluster, model, n, x.view(), generated)? {
                    let own = &run.ranks[0];
                    usages.push(Usage {
                        wall_seconds: run.wall_seconds,
                        own_cpu_seconds: own.predict_cpu_seconds + own.gather_cpu_seconds,
                        worker_cpu_seconds: run.ranks[1..]
                            .iter()
                            .map(|r| r.predict_cpu_seconds + r.gather_cpu_seconds)
                            .sum(),
                        calls: 1,
                        parallelism: run.ranks.len(),
                    });
                    labels = run.labels;
                }
                let total: f64 = usages.iter().map(|u| u.wall_seconds).sum();
                let more = cluster.is_root()
                    && (usages.len() < MIN_SAMPLES
                        || (total < job.min_time && usages.len() < job.max_repeats));
                if !cluster.broadcast_flag(more) {
                    break;
                }
            }
            if let Some(res) = results.as_mut() {
                let m = Measured::from_runs(n, &usages);
                let direct = reference.as_ref().map(|r| r.1);
                let same = reference.as_ref().is_none_or(|r| r.0 == labels);
                res.cells
                    .push(Cell::from_measured(k.short(), "mpi", &m, direct, same));
                res.update_noise();
                res.elapsed_seconds = started.elapsed().as_secs_f64();
                job.save(res)?;
                on_cell(res);
            }
        }
    }
    if let Some(res) = results.as_mut() {
        res.complete = true;
        res.header.environment.load_average_end = load_average();
        res.elapsed_seconds = started.elapsed().as_secs_f64();
        job.finish(res)?;
    }
    Ok(results)
}
