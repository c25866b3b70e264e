//! The sweep: every model x backend x batch size, each cell warmed up and
//! repeated until a minimum measured time. Data is generated once at the
//! largest size and sliced, so 1e7 x 10 features lives in memory once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::results::{Cell, SweepResults};
use super::run::{measure_interleaved, warm_up, Repeats};
use crate::data::synth::study_data;
use crate::error::{Error, Result};
use crate::exec::auto::Auto;
use crate::exec::direct::Direct;
use crate::exec::processes::{config, ProcessPool};
use crate::exec::threads::Threads;
use crate::exec::{Backend, BackendKind};
use crate::model::{Classifier, Model};

pub struct SweepModel {
    pub name: String,
    pub path: PathBuf,
    pub model: Arc<Model>,
}

pub struct SweepSpec {
    pub models: Vec<SweepModel>,
    pub backends: Vec<BackendKind>,
    pub rows: Vec<usize>,
    pub min_time: f64,
    pub max_repeats: usize,
    pub threads: usize,
    pub workers: usize,
    pub seed: u32,
    /// Executable for process workers.
    pub exe: PathBuf,
    /// Batch size from which `auto` uses threads.
    pub auto_threads_from: Vec<usize>,
}

/// Batch sizes by decade from `lo` to `hi` (both included when powers of ten).
pub fn decades(lo: u64, hi: u64) -> Result<Vec<usize>> {
    if lo == 0 || hi < lo {
        return Err(Error::usage(format!(
            "empty sweep range {lo}..{hi}: give LOW..HIGH with 1 <= LOW <= HIGH, e.g. 10..1e7"
        )));
    }
    let mut v = Vec::new();
    let mut r = lo;
    while r <= hi {
        v.push(r as usize);
        r = r.saturating_mul(10);
    }
    Ok(v)
}

/// Run the sweep. `on_cell` sees every finished cell (to save and report
/// progress); `stop` ends it early between cells, leaving it incomplete.
pub fn run_sweep(
    spec: &SweepSpec,
    results: &mut SweepResults,
    stop: &AtomicBool,
    on_cell: &mut dyn FnMut(&SweepResults) -> Result<()>,
) -> Result<()> {
    let started = Instant::now();
    let base_elapsed = results.elapsed_seconds;
    let max_rows = *spec
        .rows
        .iter()
        .max()
        .ok_or_else(|| Error::usage("no batch sizes to sweep"))?;
    let repeats = Repeats {
        min_seconds: spec.min_time,
        min_runs: 1,
        max_runs: spec.max_repeats.max(1),
    };
    let mut data_cache: Option<(usize, ndarray::Array2<f64>)> = None;
    for (mi, m) in spec.models.iter().enumerate() {
        let nf = m.model.n_features();
        if data_cache.as_ref().is_none_or(|(f, _)| *f != nf) {
            data_cache = Some((nf, study_data(max_rows, nf, spec.seed)?.x));
        }
        let x_all = &data_cache.as_ref().expect("just made").1;
        warm_up(
            m.model.as_ref(),
            x_all.view(),
            &mut vec![0i64; x_all.nrows()],
            super::run::WARM_UP,
        );
        let mut backends: Vec<(BackendKind, Box<dyn Backend>)> = Vec::new();
        for kind in &spec.backends {
            let b: Box<dyn Backend> = match kind {
                BackendKind::Direct => Box::new(Direct::new(m.model.clone())),
                BackendKind::Threads => {
                    Box::new(Threads::new(m.model.clone(), spec.threads, None)?)
                }
                BackendKind::Processes => Box::new(ProcessPool::start(config(
                    &spec.exe,
                    &m.path,
                    spec.workers,
                    Duration::from_secs(600),
                ))?),
                BackendKind::Auto => Box::new(Auto::new(
                    m.model.clone(),
                    Threads::new(m.model.clone(), spec.threads, None)?,
                    spec.auto_threads_from
                        .get(mi)
                        .copied()
                        .unwrap_or(usize::MAX),
                )),
                BackendKind::Mpi => {
                    return Err(Error::usage(
                        "the mpi backend is not available in this build",
                    ))
                }
            };
            backends.push((*kind, b));
        }
        for &rows in &spec.rows {
            let x = x_all.slice(ndarray::s![..rows, ..]);
            let mut reference = vec![0i64; rows];
            m.model.predict_into(x, &mut reference);
            let mut out = vec![0i64; rows];
            if stop.load(Ordering::SeqCst) {
                results.elapsed_seconds = base_elapsed + started.elapsed().as_secs_f64();
                return Ok(());
            }
            // All backends of one batch size in interleaved blocks, so their
            // ratios are not the machine's drift between them.
            let mut identical = vec![false; backends.len()];
            let measured = {
                let mut handles: Vec<&mut dyn Backend> = Vec::new();
                for (_, b) in backends.iter_mut() {
                    handles.push(b.as_mut());
                }
                measure_interleaved(
                    &mut handles,
                    x,
                    &mut out,
                    repeats,
                    |i, got| identical[i] = got == reference.as_slice(),
                    &|| stop.load(Ordering::SeqCst),
                )?
            };
            let direct_wall = backends
                .iter()
                .zip(&measured)
                .find(|((kind, _), _)| *kind == BackendKind::Direct)
                .map(|(_, m)| m.wall_seconds.median);
            for (((kind, _), meas), same) in backends.iter().zip(&measured).zip(&identical) {
                results.cells.push(Cell::from_measured(
                    &m.name,
                    kind.as_str(),
                    meas,
                    direct_wall,
                    *same,
                ));
                results.update_noise();
                results.elapsed_seconds = base_elapsed + started.elapsed().as_secs_f64();
                on_cell(results)?;
            }
        }
    }
    results.elapsed_seconds = base_elapsed + started.elapsed().as_secs_f64();
    results.complete = true;
    Ok(())
}
