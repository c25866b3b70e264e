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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::Method;
use serde::{Deserialize, Serialize};

use super::client::{get, Conn, Target};
use super::metrics::sample_value;
use crate::error::{Error, Result};

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Open loop at this many requests per second.
    Rate(f64),
    /// Closed loop with this many connections.
    Concurrency(usize),
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub url: String,
    pub model: String,
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

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// One measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRun {
    pub mode: Mode,
    /// Requests per second offered (open loop), None for the closed loop.
    pub offered_rps: Option<f64>,
    pub connections: usize,
    pub rows_per_request: usize,
    pub duration_s: f64,
    /// Requests due (open loop) or sent (closed loop) in the measured window.
    pub requests: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Everything else, by status code or `timeout` / `connect` / `io`.
    pub errors: BTreeMap<String, u64>,
    /// 2xx answers per second, over the measured window or until the last
    /// answer came, whichever is longer (a server that falls behind answers
    /// after the window closes).
    pub throughput_rps: f64,
    /// Over 2xx answers, from the due time (open loop) or the send time
    /// (None when nothing was answered).
    pub latency_ms: Option<Percentiles>,
    /// The server's process CPU seconds per wall second over the window,
    /// from its `/metrics` (None when it exports none).
    pub server_cpu_per_wall: Option<f64>,
    /// Mean rows per predicted batch over the window (cpuwall servers).
    pub mean_batch_rows: Option<f64>,
    /// CPU seconds per wall second of this load generator.
    pub client_cpu_per_wall: f64,
}

impl LoadRun {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The results file: one run, or the steps of `--find-max`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResults {
    /// `cpuwall-load` (schema version 1 called this field `schema`).
    #[serde(alias = "schema")]
    pub format: String,
    pub version: u32,
    pub url: String,
    pub model: String,
    /// What the user called the server (the report's legend).
    pub label: String,
    pub cpuwall_version: String,
    /// Version 1 called this field `machine`.
    #[serde(alias = "machine")]
    pub environment: crate::measure::env::Environment,
    /// The run (for `--find-max`, the best one that met the target, else the last).
    #[serde(flatten)]
    pub result: LoadRun,
    /// Every run (the steps of `--find-max`).
    pub runs: Vec<LoadRun>,
    /// `--find-max`: the p99 target (ms) and the highest rate that met it.
    pub find_max: Option<FindMax>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FindMax {
    pub p99_target_ms: f64,
    pub best_rps: Option<f64>,
}

pub const SCHEMA: &str = crate::measure::schema::LOAD;
pub const VERSION: u32 = crate::measure::schema::VERSION;

/// A run passes `--find-max` when nothing failed, the server kept up with
/// the offered rate, and p99 met the target.
pub fn meets(run: &LoadRun, p99_ms: f64) -> bool {
    run.error_count() == 0 && kept_up(run) && run.latency_ms.is_some_and(|l| l.p99 <= p99_ms)
}

/// The answers kept up with the offered rate (within 5%).
fn kept_up(run: &LoadRun) -> bool {
    run.offered_rps
        .is_none_or(|r| run.throughput_rps >= 0.95 * r)
}

/// Run the load once.
pub fn run(config: &LoadConfig) -> Result<LoadRun> {
    runtime()?.block_on(async {
        let prepared = prepare(config).await?;
        measure(config, &prepared).await
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
    runtime()?.block_on(async {
        let prepared = prepare(config).await?;
        let mut runs = Vec::new();
        let mut good: Option<f64> = None;
        let mut bad: Option<f64> = None;
        let mut rate = start;
        for step in 0..max_steps + refine {
            let c = LoadConfig {
                mode: Mode::Rate(rate),
                ..config.clone()
            };
            let r = measure(&c, &prepared).await?;
            let mut ok = meets(&r, p99_ms);
            on_step(&r, ok);
            // A p99 miss while the answers kept up with the offer may be one
            // stall of a shared machine: two more runs, the majority decides.
            let missed_p99_only = !ok && r.error_count() == 0 && kept_up(&r);
            runs.push(r);
            if missed_p99_only {
                let again = measure(&c, &prepared).await?;
                ok = meets(&again, p99_ms);
                on_step(&again, ok);
                runs.push(again);
                if ok {
                    let third = measure(&c, &prepared).await?;
                    ok = meets(&third, p99_ms);
                    on_step(&third, ok);
                    runs.push(third);
                }
            }
            if ok {
                good = Some(good.map_or(rate, |g: f64| g.max(rate)));
            } else {
                bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
            }
            rate = match (good, bad) {
                (Some(g), None) => g * 2.0,
                (Some(g), Some(b)) => (g + b) / 2.0,
                (None, Some(b)) => b / 2.0,
                (None, None) => unreachable!("a step ran"),
            };
            if bad.is_none() && step + 1 >= max_steps {
                break;
            }
            // Bisect to within 5%.
            if let (Some(g), Some(b)) = (good, bad) {
                if (b - g) / g < 0.05 {
                    break;
                }
            }
            if good.is_none() && rate < 1.0 {
                break;
            }
        }
        Ok((runs, good))
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the load generator's runtime", e))
}

struct Prepared {
    target: Target,
    path: String,
    bodies: Vec<Bytes>,
}

/// Resolve the server, learn the model's feature count, build the bodies.
async fn prepare(config: &LoadConfig) -> Result<Prepared> {
    let target = Target::resolve(&config.url).await?;
    let d = match config.features {
        Some(d) => d,
        None => features_of(&target, &config.model, config.timeout).await?,
    };
    let rows_needed = (config.rows_per_request * 64).max(1024);
    // make_classification needs 4 features; narrower rows are uniform noise.
    let flat: Vec<f64> = if d >= 4 {
        let data =
            crate::data::synth::MakeClassification::new(rows_needed, d, config.seed).generate()?;
        data.x.iter().copied().collect()
    } else {
        let mut rng = crate::rng::SplitMix64::new(u64::from(config.seed));
        (0..rows_needed * d)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 6.0 - 3.0)
            .collect()
    };
    let n_bodies = rows_needed / config.rows_per_request;
    let bodies = (0..n_bodies)
        .map(|b| {
            let rows: Vec<&[f64]> = (0..config.rows_per_request)
                .map(|r| {
                    let i = b * config.rows_per_request + r;
                    &flat[i * d..(i + 1) * d]
                })
                .collect();
            Bytes::from(serde_json::to_vec(&serde_json::json!({ "rows": rows })).expect("json"))
        })
        .collect();
    Ok(Prepared {
        target,
        path: format!("/v1/models/{}/predict", config.model),
        bodies,
    })
}

async fn features_of(target: &Target, model: &str, timeout: Duration) -> Result<usize> {
    let reply = get(target, "/models", timeout).await.map_err(|e| {
        Error::Runtime(format!(
            "cannot read {}'s /models ({e}); is the server running? (or give --features N)",
            target.host
        ))
    })?;
    let listing: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|_| {
        Error::Runtime(format!(
            "{}/models is not JSON (status {}); give --features N",
            target.host, reply.status
        ))
    })?;
    let models = listing["models"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = models
        .iter()
        .filter_map(|m| m["name"].as_str().map(String::from))
        .collect();
    models
        .iter()
        .find(|m| m["name"] == model)
        .and_then(|m| m["n_features"].as_u64())
        .map(|d| d as usize)
        .ok_or_else(|| {
            Error::usage(format!(
                "the server has no model '{model}' (it serves {}); pass one of those to --model",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// What each connection task records.
struct Tally {
    hist: Histogram<u64>,
    /// When the last counted answer came.
    last: Option<Instant>,
    ok: u64,
    requests: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            last: None,
            ok: 0,
            requests: 0,
            errors: BTreeMap::new(),
        }
    }
    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_insert(0) += 1;
    }
    fn merge(&mut self, other: Tally) {
        let _ = self.hist.add(&other.hist);
        self.ok += other.ok;
        self.last = self.last.max(other.last);
        self.requests += other.requests;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
    }
}

/// The schedule every connection shares.
struct Plan {
    start: Instant,
    /// Measuring starts here (after the warm-up).
    measure_from: Instant,
    end: Instant,
    mode: Mode,
    /// Open loop: each request's due time, released by the pacer thread
    /// when it falls due; any free connection takes the next.
    due: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Instant>>,
    /// Fast open loop: the next request's index on the timetable.
    next: AtomicU64,
}

/// From this rate up, the generator's thread paces itself: sleeping on
/// tokio's millisecond timer, then yielding until each request is due.
/// Below it, a pacer thread releases requests (see [`pacer`]). Measured
/// here: the pacer thread's wake-ups cost ~40 µs of CPU per request at
/// 20,000 requests/s (a context switch each), self-pacing ~15 µs; but
/// self-pacing yields without sleeping whenever a request is due within
/// 1.5 ms, which at low rates would burn a core the server may need.
const SELF_PACED_FROM_RPS: f64 = 5000.0;

/// How often the pacer wakes at most (what a request can be sent late by).
const PACE: Duration = Duration::from_micros(50);

/// The open loop's clock: a thread that sleeps until each request is due
/// (nanosleep with a 1 ns timer slack is precise to a few µs; tokio's timer
/// ticks in whole milliseconds, and spinning instead cost the load
/// generator a core that the server under test needed) and releases it.
fn pacer(
    start: Instant,
    end: Instant,
    rate: f64,
    tx: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        let due = |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
        let mut i = 0u64;
        let mut woke = Instant::now();
        loop {
            let next = due(i);
            if next >= end {
                break;
            }
            // Sleep to the next due time, but wake no more often than every
            // PACE: at high rates one wake-up releases several requests.
            let until = next.max(woke + PACE);
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
            let now = Instant::now();
            woke = now;
            while due(i) <= now && due(i) < end {
                if tx.send(due(i)).is_err() {
                    return;
                }
                i += 1;
            }
        }
    })
}

async fn measure(config: &LoadConfig, p: &Prepared) -> Result<LoadRun> {
    let connections = match config.mode {
        Mode::Rate(_) => config.connections,
        Mode::Concurrency(n) => n,
    };
    // Open every connection before the clock starts.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(&p.target, config.timeout).await?);
    }
    let start = Instant::now() + Duration::from_millis(5);
    let end = start + config.warmup + config.duration;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let pacing = match config.mode {
        Mode::Rate(rate) if rate < SELF_PACED_FROM_RPS => Some(pacer(start, end, rate, tx)),
        _ => None,
    };
    let plan = Arc::new(Plan {
        start,
        measure_from: start + config.warmup,
        end,
        mode: config.mode,
        due: tokio::sync::Mutex::new(rx),
        next: AtomicU64::new(0),
    });
    let pid = config.server_pid;
    let before = tokio::spawn({
        let (t, at, timeout) = (p.target.clone(), plan.measure_from, config.timeout);
        async move {
            tokio::time::sleep_until(at.into()).await;
            let tree = pid.and_then(process_tree_cpu).map(|c| (Instant::now(), c));
            (scrape(&t, timeout).await, tree)
        }
    });
    let client_cpu_start = crate::clock::process_cpu();
    let bodies: Arc<Vec<Bytes>> = Arc::new(p.bodies.clone());
    let mut tasks = Vec::with_capacity(connections);
    for (k, conn) in conns.into_iter().enumerate() {
        let plan = plan.clone();
        let bodies = bodies.clone();
        let target = p.target.clone();
        let path = p.path.clone();
        let timeout = config.timeout;
        tasks.push(tokio::spawn(async move {
            drive(conn, k, &plan, &bodies, &target, &path, timeout).await
        }));
    }
    let mut tally = Tally::new();
    for t in tasks {
        match t.await {
            Ok(one) => tally.merge(one),
            Err(e) => return Err(Error::Runtime(format!("a load connection failed: {e}"))),
        }
    }
    if let Some(p) = pacing {
        let _ = p.join();
    }
    let wall_after = Instant::now();
    let client_cpu = crate::clock::process_cpu().saturating_sub(client_cpu_start);
    let tree_after = pid.and_then(process_tree_cpu).map(|c| (Instant::now(), c));
    let after = scrape(&p.target, config.timeout).await;
    let (before, tree_before) = before.await.unwrap_or((None, None));
    let window = config.duration.as_secs_f64();
    let (server_cpu_per_wall, mean_batch_rows) = match (before, after) {
        (Some(b), Some(a)) => {
            let wall = a.uptime - b.uptime;
            let batches = a.batches - b.batches;
            (
                (wall > 0.0).then(|| (a.cpu - b.cpu) / wall),
                (batches > 0.0).then(|| (a.batch_rows - b.batch_rows) / batches),
            )
        }
        _ => (None, None),
    };
    // A process named by --server-pid: its CPU over the same window.
    let server_cpu_per_wall = match (tree_before, tree_after) {
        (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => {
            Some((c1 - c0) / t1.duration_since(t0).as_secs_f64())
        }
        _ => server_cpu_per_wall,
    };
    let h = &tally.hist;
    let ms = |us: u64| us as f64 / 1000.0;
    let latency_ms = if h.is_empty() {
        None
    } else {
        Some(Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        })
    };
    Ok(LoadRun {
        mode: config.mode,
        offered_rps: match config.mode {
            Mode::Rate(r) => Some(r),
            Mode::Concurrency(_) => None,
        },
        connections,
        rows_per_request: config.rows_per_request,
        duration_s: window,
        requests: tally.requests,
        ok: tally.ok,
        errors: tally.errors,
        throughput_rps: tally.ok as f64
            / tally
                .last
                .map_or(window, |l| {
                    l.duration_since(plan.measure_from).as_secs_f64()
                })
                .max(window),
        latency_ms,
        server_cpu_per_wall,
        mean_batch_rows,
        client_cpu_per_wall: client_cpu.as_secs_f64()
            / wall_after
                .duration_since(plan.start)
                .as_secs_f64()
                .max(1e-9),
    })
}

/// Wait until `due`: sleep while it is far (tokio's timer ticks in whole
/// milliseconds), then yield until it comes, so requests go out on time.
async fn wait_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > Duration::from_micros(1500) {
            tokio::time::sleep(left - Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// One connection's loop until the plan ends.
async fn drive(
    mut conn: Conn,
    k: usize,
    plan: &Plan,
    bodies: &[Bytes],
    target: &Target,
    path: &str,
    timeout: Duration,
) -> Tally {
    let mut tally = Tally::new();
    let mut sent = k;
    let mut conn_ok = true;
    loop {
        // When the request is due, and when its latency starts.
        let due = match plan.mode {
            Mode::Rate(rate) if rate >= SELF_PACED_FROM_RPS => {
                let i = plan.next.fetch_add(1, Ordering::Relaxed);
                let due = plan.start + Duration::from_secs_f64(i as f64 / rate);
                if due >= plan.end {
                    break;
                }
                wait_until(due).await;
                due
            }
            Mode::Rate(_) => match plan.due.lock().await.recv().await {
                Some(due) => due,
                None => break,
            },
            Mode::Concurrency(_) => {
                let now = Instant::now();
                if now < plan.start {
                    tokio::time::sleep_until(plan.start.into()).await;
                    continue;
                }
                if now >= plan.end {
                    break;
                }
                now
            }
        };
        let counted = due >= plan.measure_from;
        if !conn_ok {
            match Conn::open(target, timeout).await {
                Ok(c) => {
                    conn = c;
                    conn_ok = true;
                }
                Err(_) => {
                    if counted {
                        tally.requests += 1;
                        tally.error("connect".into());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let body = bodies[sent % bodies.len()].clone();
        sent += 1;
        let outcome = tokio::time::timeout(timeout, conn.call(Method::POST, path, body)).await;
        let done = Instant::now();
        if !counted {
            if !matches!(outcome, Ok(Ok(_))) {
                conn_ok = false;
            }
            continue;
        }
        tally.requests += 1;
        match outcome {
            Ok(Ok(reply)) if (200..300).contains(&reply.status) => {
                tally.ok += 1;
                tally.last = Some(done);
                let us = done.duration_since(due).as_micros().max(1) as u64;
                let _ = tally.hist.record(us.min(3_600_000_000));
            }
            Ok(Ok(reply)) => tally.error(reply.status.to_string()),
            Ok(Err(_)) => {
                tally.error("io".into());
                conn_ok = false;
            }
            Err(_) => {
                tally.error("timeout".into());
                conn_ok = false;
            }
        }
    }
    tally
}

/// CPU seconds (user + system) of process `pid` and every descendant
/// alive now, from /proc (Linux). None when `pid` does not exist.
pub fn process_tree_cpu(pid: u32) -> Option<f64> {
    // (pid, ppid, cpu ticks) of every process.
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) in parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // rest[0] is the state (field 3): ppid is field 4, utime 14, stime 15.
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(ppid), Some(u), Some(s)) = (field(4), field(14), field(15)) {
            procs.push((p, ppid as u32, u + s));
        }
    }
    if !procs.iter().any(|(p, _, _)| *p == pid) {
        return None;
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            procs
                .iter()
                .filter(|(_, pp, _)| *pp == parent)
                .map(|(p, _, _)| *p),
        );
        i += 1;
    }
    let ticks: u64 = procs
        .iter()
        .filter(|(p, _, _)| tree.contains(p))
        .map(|(_, _, t)| t)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}

/// The server's counters that a run's figures come from.
struct Scrape {
    cpu: f64,
    uptime: f64,
    batches: f64,
    batch_rows: f64,
}

async fn scrape(target: &Target, timeout: Duration) -> Option<Scrape> {
    let reply = get(target, "/metrics", timeout).await.ok()?;
    if reply.status != 200 {
        return None;
    }
    let text = std::str::from_utf8(&reply.body).ok()?;
    Some(Scrape {
        cpu: sample_value(text, "process_cpu_seconds_total")?,
        uptime: sample_value(text, "cpuwall_uptime_seconds")?,
        batches: sample_value(text, "cpuwall_batch_rows_count").unwrap_or(0.0),
        batch_rows: sample_value(text, "cpuwall_batch_rows_sum").unwrap_or(0.0),
    })
}

/// `--find-max`'s settings.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub p99_ms: f64,
    /// Doubling steps at most before giving up on finding a limit.
    pub max_steps: usize,
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
            .find(|r| r.offered_rps == Some(best) && meets(r, p99))
            .cloned()
            .expect("the best rate was run"),
        None => runs.last().cloned().expect("at least one run"),
    };
    Ok(LoadResults {
        format: SCHEMA.into(),
        version: VERSION,
        url: config.url.clone(),
        model: config.model.clone(),
        label: label.into(),
        cpuwall_version: env!("CARGO_PKG_VERSION").into(),
        environment: machine,
        result,
        runs,
        find_max: find,
    })
}

impl LoadResults {
    /// Read a results file written by `cpuwall load --out`.
    pub fn load(path: &std::path::Path) -> Result<LoadResults> {
        let text = crate::data::bounded::read_json_text(
            path,
            &crate::data::bounded::Limit {
                what: "cpuwall load results file",
                max: 64 << 20,
                not_found: "load results file not found; run `cpuwall load --out FILE` first",
            },
        )?;
        Self::from_text(path, &text)
    }

    pub fn from_text(path: &std::path::Path, text: &str) -> Result<LoadResults> {
        let r: LoadResults = serde_json::from_str(text).map_err(|e| {
            Error::data(
                path,
                format!(
                    "not a cpuwall load results file ({e}); write one with `cpuwall load --out`"
                ),
            )
        })?;
        if r.format != SCHEMA || r.version > VERSION || r.runs.is_empty() {
            return Err(Error::data(
                path,
                format!(
                    "format {} version {} with {} runs; this cpuwall reads {SCHEMA} version {VERSION} or older with at least one run",
                    r.format,
                    r.version,
                    r.runs.len()
                ),
            ));
        }
        Ok(r)
    }
}

/// Whether a file starts like a load results document (for `cpuwall
/// report`, which renders sweeps and load results): its first 4 KB name
/// the schema. Unreadable files are left to the sweep reader's messages.
pub fn sniff(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    ["format", "schema"].iter().any(|k| {
        text.contains(&format!("\"{k}\": \"{SCHEMA}\""))
            || text.contains(&format!("\"{k}\":\"{SCHEMA}\""))
    })
}
