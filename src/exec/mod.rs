//! Prediction backends: the same job (a model, a batch of rows, an output
//! slice) run in different ways, all with identical results.
//!
//! - `direct`: one call on the calling thread;
//! - `threads`: contiguous chunks predicted by the spinning team
//!   (`team.rs`), written in place;
//! - `processes`: a pool of `cpuwall worker` processes over shared memory;
//! - `auto`: direct or threads by batch size, from measured crossovers.
//!
//! `build.rs` is the one factory (`BackendKind::build`). MPI (feature
//! `mpi`) is not a `Backend`: every rank runs the same program, so
//! `mpi.rs` is a cluster runner that `measure::mpi` and `tune` drive.

pub mod auto;
pub mod build;
pub mod child;
pub mod chunks;
pub mod direct;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod pipe;
pub mod processes;
pub mod shm;
pub mod team;
pub mod threads;
pub mod worker;

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// What a call cost beyond the calling thread's own CPU clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallCost {
    /// CPU seconds that worker processes report for their share.
    pub worker_cpu_seconds: f64,
    /// CPU seconds other threads of this process spent on the call, each read
    /// on its own thread clock around its share. `None`: the callee does not
    /// account for its threads, so only the process clock can tell (inexact
    /// per call: see `clock`).
    pub helper_cpu_seconds: Option<f64>,
    /// Threads and worker processes that did part of the work (caller
    /// included): CPU/wall cannot exceed it.
    pub parallelism: usize,
}

impl Default for CallCost {
    /// The calling thread alone did the work.
    fn default() -> Self {
        CallCost {
            worker_cpu_seconds: 0.0,
            helper_cpu_seconds: Some(0.0),
            parallelism: 1,
        }
    }
}

pub trait Backend: Send {
    fn name(&self) -> String;
    /// Predict every row of `x` into `out` (the model's outputs a row:
    /// `out.len() == x.nrows() * n_outputs`).
    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost>;
    /// [`Backend::predict`], refusing NaN and infinite features (the error
    /// names the row and column; `origin` names the batch): the Python
    /// package's call, which checks inside the call. By default a checking
    /// pass, then the prediction.
    fn predict_finite(
        &mut self,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
        origin: &std::path::Path,
    ) -> Result<CallCost> {
        crate::data::check_finite(x, origin)?;
        self.predict(x, out)
    }
    /// Class scores of every row of `x` (probabilities, decision values or
    /// vote shares, as the model's [`crate::model::Predictor::score_kind`]
    /// says), predicted the way labels are. A backend whose workers return
    /// labels only (processes, MPI) says so: an error, never a silent
    /// fallback to another way of predicting.
    fn scores(&mut self, x: ArrayView2<'_, f64>) -> Result<(ndarray::Array2<f64>, CallCost)> {
        let _ = x;
        Err(crate::error::Error::usage(format!(
            "the {} backend gives labels only; ask for scores through direct, threads or auto",
            self.name()
        )))
    }
    /// No call is coming soon: stop any helper threads spinning for the next
    /// one (their CPU would be charged to whatever is measured meanwhile).
    fn rest(&mut self) {}
    /// Seconds the backend took to become ready when built (a process pool:
    /// spawn + model load); None when building costs nothing worth timing.
    fn startup_seconds(&self) -> Option<f64> {
        None
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Direct,
    Threads,
    Processes,
    Auto,
    Mpi,
}

impl BackendKind {
    pub const LOCAL: [BackendKind; 4] = [
        BackendKind::Direct,
        BackendKind::Threads,
        BackendKind::Processes,
        BackendKind::Auto,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Direct => "direct",
            BackendKind::Threads => "threads",
            BackendKind::Processes => "processes",
            BackendKind::Auto => "auto",
            BackendKind::Mpi => "mpi",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "direct" => Ok(BackendKind::Direct),
            "threads" => Ok(BackendKind::Threads),
            "processes" => Ok(BackendKind::Processes),
            "auto" => Ok(BackendKind::Auto),
            #[cfg(feature = "mpi")]
            "mpi" => Ok(BackendKind::Mpi),
            #[cfg(not(feature = "mpi"))]
            "mpi" => Err(Error::usage(
                "--backend mpi needs a build with the `mpi` feature (cargo build --release --features mpi) launched by mpirun",
            )),
            other => Err(Error::usage(format!(
                "unknown backend '{other}'; choose direct, threads, processes, auto or all"
            ))),
        }
    }
}

/// `direct,threads` (or `all`: every local backend) as backend kinds, in the
/// order given, without repeats; `option` names the flag in errors.
pub fn parse_backend_list(text: &str, option: &str) -> Result<Vec<BackendKind>> {
    if text.trim() == "all" {
        return Ok(BackendKind::LOCAL.to_vec());
    }
    let mut out = Vec::new();
    for p in text.split(',').filter(|s| !s.trim().is_empty()) {
        let k: BackendKind = p.parse()?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        return Err(Error::usage(format!(
            "{option} is empty; choose direct, threads, processes, auto or all"
        )));
    }
    Ok(out)
}

/// A model's features and output words a row, for [`check_batch`].
pub fn shape(model: &crate::model::Model) -> (usize, usize) {
    use crate::model::Predictor;
    (model.n_features(), model.n_outputs())
}

/// `x` has the model's feature count.
pub fn check_features(n_features: usize, x: ArrayView2<'_, f64>) -> Result<()> {
    if x.ncols() != n_features {
        return Err(Error::usage(format!(
            "the input has {} features but the model was trained on {n_features}; give data with {n_features} columns",
            x.ncols()
        )));
    }
    Ok(())
}

/// Check a batch against a model (its feature count, and its output words
/// a row) before any backend touches it.
pub fn check_batch(
    (n_features, outputs): (usize, usize),
    x: ArrayView2<'_, f64>,
    out: &[i64],
) -> Result<()> {
    check_features(n_features, x)?;
    if out.len() != x.nrows() * outputs {
        return Err(Error::Runtime(format!(
            "output buffer holds {} words for {} rows of {outputs} output(s)",
            out.len(),
            x.nrows()
        )));
    }
    Ok(())
}
