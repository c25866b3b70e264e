//! Members concurrently in this process: one OS thread per member, each
//! with its own team of `cores / members` threads (at least one, i.e. just
//! the member's thread). Per-member threads matter: with one global rayon
//! pool of one thread, members spawned on std threads serialise on it.

use super::team::Team;
use super::{check_run, scatter_member, Ensemble, RunCost, Runner, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};

pub struct Threads {
    runners: Vec<Runner>,
    /// Threads per member (cores / members, at least 1).
    per_member: usize,
}

impl Threads {
    pub fn new(ensemble: &Ensemble) -> Result<Self> {
        let runners = ensemble.runners()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_member = (cores / runners.len().max(1)).max(1);
        Ok(Threads {
            runners,
            per_member,
        })
    }
}

impl Strategy for Threads {
    fn name(&self) -> &'static str {
        "threads"
    }

    fn run(&mut self, pixels: &[u8], batch_size: usize, out: &mut [f32]) -> Result<RunCost> {
        let members = self.runners.len();
        let n = check_run(pixels, members, batch_size, out)?;
        let results: Vec<Result<Vec<f32>>> = std::thread::scope(|s| {
            let per_member = self.per_member;
            let handles: Vec<_> = self
                .runners
                .iter()
                .enumerate()
                .map(|(m, runner)| {
                    std::thread::Builder::new()
                        .name(format!("member-{m}"))
                        .spawn_scoped(s, move || {
                            // More cores than members: each member splits its
                            // batches over its own small team.
                            let team = (per_member > 1).then(|| Team::new(per_member));
                            let mut probs = vec![0f32; n * CLASSES];
                            for (x, p) in pixels
                                .chunks(batch_size * PIXELS)
                                .zip(probs.chunks_mut(batch_size * CLASSES))
                            {
                                runner.forward(x, p, team.as_ref())?;
                            }
                            Ok(probs)
                        })
                        .map_err(|e| {
                            Error::Runtime(format!("cannot start member {m}'s thread: {e}"))
                        })
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(m, h)| {
                    h?.join().unwrap_or_else(|_| {
                        Err(Error::Runtime(format!("member {m}'s thread panicked")))
                    })
                })
                .collect()
        });
        for (m, r) in results.into_iter().enumerate() {
            scatter_member(&r?, m, members, out);
        }
        Ok(RunCost::default())
    }
}
