//! The one place backends are built: every command, the sweep and the
//! benches ask [`BackendKind::build`] for the backends they compare.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::auto::{threshold_for, Auto};
use super::direct::Direct;
use super::processes::{PoolConfig, ProcessPool};
use super::threads::Threads;
use super::{Backend, BackendKind};
use crate::error::{Error, Result};
use crate::model::Model;

/// What any backend needs to run one model.
#[derive(Clone)]
pub struct BackendSetup {
    pub model: Arc<Model>,
    /// The model's file: worker processes load it.
    pub model_path: PathBuf,
    /// Hash of the training data: keys auto's cached crossover.
    pub data_hash: String,
    /// Threads for `threads` and `auto`.
    pub threads: usize,
    /// Processes for `processes`.
    pub workers: usize,
    /// Rows per chunk for `threads` (None: sized by the model's cost).
    pub chunk_rows: Option<usize>,
    /// Batch size from which `auto` uses threads (None: measured once, cached).
    pub threads_from: Option<usize>,
    /// Longest a worker may take for its share of a call.
    pub worker_timeout: Duration,
    /// The `cpuwall` executable workers start from.
    pub exe: PathBuf,
}

impl BackendSetup {
    /// Every core for threads and workers, default chunks, measured crossover.
    pub fn new(model: Arc<Model>, model_path: PathBuf, data_hash: String) -> Result<Self> {
        let cores = cores();
        Ok(BackendSetup {
            model,
            model_path,
            data_hash,
            threads: cores,
            workers: cores,
            chunk_rows: None,
            threads_from: None,
            worker_timeout: Duration::from_secs(600),
            exe: current_exe()?,
        })
    }
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The executable workers are started from: this one (the `cpuwall` binary).
pub fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("cannot locate the cpuwall executable", e))
}

impl BackendKind {
    /// This backend for `setup`'s model. A process pool starts its workers
    /// here (its [`Backend::startup_seconds`] says how long that took).
    pub fn build(self, setup: &BackendSetup) -> Result<Box<dyn Backend>> {
        let threads = || Threads::new(setup.model.clone(), setup.threads, setup.chunk_rows);
        Ok(match self {
            BackendKind::Direct => Box::new(Direct::new(setup.model.clone())),
            BackendKind::Threads => Box::new(threads()?),
            BackendKind::Auto => {
                let mut t = threads()?;
                let from = match setup.threads_from {
                    Some(v) => v,
                    None => threshold_for(&setup.model, &setup.data_hash, &mut t)?,
                };
                Box::new(Auto::new(setup.model.clone(), t, from))
            }
            BackendKind::Processes => Box::new(ProcessPool::start(PoolConfig {
                exe: setup.exe.clone(),
                model_path: setup.model_path.clone(),
                workers: setup.workers,
                timeout: setup.worker_timeout,
                env: Vec::new(),
            })?),
            BackendKind::Mpi => {
                return Err(Error::usage(
                    "the mpi backend runs under mpirun (every rank runs the same command), alone or with direct",
                ))
            }
        })
    }
}
