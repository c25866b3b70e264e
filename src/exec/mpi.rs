//! The MPI backend (cargo feature `mpi`): the same job across ranks started
//! by `mpirun`/`srun`. Every rank runs the same program; rank r makes or
//! reads only its own contiguous range of rows (scattering 1e7 rows from
//! rank 0 moved 0.4 GB for 0.1 s of prediction), predicts it, and only the
//! labels and per-rank timings travel back to rank 0.
//!
//! Failure never hangs the job: a panic or an error on any rank calls
//! `MPI_Abort`, and a binary started by another MPI's launcher (N copies
//! that each see a world of one) is refused.

use std::ops::Range;

use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;
use serde::{Deserialize, Serialize};

use super::chunks::split_even;
use crate::clock::Snapshot;
use crate::data::source::RowSource;
use crate::error::{Error, Result};
use crate::model::{Model, Predictor};

/// Largest number of elements one collective call moves (MPI counts are i32).
const MAX_ELEMENTS_PER_CALL: usize = 1 << 28;

pub struct Cluster {
    _universe: mpi::environment::Universe,
    pub world: SimpleCommunicator,
    pub rank: usize,
    pub size: usize,
}

/// Environment variables by which launchers announce the job size.
const LAUNCHER_SIZE_VARS: [&str; 3] = ["PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"];

/// Abort the whole job from any rank (never returns).
pub fn abort(code: i32) -> ! {
    // SAFETY: MPI is initialised whenever a Cluster exists; MPI_Abort ends
    // every process of the job and does not return.
    unsafe {
        mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, code);
    }
    std::process::exit(code)
}

impl Cluster {
    /// Run `body` on this rank; an error on any rank of a multi-rank job
    /// aborts the job (others may be waiting in a collective and would hang).
    pub fn on_every_rank<T>(&self, body: impl FnOnce() -> Result<T>) -> Result<T> {
        match body() {
            Ok(v) => Ok(v),
            Err(e) if self.size > 1 => {
                eprintln!("error: rank {}: {e}", self.rank);
                abort(e.exit_code())
            }
            Err(e) => Err(e),
        }
    }

    pub fn init() -> Result<Self> {
        let universe =
            mpi::initialize().ok_or_else(|| Error::Runtime("MPI is already initialised".into()))?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        if size == 1 {
            for var in LAUNCHER_SIZE_VARS {
                if let Some(n) = std::env::var(var)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|n| *n > 1)
                {
                    return Err(Error::usage(format!(
                        "the launcher started {n} ranks ({var}={n}) but this binary's MPI sees a world of 1: it was built against a different MPI than the launcher's; rebuild against the site's MPI (MPICC=/path/to/mpicc, cargo clean -p mpi-sys)"
                    )));
                }
            }
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            eprintln!("error: rank {rank} panicked; aborting the whole MPI job");
            abort(101);
        }));
        Ok(Cluster {
            _universe: universe,
            world,
            rank,
            size,
        })
    }

    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// This rank's rows of `total`.
    pub fn my_range(&self, total: usize) -> Range<usize> {
        self.ranges(total).swap_remove(self.rank)
    }

    /// Every rank's rows of `total`, by rank (possibly empty).
    pub fn ranges(&self, total: usize) -> Vec<Range<usize>> {
        let mut ranges = split_even(total, self.size);
        // split_even drops empty ranges at the end only, so indices hold.
        ranges.resize(self.size, total..total);
        ranges
    }

    /// Gather every rank's `mine` (lengths `counts[r]`) into one vector on
    /// rank 0, in rounds small enough for 32-bit MPI counts.
    pub fn gather_varcount<T: Equivalence + Copy + Default>(
        &self,
        mine: &[T],
        counts: &[usize],
    ) -> Option<Vec<T>> {
        let root = self.world.process_at_rank(0);
        let total: usize = counts.iter().sum();
        let mut out = if self.is_root() {
            vec![T::default(); total]
        } else {
            Vec::new()
        };
        let per_round = (MAX_ELEMENTS_PER_CALL / self.size.max(1)).max(1);
        let rounds = counts
            .iter()
            .map(|c| c.div_ceil(per_round))
            .max()
            .unwrap_or(0)
            .max(1);
        let starts: Vec<usize> = counts
            .iter()
            .scan(0, |acc, c| {
                let s = *acc;
                *acc += c;
                Some(s)
            })
            .collect();
        let mut staging: Vec<T> = Vec::new();
        for round in 0..rounds {
            let part = |c: usize| c.saturating_sub(round * per_round).min(per_round);
            let lo = (round * per_round).min(mine.len());
            let send = &mine[lo..lo + part(mine.len())];
            if self.is_root() {
                let round_counts: Vec<Count> = counts.iter().map(|&c| part(c) as Count).collect();
                let displs: Vec<Count> = round_counts
                    .iter()
                    .scan(0, |acc, &c| {
                        let d = *acc;
                        *acc += c;
                        Some(d)
                    })
                    .collect();
                staging.resize(round_counts.iter().map(|&c| c as usize).sum(), T::default());
                {
                    let mut partition =
                        PartitionMut::new(&mut staging[..], round_counts.clone(), &displs[..]);
                    root.gather_varcount_into_root(send, &mut partition);
                }
                for r in 0..self.size {
                    let (d, c) = (displs[r] as usize, round_counts[r] as usize);
                    let at = starts[r] + round * per_round;
                    out[at..at + c].copy_from_slice(&staging[d..d + c]);
                }
            } else {
                root.gather_varcount_into(send);
            }
        }
        self.is_root().then_some(out)
    }

    /// Gather equal-length f64 records to rank 0.
    pub fn gather_records(&self, mine: &[f64]) -> Option<Vec<f64>> {
        let counts = vec![mine.len(); self.size];
        self.gather_varcount(mine, &counts)
    }

    /// Gather byte strings of any length to rank 0.
    pub fn gather_bytes(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
        let root = self.world.process_at_rank(0);
        let len = mine.len() as u64;
        let lens: Option<Vec<u64>> = if self.is_root() {
            let mut all = vec![0u64; self.size];
            root.gather_into_root(&len, &mut all[..]);
            Some(all)
        } else {
            root.gather_into(&len);
            None
        };
        let counts: Vec<usize> = match &lens {
            Some(l) => l.iter().map(|&v| v as usize).collect(),
            None => vec![mine.len(); self.size],
        };
        let flat = self.gather_varcount(mine, &counts)?;
        let mut out = Vec::with_capacity(self.size);
        let mut at = 0;
        for c in counts {
            out.push(flat[at..at + c].to_vec());
            at += c;
        }
        Some(out)
    }

    pub fn barrier(&self) {
        self.world.barrier();
    }

    /// Rank 0's flag, known to every rank afterwards.
    pub fn broadcast_flag(&self, value: bool) -> bool {
        let mut v = value as u8;
        self.world.process_at_rank(0).broadcast_into(&mut v);
        v != 0
    }
}

/// One rank's share of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankReport {
    pub rank: usize,
    pub rows: usize,
    pub generate_seconds: f64,
    pub predict_wall_seconds: f64,
    /// CPU inside the predict call only.
    pub predict_cpu_seconds: f64,
    /// Wall and CPU spent in the gather (busy-polling MPI burns CPU here).
    pub gather_wall_seconds: f64,
    pub gather_cpu_seconds: f64,
}

const RECORD: usize = 7;

impl RankReport {
    fn to_record(&self) -> [f64; RECORD] {
        [
            self.rank as f64,
            self.rows as f64,
            self.generate_seconds,
            self.predict_wall_seconds,
            self.predict_cpu_seconds,
            self.gather_wall_seconds,
            self.gather_cpu_seconds,
        ]
    }
    fn from_record(r: &[f64]) -> Self {
        RankReport {
            rank: r[0] as usize,
            rows: r[1] as usize,
            generate_seconds: r[2],
            predict_wall_seconds: r[3],
            predict_cpu_seconds: r[4],
            gather_wall_seconds: r[5],
            gather_cpu_seconds: r[6],
        }
    }
}

enum Gathered {
    Codes(Vec<u8>),
    Labels(Vec<i64>),
}

/// Rank 0's view of a finished run.
#[derive(Debug, Clone)]
pub struct MpiRun {
    pub labels: Vec<i64>,
    pub ranks: Vec<RankReport>,
    /// From the barrier before predicting to the gathered labels, on rank 0.
    pub wall_seconds: f64,
}

/// This rank's rows of a `total`-row job (with the model's `features`),
/// and the seconds it took to make them.
pub fn local_rows(
    cluster: &Cluster,
    features: &crate::data::columns::Features,
    total: usize,
    source: &RowSource,
) -> Result<(ndarray::Array2<f64>, f64)> {
    let t = Snapshot::now();
    let x = source.rows(cluster.my_range(total), features)?;
    Ok((x, t.wall.elapsed().as_secs_f64()))
}

/// Predict `total` rows across the cluster, each rank making its own rows
/// first; `Some` on rank 0 only.
pub fn predict(
    cluster: &Cluster,
    model: &Model,
    total: usize,
    source: &RowSource,
) -> Result<Option<MpiRun>> {
    let mut features = crate::data::columns::Features::unnamed(model.n_features());
    features.task = model.task();
    let (x, generate_seconds) = local_rows(cluster, &features, total, source)?;
    predict_local(cluster, model, total, x.view(), generate_seconds)
}

/// Predict this rank's rows `x` (from [`local_rows`]) and gather on rank 0.
pub fn predict_local(
    cluster: &Cluster,
    model: &Model,
    total: usize,
    x: ndarray::ArrayView2<'_, f64>,
    generate_seconds: f64,
) -> Result<Option<MpiRun>> {
    let range = cluster.my_range(total);
    if x.nrows() != range.len() {
        return Err(Error::Runtime(format!(
            "rank {} holds {} rows, expected {}",
            cluster.rank,
            x.nrows(),
            range.len()
        )));
    }
    // Written (not calloc'd) so page faults land here, outside the timing;
    // the "slow" zero fill is the point.
    #[allow(clippy::slow_vector_initialization)]
    let labels = {
        let mut v: Vec<i64> = Vec::new();
        v.resize(range.len() * model.n_outputs(), 0);
        v
    };
    let mut labels = labels;

    cluster.barrier();
    let start = Snapshot::now();
    model.predict_into(x.view(), &mut labels);
    let after_predict = Snapshot::now();
    // Words a rank sends: its rows times the model's outputs.
    let counts: Vec<usize> = cluster
        .ranges(total)
        .iter()
        .map(|r| r.len() * model.n_outputs())
        .collect();
    // Labels travel as one-byte class indices when they can (8x less than
    // i64 labels: the gather, not the prediction, dominated cheap models);
    // a regressor's words (its values' bits) travel whole.
    let classes = model.classes();
    let gathered = if !classes.is_empty() && classes.len() <= 256 {
        let codes: Vec<u8> = labels
            .iter()
            .map(|l| {
                classes
                    .binary_search(l)
                    .expect("a predicted label is a class") as u8
            })
            .collect();
        cluster
            .gather_varcount(&codes, &counts)
            .map(Gathered::Codes)
    } else {
        cluster
            .gather_varcount(&labels, &counts)
            .map(Gathered::Labels)
    };
    let end = Snapshot::now();
    // Expanding codes to i64 labels is output formatting, not the job.
    let gathered = gathered.map(|g| match g {
        Gathered::Codes(c) => c.iter().map(|&i| classes[i as usize]).collect::<Vec<i64>>(),
        Gathered::Labels(l) => l,
    });
    let me = RankReport {
        rank: cluster.rank,
        rows: range.len(),
        generate_seconds,
        predict_wall_seconds: after_predict.wall.duration_since(start.wall).as_secs_f64(),
        predict_cpu_seconds: (after_predict.cpu - start.cpu).as_secs_f64(),
        gather_wall_seconds: end.wall.duration_since(after_predict.wall).as_secs_f64(),
        gather_cpu_seconds: (end.cpu - after_predict.cpu).as_secs_f64(),
    };
    let records = cluster.gather_records(&me.to_record());
    Ok(gathered.map(|labels| MpiRun {
        labels,
        ranks: records
            .expect("root has records")
            .chunks_exact(RECORD)
            .map(RankReport::from_record)
            .collect(),
        wall_seconds: end.wall.duration_since(start.wall).as_secs_f64(),
    }))
}

/// Run jobs across the cluster: job j runs on rank j mod N (each rank on
/// its own rayon pool), outcomes travel to rank 0 as JSON. `Some` (every
/// outcome, in job order) on rank 0 only.
pub fn run_jobs_on_cluster<J: Sync, T: Serialize + serde::de::DeserializeOwned + Send>(
    cluster: &Cluster,
    jobs: &[J],
    run: &(dyn Fn(&J) -> T + Sync),
) -> Option<Vec<T>> {
    use rayon::prelude::*;
    let mine: Vec<(usize, T)> = jobs
        .par_iter()
        .enumerate()
        .filter(|(j, _)| j % cluster.size == cluster.rank)
        .map(|(j, job)| (j, run(job)))
        .collect();
    let bytes = serde_json::to_vec(&mine).expect("outcomes serialise");
    let all = cluster.gather_bytes(&bytes)?;
    let mut out: Vec<Option<T>> = (0..jobs.len()).map(|_| None).collect();
    for part in all {
        let decoded: Vec<(usize, T)> =
            serde_json::from_slice(&part).expect("a rank sent valid outcomes");
        for (j, o) in decoded {
            out[j] = Some(o);
        }
    }
    Some(
        out.into_iter()
            .map(|o| o.expect("every job ran on some rank"))
            .collect(),
    )
}
