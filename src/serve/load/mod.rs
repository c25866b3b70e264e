//! `cpuwall load`: drive a prediction server and measure it honestly.
//!
//! Open loop (`--rate`): requests are scheduled on a timetable (request i is
//! due at `start + i / rate`, released by a pacer thread), and each latency
//! is measured from the time the request was *due*, not from when a free
//! connection finally sent it.
//! A server that stalls cannot hide the queue it built (coordinated
//! omission, as wrk2 corrects it). Any free connection takes the next due
//! request, so connections only bound how many are in flight.
//!
//! Closed loop (`--concurrency N`): N connections send back to back; latency
//! is from send to answer. It measures what N eager clients see, not what a
//! server does at a given rate.
//!
//! Latencies go into an HDR histogram (µs resolution, 3 significant
//! digits). The generator runs on one thread (a current-thread runtime), so
//! on a small machine it leaves the other cores to the server; its own CPU
//! time is reported so a reader can see what it took.

mod engine;
pub mod pacing;
pub mod search;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::measure::results::load::{FindMax, LoadResults, LoadRun, Mode, Protocol};
use crate::measure::results::Header;
pub use search::Search;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub url: String,
    pub model: String,
    pub protocol: Protocol,
    pub mode: Mode,
    /// Connections for the open loop (the most requests in flight).
    pub connections: usize,
    pub duration: Duration,
    /// Sent first at the same rate, not measured.
    pub warmup: Duration,
    pub rows_per_request: usize,
    /// Feature count (None: read from the server's `/models`).
    pub features: Option<usize>,
    /// Longest wait for one answer; slower ones count as `timeout` errors.
    pub timeout: Duration,
    pub seed: u32,
    /// A server process (and its children) whose CPU time to read from
    /// /proc, for servers without cpuwall's /metrics.
    pub server_pid: Option<u32>,
}

/// Run the load once.
pub fn run(config: &LoadConfig) -> Result<LoadRun> {
    runtime()?.block_on(async {
        let prepared = engine::prepare(config).await?;
        engine::measure(config, &prepared).await
    })
}

/// Raise the rate step by step (×2 from `config`'s rate), then bisect
/// between the last rate that met `p99_ms` and the first that did not
/// (`refine` steps). `on_step` sees each run.
pub fn find_max(
    config: &LoadConfig,
    p99_ms: f64,
    max_steps: usize,
    refine: usize,
    on_step: &dyn Fn(&LoadRun, bool),
) -> Result<(Vec<LoadRun>, Option<f64>)> {
    let Mode::Rate(start) = config.mode else {
        return Err(Error::usage("--find-max raises --rate; drop --concurrency"));
    };
    let rt = runtime()?;
    let prepared = rt.block_on(engine::prepare(config))?;
    let mut measure = |rate: f64| {
        let c = LoadConfig {
            mode: Mode::Rate(rate),
            ..config.clone()
        };
        rt.block_on(engine::measure(&c, &prepared))
    };
    search::find_max(start, p99_ms, max_steps, refine, &mut measure, on_step)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the load generator's runtime", e))
}

/// Run the load (once, or the `--find-max` search) into a results document.
/// `on_step` sees every run as it finishes and whether it met the target.
pub fn measure_server(
    config: &LoadConfig,
    search: Option<Search>,
    label: &str,
    on_step: &dyn Fn(&LoadRun, Option<bool>),
) -> Result<LoadResults> {
    let mut machine = crate::measure::env::Environment::capture();
    let (runs, find) = match search {
        None => {
            let r = run(config)?;
            on_step(&r, None);
            (vec![r], None)
        }
        Some(s) => {
            let (runs, best) = find_max(config, s.p99_ms, s.max_steps, 6, &|r, ok| {
                on_step(r, Some(ok))
            })?;
            (
                runs,
                Some(FindMax {
                    p99_target_ms: s.p99_ms,
                    best_rps: best,
                }),
            )
        }
    };
    machine.load_average_end = crate::measure::env::load_average();
    let result = match find.and_then(|f| f.best_rps.map(|b| (b, f.p99_target_ms))) {
        Some((best, p99)) => runs
            .iter()
            .find(|r| r.offered_rps == Some(best) && crate::measure::results::load::meets(r, p99))
            .cloned()
            .expect("the best rate was run"),
        None => runs.last().cloned().expect("at least one run"),
    };
    Ok(LoadResults {
        header: Header::with(crate::measure::results::LOAD, machine),
        url: config.url.clone(),
        model: config.model.clone(),
        protocol: config.protocol,
        label: label.into(),
        cpuwall_version: env!("CARGO_PKG_VERSION").into(),
        result,
        runs,
        find_max: find,
    })
}
