//! Contiguous chunks predicted by a team of threads (the caller plus
//! `threads - 1` helpers), each chunk written straight into its part of the
//! output slice (no copies, no gathering). Members take chunks in order from
//! one atomic counter, so a slow member takes fewer of them.
//!
//! Why not a rayon pool: on a 2-core VM a rayon call costs two
//! sleep/wake-ups of halted vCPUs (the idle worker, then the blocked
//! caller), tens of microseconds, which made rayon slower than direct on
//! batches a team already speeds up (the measured record:
//! `docs/backends.md`).
//! The caller works on a chunk too, and idle helpers spin (yielding the core
//! to anything runnable) for 5 ms before they park, so back-to-back calls
//! find them awake; that spinning is CPU this process really uses, and the
//! CPU clock counts it. Every `Threads` of one size shares one team.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ndarray::{ArrayView2, Axis};

use super::chunks::chunk_rows;
use super::team::Team;
use super::{Backend, CallCost};
use crate::error::{Error, Result};
use crate::model::{Model, Predictor};

pub struct Threads {
    model: Arc<Model>,
    team: Arc<Team>,
    chunk_rows: Option<usize>,
}

/// The output's base pointer, shared with the team for one call.
struct OutPtr<T>(*mut T);
impl<T> Clone for OutPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for OutPtr<T> {}
// SAFETY: members write disjoint chunks (see `Threads::run`).
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// A method, so closures capture the whole (Sync) wrapper, not the field.
    fn at(self, offset: usize) -> *mut T {
        self.0.wrapping_add(offset)
    }
}

impl Threads {
    pub fn new(model: Arc<Model>, threads: usize, chunk_rows: Option<usize>) -> Result<Self> {
        if threads == 0 {
            return Err(Error::usage("--threads must be at least 1"));
        }
        Ok(Threads {
            model,
            team: Team::shared(threads),
            chunk_rows,
        })
    }

    pub fn threads(&self) -> usize {
        self.team.size()
    }
}

impl Backend for Threads {
    fn name(&self) -> String {
        format!("threads({})", self.threads())
    }

    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
        self.run(x, out, None)
    }

    /// Each chunk is predicted through [`Predictor::predict_vouching`]: the
    /// models that vouch for their rows (nb, lr, svc) read them once; when a
    /// chunk cannot vouch (a forest, an ensemble) or saw a non-finite score,
    /// the rows are checked afterwards on every thread. Before, a checking
    /// pass over 1e6 x 10 rows preceded the prediction.
    fn predict_finite(
        &mut self,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
        origin: &std::path::Path,
    ) -> Result<CallCost> {
        let vouched = AtomicBool::new(true);
        let cost = self.run(x, out, Some(&vouched))?;
        if !vouched.into_inner() {
            crate::data::check_finite_parallel(
                x,
                origin,
                self.threads(),
                self.model.routes_missing(),
            )?;
        }
        Ok(cost)
    }

    /// Each chunk's scores on the member that takes it, written into its
    /// rows of one output: the same chunks as labels.
    fn scores(&mut self, x: ArrayView2<'_, f64>) -> Result<(ndarray::Array2<f64>, CallCost)> {
        super::check_features(self.model.n_features(), x)?;
        let width = self
            .model
            .scores(x.slice_axis(Axis(0), (0..0).into()))
            .1
            .ncols();
        let mut out = ndarray::Array2::<f64>::zeros((x.nrows(), width));
        let model = &self.model;
        let flat = out.as_slice_mut().expect("a new array is contiguous");
        let cost = self.chunked(x.nrows(), flat, width, &|rows, o: &mut [f64]| {
            let (_, s) = model.scores(x.slice_axis(Axis(0), rows.into()));
            o.copy_from_slice(s.as_slice().expect("scores are contiguous"));
        })?;
        Ok((out, cost))
    }

    fn rest(&mut self) {
        self.team.rest();
    }
}

impl Threads {
    /// Predict in chunks; with `vouched`, through `predict_vouching`,
    /// clearing it when a chunk does not vouch for its rows.
    fn run(
        &mut self,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
        vouched: Option<&AtomicBool>,
    ) -> Result<CallCost> {
        super::check_batch(super::shape(&self.model), x, out)?;
        let rows = x.nrows();
        let model = &self.model;
        let predict = |x: ArrayView2<'_, f64>, out: &mut [i64]| match vouched {
            None => model.predict_into(x, out),
            Some(v) => {
                if model.predict_vouching(x, out) != Some(true) {
                    v.store(false, Ordering::Relaxed);
                }
            }
        };
        self.chunked(
            rows,
            out,
            model.n_outputs(),
            &|r: std::ops::Range<usize>, o: &mut [i64]| predict(x.slice_axis(Axis(0), r.into()), o),
        )
    }

    /// `rows` rows in chunks sized for the model, each handed to `f` (its
    /// row range, and its part of `out`: `width` values a row) on the team
    /// member that takes it; one call on this thread when one chunk holds
    /// them all.
    fn chunked<T: Send>(
        &self,
        rows: usize,
        out: &mut [T],
        width: usize,
        f: &(dyn Fn(std::ops::Range<usize>, &mut [T]) + Sync),
    ) -> Result<CallCost> {
        let chunk = chunk_rows(
            rows,
            self.threads(),
            self.model.row_cost_ns(),
            self.chunk_rows,
        );
        if chunk >= rows || self.threads() == 1 {
            f(0..rows, out);
            return Ok(CallCost::default());
        }
        let chunks = rows.div_ceil(chunk);
        let next = AtomicUsize::new(0);
        let working = AtomicUsize::new(0);
        let base = OutPtr(out.as_mut_ptr());
        let helper_cpu = self.team.run(&|_member| {
            let mut took = false;
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    break;
                }
                took = true;
                let start = c * chunk;
                let end = (start + chunk).min(rows);
                // SAFETY: the counter hands out each chunk index once, chunks are
                // disjoint ranges of `out`, and `run` returns only after every
                // member is done, while `out` is still borrowed by this call.
                let oc = unsafe {
                    std::slice::from_raw_parts_mut(base.at(start * width), (end - start) * width)
                };
                f(start..end, oc);
            }
            if took {
                working.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(CallCost {
            helper_cpu_seconds: Some(helper_cpu.as_secs_f64()),
            parallelism: working.into_inner().max(1),
            ..CallCost::default()
        })
    }
}
