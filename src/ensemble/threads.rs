//! Members concurrently in this process: one OS thread per member, each
//! with its own rayon pool of `cores / members` threads (at least one).
//! A per-member pool matters: with one global rayon pool of one thread,
//! members spawned on std threads serialise on that one worker.

use super::{check_run, scatter_member, Ensemble, RunCost, Runner, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};

pub struct Threads {
    runners: Vec<Runner>,
    pools: Vec<rayon::ThreadPool>,
}

impl Threads {
    pub fn new(ensemble: &Ensemble) -> Result<Self> {
        let runners: Vec<Runner> = ensemble
            .members
            .iter()
            .zip(&ensemble.devices)
            .map(|(w, &d)| Runner::new(w, d))
            .collect::<Result<_>>()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = (cores / runners.len().max(1)).max(1);
        let pools = (0..runners.len())
            .map(|m| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(per)
                    .thread_name(move |i| format!("member-{m}-{i}"))
                    .build()
                    .map_err(|e| Error::Runtime(format!("cannot start member {m}'s threads: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Threads { runners, pools })
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
            let handles: Vec<_> = self
                .runners
                .iter()
                .zip(&self.pools)
                .map(|(runner, pool)| {
                    s.spawn(move || {
                        pool.install(|| {
                            let parallel = pool.current_num_threads() > 1;
                            let mut probs = vec![0f32; n * CLASSES];
                            for (x, p) in pixels
                                .chunks(batch_size * PIXELS)
                                .zip(probs.chunks_mut(batch_size * CLASSES))
                            {
                                runner.forward(x, p, parallel)?;
                            }
                            Ok(probs)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(m, h)| {
                    h.join().unwrap_or_else(|_| {
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
