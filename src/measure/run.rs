//! Timing a backend: a warm-up call, then repeats until a minimum measured
//! time (many repeats for tiny batches, few for huge ones), each repeat
//! measured on both clocks plus the CPU its workers report.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::stats::{is_shaky, median_ci95, Spread};
use crate::clock::{process_cpu, thread_cpu, Usage};
use crate::error::Result;
use crate::exec::{Backend, CallCost};
use crate::model::Predictor;

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
    /// At least `min_seconds` measured and at least [`MIN_SAMPLES`] samples
    /// (more if `at_least` says so), at most `max_samples` once the time is met.
    pub fn timed(min_seconds: f64, at_least: Option<usize>, max_samples: usize) -> Self {
        let min_runs = at_least.unwrap_or(0).max(MIN_SAMPLES);
        Repeats {
            min_seconds,
            min_runs,
            max_runs: max_samples.max(min_runs),
        }
    }

    /// Exactly `n` samples, whatever the time.
    pub fn fixed(n: usize) -> Self {
        Repeats {
            min_seconds: 0.0,
            min_runs: n.max(1),
            max_runs: n.max(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub rows: usize,
    /// Calls timed (a sample of a tiny call times several back to back).
    pub runs: usize,
    /// Timed samples; every statistic below is over samples, per call.
    #[serde(default)]
    pub samples: usize,
    /// Per call: median (with min and max) over the samples.
    pub wall_seconds: Spread,
    /// A 95% confidence interval of the median wall (order statistics).
    #[serde(default)]
    pub wall_seconds_ci95: [f64; 2],
    pub cpu_seconds: Spread,
    pub worker_cpu_seconds: Spread,
    /// All CPU (the threads that worked, each on its own clock, plus worker
    /// processes) over all wall time, summed over the samples. Because each
    /// thread's CPU is read on its own clock around its share, this is exact
    /// per call and cannot exceed `parallelism` (plus clock granularity).
    pub cpu_per_wall: f64,
    /// rows / median wall.
    pub rows_per_second: f64,
    /// Most threads and processes that did part of one call (0: not known).
    #[serde(default)]
    pub parallelism: usize,
    /// Every timed sample as the clocks read it (absent in files written
    /// before schema version 2).
    #[serde(default, skip_serializing_if = "RawSamples::is_empty")]
    pub raw: RawSamples,
}

/// The timed samples of one measurement, in the order they ran, as the
/// clocks read them: sample `i` timed `calls[i]` calls back to back, which
/// took `wall_ns[i]` nanoseconds of wall time and `cpu_ns[i]` of CPU (this
/// process's working threads plus worker processes; `worker_cpu_ns[i]` of it
/// reported by workers). Totals over the sample's calls, in integer
/// nanoseconds (the clocks' unit), so that nothing is rounded away and a
/// sweep's thousands of samples stay compact; per call is total / calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawSamples {
    pub calls: Vec<usize>,
    pub wall_ns: Vec<u64>,
    pub cpu_ns: Vec<u64>,
    pub worker_cpu_ns: Vec<u64>,
}

impl RawSamples {
    pub fn of(usages: &[Usage]) -> Self {
        let ns =
            |per_call: f64, calls: usize| (per_call * calls as f64 * 1e9).round().max(0.0) as u64;
        let calls = |u: &Usage| u.calls.max(1);
        RawSamples {
            calls: usages.iter().map(calls).collect(),
            wall_ns: usages
                .iter()
                .map(|u| ns(u.wall_seconds, calls(u)))
                .collect(),
            cpu_ns: usages
                .iter()
                .map(|u| ns(u.cpu_seconds(), calls(u)))
                .collect(),
            worker_cpu_ns: usages
                .iter()
                .map(|u| ns(u.worker_cpu_seconds, calls(u)))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.wall_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wall_ns.is_empty()
    }

    /// Sample `i` per call: (calls, wall, cpu, worker cpu) seconds.
    pub fn per_call(&self, i: usize) -> (usize, f64, f64, f64) {
        let c = self.calls.get(i).copied().unwrap_or(1).max(1);
        let s = |v: &[u64]| v.get(i).map_or(0.0, |&x| x as f64 / 1e9 / c as f64);
        (c, s(&self.wall_ns), s(&self.cpu_ns), s(&self.worker_cpu_ns))
    }
}

impl Measured {
    pub fn from_runs(rows: usize, usages: &[Usage]) -> Self {
        let wall: Vec<f64> = usages.iter().map(|u| u.wall_seconds).collect();
        let cpu: Vec<f64> = usages.iter().map(|u| u.cpu_seconds()).collect();
        let workers: Vec<f64> = usages.iter().map(|u| u.worker_cpu_seconds).collect();
        let wall_s = Spread::of(&wall);
        let calls = |u: &Usage| u.calls.max(1) as f64;
        let total_wall: f64 = usages.iter().map(|u| u.wall_seconds * calls(u)).sum();
        let total_cpu: f64 = usages.iter().map(|u| u.cpu_seconds() * calls(u)).sum();
        Measured {
            rows,
            runs: usages.iter().map(|u| u.calls.max(1)).sum(),
            samples: usages.len(),
            wall_seconds: wall_s,
            wall_seconds_ci95: median_ci95(&wall),
            cpu_seconds: Spread::of(&cpu),
            worker_cpu_seconds: Spread::of(&workers),
            cpu_per_wall: if total_wall > 0.0 {
                total_cpu / total_wall
            } else {
                0.0
            },
            rows_per_second: if wall_s.median > 0.0 {
                rows as f64 / wall_s.median
            } else {
                0.0
            },
            parallelism: usages.iter().map(|u| u.parallelism).max().unwrap_or(0),
            raw: RawSamples::of(usages),
        }
    }

    /// CPU per call at the median wall: `cpu_per_wall` x median wall, so the
    /// CPU column and CPU/wall are the same aggregation.
    pub fn cpu_per_call(&self) -> f64 {
        self.cpu_per_wall * self.wall_seconds.median
    }

    /// Fewer samples than a 95% CI of the median needs, or a CI wider than
    /// +-10% of the median: a cell to read with care.
    pub fn is_shaky(&self) -> bool {
        is_shaky(
            self.samples,
            self.wall_seconds_ci95,
            self.wall_seconds.median,
        )
    }
}

/// How long [`warm_up`] passes over a batch before the first backend is
/// timed (`--warmup`): for a time, or a number of passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warmup {
    Time(Duration),
    Passes(usize),
}

/// The default: 0.3 s of passes (see [`warm_up`] for why).
pub const WARM_UP: Warmup = Warmup::Time(Duration::from_millis(300));

impl Default for Warmup {
    fn default() -> Self {
        WARM_UP
    }
}

/// clap value parser for `--warmup`: a duration (`300ms`, `0.5s`) or a
/// whole number of passes (`5`; `0`: none).
pub fn warmup_arg(s: &str) -> std::result::Result<Warmup, String> {
    if let Ok(n) = s.trim().parse::<usize>() {
        if n > MAX_WARMUP_PASSES {
            return Err(format!(
                "--warmup {s}: at most {MAX_WARMUP_PASSES} passes (or a duration, e.g. 300ms)"
            ));
        }
        return Ok(Warmup::Passes(n));
    }
    crate::data::count::parse_duration(s)
        .map(Warmup::Time)
        .map_err(
            |e| match s.trim().starts_with('-') || e.to_string().contains("too long") {
                true => format!("--warmup: {e}"),
                false => {
                    format!("'{s}' is neither a duration (300ms, 0.5s) nor a number of passes (5)")
                }
            },
        )
}

/// The most warm-up passes `--warmup` takes.
pub const MAX_WARMUP_PASSES: usize = 1_000_000;

/// Predict `x` over and over for `warmup` (a time: at least once), before
/// any backend is timed. On this VM a batch freshly written to memory reads
/// slower for its first few tenths of a second of passes (NB at 1e6 rows:
/// the first 30 passes had a median of 6.1-8.3 ms, every later 30 4.4-5.2
/// ms; sleeping in between did not help, passes did), so without this the
/// first backend timed, direct, paid for it alone, and every speedup over
/// direct came out ~1.5x too high.
pub fn warm_up(model: &dyn Predictor, x: ArrayView2<'_, f64>, out: &mut [i64], warmup: Warmup) {
    match warmup {
        Warmup::Passes(n) => (0..n).for_each(|_| model.predict_into(x, out)),
        Warmup::Time(at_least) => {
            let start = Instant::now();
            loop {
                model.predict_into(x, out);
                if start.elapsed() >= at_least {
                    break;
                }
            }
        }
    }
}

/// `backend` alone on `x`, by the same runner as a comparison (warm-up
/// first). `out` holds its last predictions.
pub fn measure(
    backend: &mut dyn Backend,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
    repeats: Repeats,
) -> Result<Measured> {
    let mut one = [backend];
    let mut m = measure_interleaved(&mut one, x, out, repeats, |_, _| {}, &|| false)?;
    Ok(m.remove(0))
}

/// One timed call of `backend` (the runner's sample of a single call).
pub fn measure_once(
    backend: &mut dyn Backend,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
) -> Result<Usage> {
    let out = RefCell::new(out);
    let mut call = BackendCall {
        backend,
        x,
        out: &out,
        first: false,
    };
    sample(&mut call, 1)
}

pub use super::stats::MIN_SAMPLES;

/// A sample of a tiny call times this much at least, as several calls back
/// to back: the clocks' own cost (a CPU clock read is ~0.6 us on this VM,
/// half of it inside the CPU interval) then stays under ~1% of a sample.
const MIN_SAMPLE_SECONDS: f64 = 50e-6;

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
    let n = jobs.len();
    let mut usages: Vec<Vec<Usage>> = vec![Vec::new(); n];
    let mut totals = vec![0.0; n];
    // Wall of one call, last seen. Without a warm-up, no wake-up call
    // before the first block either.
    let mut per_call = vec![if warm_up { 0.0 } else { f64::INFINITY }; n];
    if warm_up {
        for (i, j) in jobs.iter_mut().enumerate() {
            per_call[i] = settle(&mut **j)?;
            warmed(i);
            j.rest();
        }
    }
    let wants = |samples: usize, total: f64| {
        samples < repeats.min_runs || (total < repeats.min_seconds && samples < repeats.max_runs)
    };
    let mut round = 0;
    loop {
        let mut ran = false;
        // Each round starts with the next contender: none is always first.
        for i in (0..n).map(|k| (k + round) % n) {
            let j = &mut *jobs[i];
            if !wants(usages[i].len(), totals[i]) {
                continue;
            }
            ran = true;
            if per_call[i] < BLOCK_SECONDS {
                j.call()?;
            }
            let mut block = 0.0;
            while block < BLOCK_SECONDS || block == 0.0 {
                let calls = if per_call[i] > 0.0 && per_call[i].is_finite() {
                    (MIN_SAMPLE_SECONDS / per_call[i]).ceil().clamp(1.0, 1e6) as usize
                } else {
                    1
                };
                let u = sample(&mut *j, calls)?;
                per_call[i] = u.wall_seconds;
                let wall = u.wall_seconds * calls as f64;
                block += wall;
                totals[i] += wall;
                usages[i].push(u);
                if !wants(usages[i].len(), totals[i]) {
                    break;
                }
            }
            j.rest();
        }
        round += 1;
        if !ran || (stop() && usages.iter().all(|u| !u.is_empty())) {
            break;
        }
    }
    Ok(usages
        .iter()
        .map(|u| Measured::from_runs(rows, u))
        .collect())
}

/// Untimed calls until one takes about as long as the one before (within
/// 10%), for at most 0.1 s after the first: caches, page tables, branch
/// predictors and sleeping helper threads settle before timing starts.
/// Returns the last call's wall.
fn settle(job: &mut dyn Timed) -> Result<f64> {
    let start = Instant::now();
    let timed = |job: &mut dyn Timed| -> Result<f64> {
        let t = Instant::now();
        job.call()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let mut last = timed(job)?;
    while start.elapsed().as_secs_f64() < 0.1 + last {
        let next = timed(job)?;
        let stable = (next - last).abs() <= 0.1 * last;
        last = next;
        if stable {
            break;
        }
    }
    Ok(last)
}

/// One timed sample: `calls` calls back to back, per call. The CPU clocks
/// are read inside the wall interval, so a thread's CPU time can never
/// exceed the wall time it is set against: read outside it, the reads'
/// own cost (a system call each) counted as CPU and not as wall, and a
/// call of a few microseconds on one thread showed 1.15 CPU per wall.
/// The reads' cost lands in the wall time instead, which a sample of the
/// usual length (`--min-time`) does not notice. In-process CPU is exact
/// when every call accounts for its helper threads (the caller's thread
/// clock plus theirs); otherwise it falls back to the process clock.
fn sample(job: &mut dyn Timed, calls: usize) -> Result<Usage> {
    let t0 = Instant::now();
    let p0 = process_cpu();
    let c0 = thread_cpu();
    let mut helpers = Some(0.0);
    let mut workers = 0.0;
    let mut parallelism = 0;
    for _ in 0..calls {
        let cost = job.call()?;
        helpers = helpers.zip(cost.helper_cpu_seconds).map(|(a, b)| a + b);
        workers += cost.worker_cpu_seconds;
        parallelism = parallelism.max(cost.parallelism);
    }
    let c1 = thread_cpu();
    let p1 = process_cpu();
    let wall = t0.elapsed().as_secs_f64();
    let own = match helpers {
        Some(h) => c1.saturating_sub(c0).as_secs_f64() + h,
        None => p1.saturating_sub(p0).as_secs_f64(),
    };
    let k = calls as f64;
    Ok(Usage {
        wall_seconds: wall / k,
        own_cpu_seconds: own / k,
        worker_cpu_seconds: workers / k,
        calls,
        parallelism,
    })
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
    use std::sync::{Arc, Mutex};

    /// Writes `label` everywhere; logs "call"/"rest" into a shared journal.
    struct Fake {
        label: i64,
        log: Arc<Mutex<Vec<(i64, &'static str)>>>,
    }

    impl Backend for Fake {
        fn name(&self) -> String {
            format!("fake{}", self.label)
        }
        fn predict(&mut self, _x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
            out.iter_mut().for_each(|o| *o = self.label);
            self.log.lock().unwrap().push((self.label, "call"));
            // 30 ms: a block (50 ms) holds two calls, so 3 runs take 2 rounds.
            std::thread::sleep(std::time::Duration::from_millis(30));
            Ok(CallCost::default())
        }
        fn rest(&mut self) {
            self.log.lock().unwrap().push((self.label, "rest"));
        }
    }

    #[test]
    fn interleaved_rounds_alternate_backends_and_rest_each_after_its_block() {
        let log = Arc::new(Mutex::new(Vec::new()));
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
        let log = log.lock().unwrap();
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
