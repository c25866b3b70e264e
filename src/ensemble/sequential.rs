//! Members one after another; each member's batches are split over every
//! core by a spinning [`Team`] (the way a framework's intra-op parallelism
//! runs one model), probabilities averaged afterwards.

use super::team::Team;
use super::{check_run, scatter_member, Ensemble, RunCost, Runner, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::Result;

pub struct Sequential {
    runners: Vec<Runner>,
    team: Team,
}

impl Sequential {
    pub fn new(ensemble: &Ensemble) -> Result<Self> {
        let runners = ensemble.runners()?;
        Ok(Sequential {
            runners,
            team: Team::all_cores(),
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
        for (m, runner) in self.runners.iter().enumerate() {
            for (x, p) in pixels
                .chunks(batch_size * PIXELS)
                .zip(probs.chunks_mut(batch_size * CLASSES))
            {
                runner.forward(x, p, Some(&self.team))?;
            }
            scatter_member(&probs, m, members, out);
        }
        Ok(RunCost::default())
    }
}
