//! Contiguous chunks predicted on a rayon pool, each written straight into
//! its part of the output slice (no copies, no gathering).

use std::sync::Arc;

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

use super::chunks::chunk_rows;
use super::{Backend, CallCost};
use crate::error::{Error, Result};
use crate::model::{Classifier, Model};

pub struct Threads {
    model: Arc<Model>,
    pool: rayon::ThreadPool,
    chunk_rows: Option<usize>,
}

impl Threads {
    /// `threads == 0`: all cores.
    pub fn new(model: Arc<Model>, threads: usize, chunk_rows: Option<usize>) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cpuwall-predict-{i}"))
            .build()
            .map_err(|e| Error::Runtime(format!("cannot start the thread pool: {e}")))?;
        Ok(Threads {
            model,
            pool,
            chunk_rows,
        })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

impl Backend for Threads {
    fn name(&self) -> String {
        format!("threads({})", self.threads())
    }

    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
        super::check_batch(self.model.n_features(), x, out)?;
        let rows = x.nrows();
        let chunk = chunk_rows(
            rows,
            self.threads(),
            self.model.row_cost_ns(),
            self.chunk_rows,
        );
        if chunk >= rows {
            // One chunk: handing it to a pool thread would only add latency.
            self.model.predict_into(x, out);
            return Ok(CallCost::default());
        }
        let model = &self.model;
        self.pool.install(|| {
            out.par_chunks_mut(chunk).enumerate().for_each(|(i, oc)| {
                let start = i * chunk;
                let xc = x.slice_axis(Axis(0), (start..start + oc.len()).into());
                model.predict_into(xc, oc);
            });
        });
        Ok(CallCost::default())
    }
}
