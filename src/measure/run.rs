//! Timing a backend: a warm-up call, then repeats until a minimum measured
//! time (many repeats for tiny batches, few for huge ones), each repeat
//! measured on both clocks plus the CPU its workers report.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::clock::{Snapshot, Usage};
use super::stats::Spread;
use crate::error::Result;
use crate::exec::Backend;

#[derive(Debug, Clone, Copy)]
pub struct Repeats {
    /// Keep repeating until this much wall time was measured...
    pub min_seconds: f64,
    /// ...but at least this many runs...
    pub min_runs: usize,
    /// ...and at most this many.
    pub max_runs: usize,
}

impl Repeats {
    pub fn fixed(n: usize) -> Self {
        Repeats {
            min_seconds: 0.0,
            min_runs: n.max(1),
            max_runs: n.max(1),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub rows: usize,
    pub runs: usize,
    pub wall_seconds: Spread,
    pub cpu_seconds: Spread,
    pub worker_cpu_seconds: Spread,
    /// Median over runs of (own + worker CPU) / wall.
    pub cpu_per_wall: f64,
    /// rows / median wall.
    pub rows_per_second: f64,
}

impl Measured {
    pub fn from_runs(rows: usize, usages: &[Usage]) -> Self {
        let wall: Vec<f64> = usages.iter().map(|u| u.wall_seconds).collect();
        let cpu: Vec<f64> = usages.iter().map(|u| u.cpu_seconds()).collect();
        let workers: Vec<f64> = usages.iter().map(|u| u.worker_cpu_seconds).collect();
        let ratio: Vec<f64> = usages.iter().map(|u| u.cpu_per_wall()).collect();
        let wall_s = Spread::of(&wall);
        Measured {
            rows,
            runs: usages.len(),
            wall_seconds: wall_s,
            cpu_seconds: Spread::of(&cpu),
            worker_cpu_seconds: Spread::of(&workers),
            cpu_per_wall: Spread::of(&ratio).median,
            rows_per_second: if wall_s.median > 0.0 {
                rows as f64 / wall_s.median
            } else {
                0.0
            },
        }
    }
}

/// One measured call.
pub fn measure_once(
    backend: &mut dyn Backend,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
) -> Result<Usage> {
    let start = Snapshot::now();
    let cost = backend.predict(x, out)?;
    let end = Snapshot::now();
    Ok(Usage::between(start, end, cost.worker_cpu_seconds))
}

/// Warm up once, then repeat per `repeats`. `out` holds the last predictions.
pub fn measure(
    backend: &mut dyn Backend,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
    repeats: Repeats,
) -> Result<Measured> {
    backend.predict(x, out)?;
    let mut usages = Vec::new();
    let mut total = 0.0;
    while usages.len() < repeats.min_runs
        || (total < repeats.min_seconds && usages.len() < repeats.max_runs)
    {
        let u = measure_once(backend, x, out)?;
        total += u.wall_seconds;
        usages.push(u);
    }
    Ok(Measured::from_runs(x.nrows(), &usages))
}
