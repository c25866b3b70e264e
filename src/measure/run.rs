//! Timing a backend: a warm-up call, then repeats until a minimum measured
//! time (many repeats for tiny batches, few for huge ones), each repeat
//! measured on both clocks plus the CPU its workers report.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::stats::Spread;
use crate::clock::{Snapshot, Usage};
use crate::error::Result;
use crate::exec::{Backend, CallCost};
use crate::model::Classifier;

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
    /// (own + worker CPU) / wall, summed over all runs. Not a median of
    /// per-run ratios: Linux brings a thread's CPU time up to date only at a
    /// tick or a scheduler event, so a helper thread busy across the end of
    /// one run has part of its time counted in the next run. Per run, the
    /// threads backend read 1.00 to 2.99 on 2 cores at 1e6 NB rows (median
    /// 2.21, more than the cores); summed over runs the shifts cancel (1.97).
    pub cpu_per_wall: f64,
    /// rows / median wall.
    pub rows_per_second: f64,
}

impl Measured {
    pub fn from_runs(rows: usize, usages: &[Usage]) -> Self {
        let wall: Vec<f64> = usages.iter().map(|u| u.wall_seconds).collect();
        let cpu: Vec<f64> = usages.iter().map(|u| u.cpu_seconds()).collect();
        let workers: Vec<f64> = usages.iter().map(|u| u.worker_cpu_seconds).collect();
        let wall_s = Spread::of(&wall);
        let total_wall: f64 = wall.iter().sum();
        Measured {
            rows,
            runs: usages.len(),
            wall_seconds: wall_s,
            cpu_seconds: Spread::of(&cpu),
            worker_cpu_seconds: Spread::of(&workers),
            cpu_per_wall: if total_wall > 0.0 {
                cpu.iter().sum::<f64>() / total_wall
            } else {
                0.0
            },
            rows_per_second: if wall_s.median > 0.0 {
                rows as f64 / wall_s.median
            } else {
                0.0
            },
        }
    }
}

/// How long [`warm_up`] passes over a batch before the first backend is timed.
pub const WARM_UP: Duration = Duration::from_millis(300);

/// Predict `x` over and over for at least `at_least` (at least once), before
/// any backend is timed. On this VM a batch freshly written to memory reads
/// slower for its first few tenths of a second of passes (NB at 1e6 rows:
/// the first 30 passes had a median of 6.1-8.3 ms, every later 30 4.4-5.2
/// ms; sleeping in between did not help, passes did), so without this the
/// first backend timed, direct, paid for it alone, and every speedup over
/// direct came out ~1.5x too high.
pub fn warm_up(
    model: &dyn Classifier,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
    at_least: Duration,
) {
    let start = Instant::now();
    loop {
        model.predict_into(x, out);
        if start.elapsed() >= at_least {
            break;
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

/// Wall time each contender gets per round of [`time_interleaved`].
const BLOCK_SECONDS: f64 = 0.05;

/// Anything the runner times: one call per run (a backend predicting a
/// batch, an ensemble strategy predicting its images).
pub trait Timed {
    /// One call; what it cost outside this process.
    fn call(&mut self) -> Result<CallCost>;
    /// No call is coming soon: helper threads may stop spinning.
    fn rest(&mut self) {}
}

/// Several contenders measured in rounds. With `warm_up`, each first gets
/// an untimed call (after which `warmed(i)` runs, e.g. to check its
/// output). Then every round gives each contender that still needs runs a
/// block of calls (~50 ms, at least one call), until each has `repeats`'
/// worth. A cheap contender's block starts with an untimed call, which
/// wakes its helper threads; after its block, a contender rests (helpers
/// park), so no spinning helper is charged to the next one's CPU time.
///
/// Interleaving is what makes the ratios mean something on a machine whose
/// memory speed drifts within seconds: timed one after the other, `cpuwall
/// predict` once caught direct in a slow phase and threads in a fast one and
/// printed a 2.7x speedup on 2 cores.
///
/// Once `stop()` says so, the rounds end as soon as every contender has at
/// least one timed run (so a Ctrl-C'd sweep keeps what it measured).
pub fn time_interleaved(
    jobs: &mut [&mut dyn Timed],
    rows: usize,
    repeats: Repeats,
    warm_up: bool,
    mut warmed: impl FnMut(usize),
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Measured>> {
    let mut usages: Vec<Vec<Usage>> = vec![Vec::new(); jobs.len()];
    let mut totals = vec![0.0; jobs.len()];
    // Without a warm-up, no wake-up call before the first block either.
    let mut last_call = vec![if warm_up { 0.0 } else { f64::INFINITY }; jobs.len()];
    if warm_up {
        for (i, j) in jobs.iter_mut().enumerate() {
            let t = Instant::now();
            j.call()?;
            last_call[i] = t.elapsed().as_secs_f64();
            warmed(i);
            j.rest();
        }
    }
    let wants = |n: usize, total: f64| {
        n < repeats.min_runs || (total < repeats.min_seconds && n < repeats.max_runs)
    };
    loop {
        let mut ran = false;
        for (i, j) in jobs.iter_mut().enumerate() {
            if !wants(usages[i].len(), totals[i]) {
                continue;
            }
            ran = true;
            if last_call[i] < BLOCK_SECONDS {
                j.call()?;
            }
            let mut block = 0.0;
            while block < BLOCK_SECONDS || block == 0.0 {
                let start = Snapshot::now();
                let cost = j.call()?;
                let u = Usage::between(start, Snapshot::now(), cost.worker_cpu_seconds);
                last_call[i] = u.wall_seconds;
                block += u.wall_seconds;
                totals[i] += u.wall_seconds;
                usages[i].push(u);
                if !wants(usages[i].len(), totals[i]) {
                    break;
                }
            }
            j.rest();
        }
        if !ran || (stop() && usages.iter().all(|u| !u.is_empty())) {
            break;
        }
    }
    Ok(usages
        .iter()
        .map(|u| Measured::from_runs(rows, u))
        .collect())
}

/// A backend predicting one batch into a shared output buffer, as a
/// [`Timed`] call. Its first call starts from an output no label can equal,
/// so a backend that wrote nothing cannot pass for the one before it.
struct BackendCall<'a, 'x, 'o> {
    backend: &'a mut dyn Backend,
    x: ArrayView2<'x, f64>,
    out: &'a RefCell<&'o mut [i64]>,
    first: bool,
}

impl Timed for BackendCall<'_, '_, '_> {
    fn call(&mut self) -> Result<CallCost> {
        let mut out = self.out.borrow_mut();
        if std::mem::take(&mut self.first) {
            out.iter_mut().for_each(|v| *v = i64::MIN);
        }
        self.backend.predict(self.x, &mut out)
    }
    fn rest(&mut self) {
        self.backend.rest();
    }
}

/// Backends measured on one batch by [`time_interleaved`], warmed up first;
/// `check(i, out)` sees each backend's predictions from its warm-up call.
pub fn measure_interleaved(
    backends: &mut [&mut dyn Backend],
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
    repeats: Repeats,
    mut check: impl FnMut(usize, &[i64]),
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Measured>> {
    let out = RefCell::new(out);
    let mut calls: Vec<BackendCall> = backends
        .iter_mut()
        .map(|b| BackendCall {
            backend: &mut **b,
            x,
            out: &out,
            first: true,
        })
        .collect();
    let mut jobs: Vec<&mut dyn Timed> = Vec::with_capacity(calls.len());
    for c in calls.iter_mut() {
        jobs.push(c);
    }
    time_interleaved(
        &mut jobs,
        x.nrows(),
        repeats,
        true,
        |i| check(i, &out.borrow()),
        stop,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Writes `label` everywhere; logs "call"/"rest" into a shared journal.
    struct Fake {
        label: i64,
        log: Rc<RefCell<Vec<(i64, &'static str)>>>,
    }

    impl Backend for Fake {
        fn name(&self) -> String {
            format!("fake{}", self.label)
        }
        fn predict(&mut self, _x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
            out.iter_mut().for_each(|o| *o = self.label);
            self.log.borrow_mut().push((self.label, "call"));
            // 30 ms: a block (50 ms) holds two calls, so 3 runs take 2 rounds.
            std::thread::sleep(std::time::Duration::from_millis(30));
            Ok(CallCost::default())
        }
        fn rest(&mut self) {
            self.log.borrow_mut().push((self.label, "rest"));
        }
    }

    #[test]
    fn interleaved_rounds_alternate_backends_and_rest_each_after_its_block() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (mut a, mut b) = (
            Fake {
                label: 1,
                log: log.clone(),
            },
            Fake {
                label: 2,
                log: log.clone(),
            },
        );
        let x = Array2::<f64>::zeros((4, 2));
        let mut out = vec![0; 4];
        let mut seen = Vec::new();
        let repeats = Repeats::fixed(3);
        let mut handles: Vec<&mut dyn Backend> = vec![&mut a, &mut b];
        let m = measure_interleaved(
            &mut handles,
            x.view(),
            &mut out,
            repeats,
            |i, got| seen.push((i, got.to_vec())),
            &|| false,
        )
        .unwrap();
        assert_eq!(m.iter().map(|m| m.runs).collect::<Vec<_>>(), vec![3, 3]);
        // Each backend's own predictions reach the check, once.
        assert_eq!(seen, vec![(0, vec![1; 4]), (1, vec![2; 4])]);
        let log = log.borrow();
        // After the first call and rest of each, backend 2 is timed before
        // backend 1 has all its runs: interleaved.
        let after_warm_up = &log[4..];
        let first_b = after_warm_up.iter().position(|e| e.0 == 2).unwrap();
        let last_a = after_warm_up
            .iter()
            .rposition(|e| *e == (1, "call"))
            .unwrap();
        assert!(first_b < last_a, "{log:?}");
        // Every call of one backend is followed by its rest before the other
        // backend is called.
        for w in log.windows(2) {
            if w[0].0 != w[1].0 {
                assert_eq!(w[0].1, "rest", "{log:?}");
            }
        }
    }
}
