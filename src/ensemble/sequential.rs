//! Members one after another; each member's batches use every core (the
//! way a framework's intra-op parallelism runs one model), probabilities
//! averaged afterwards.

use super::{check_run, scatter_member, Ensemble, RunCost, Runner, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::Result;

pub struct Sequential {
    runners: Vec<Runner>,
    pool: rayon::ThreadPool,
}

impl Sequential {
    pub fn new(ensemble: &Ensemble) -> Result<Self> {
        let runners = ensemble
            .members
            .iter()
            .zip(&ensemble.devices)
            .map(|(w, &d)| Runner::new(w, d))
            .collect::<Result<_>>()?;
        Ok(Sequential {
            runners,
            pool: super::all_cores_pool("the sequential strategy")?,
        })
    }
}

impl Strategy for Sequential {
    fn name(&self) -> &'static str {
        "sequential"
    }

    fn run(&mut self, pixels: &[u8], batch_size: usize, out: &mut [f32]) -> Result<RunCost> {
        let members = self.runners.len();
        let n = check_run(pixels, members, batch_size, out)?;
        let mut probs = vec![0f32; n * CLASSES];
        let runners = &self.runners;
        self.pool.install(|| {
            for (m, runner) in runners.iter().enumerate() {
                for (x, p) in pixels
                    .chunks(batch_size * PIXELS)
                    .zip(probs.chunks_mut(batch_size * CLASSES))
                {
                    runner.forward(x, p, true)?;
                }
                scatter_member(&probs, m, members, out);
            }
            Ok(RunCost::default())
        })
    }
}
