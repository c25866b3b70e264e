//! The load generator's engine: bodies built once, connections opened
//! before the clock starts, each connection's loop (open loop from the
//! timetable, closed loop back to back), latencies into HDR histograms,
//! the server's counters scraped around the measured window.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::Method;

use super::pacing::{pacer_thread, SELF_PACED_FROM_RPS};
use super::LoadConfig;
use crate::clock::process_tree_cpu;
use crate::error::{Error, Result};
use crate::measure::results::load::{LoadRun, Mode, Percentiles, Protocol};
use crate::serve::client::{get, Conn, Target};
use crate::serve::metrics::sample_value;

pub struct Prepared {
    target: Target,
    path: String,
    bodies: Vec<Bytes>,
}

/// Resolve the server, learn the model's feature count, build the bodies.
pub async fn prepare(config: &LoadConfig) -> Result<Prepared> {
    let target = Target::resolve(&config.url).await?;
    // v2: the metadata's first output (a classifier's `label`, a
    // regressor's `prediction`) is the one asked for; read even with
    // --features, and left to the server's default where it cannot be.
    let v2 = match config.protocol {
        Protocol::V2 => Some(v2_metadata(&target, &config.model, config.timeout).await),
        Protocol::Native => None,
    };
    let first = |meta: &(String, serde_json::Value)| {
        meta.1["outputs"][0]["name"].as_str().map(String::from)
    };
    let (d, first_output) = match (config.features, v2) {
        (Some(d), v2) => (d, v2.and_then(|m| m.ok()).as_ref().and_then(first)),
        (None, Some(meta)) => {
            let meta = meta?;
            (features_in(&meta)?, first(&meta))
        }
        (None, None) => (
            features_of(&target, &config.model, config.timeout).await?,
            None,
        ),
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
    let bodies: Vec<Bytes> = (0..n_bodies)
        .map(|b| {
            let rows: Vec<&[f64]> = (0..config.rows_per_request)
                .map(|r| {
                    let i = b * config.rows_per_request + r;
                    &flat[i * d..(i + 1) * d]
                })
                .collect();
            let body = match config.protocol {
                Protocol::Native => serde_json::json!({ "rows": rows }),
                // One FP64 [N, F] tensor, nested as numpy's tolist() gives
                // it; the first output only (labels or values), as the
                // native body answers.
                Protocol::V2 => {
                    let mut body = serde_json::json!({
                        "inputs": [{
                            "name": "input",
                            "shape": [rows.len(), d],
                            "datatype": "FP64",
                            "data": rows,
                        }],
                    });
                    if let Some(name) = &first_output {
                        body["outputs"] = serde_json::json!([{ "name": name }]);
                    }
                    body
                }
            };
            Bytes::from(serde_json::to_vec(&body).expect("json"))
        })
        .collect();
    let path = match config.protocol {
        Protocol::Native => format!("/v1/models/{}/predict", config.model),
        Protocol::V2 => format!("/v2/models/{}/infer", config.model),
    };
    probe(&target, &path, bodies[0].clone(), config.timeout).await?;
    Ok(Prepared {
        target,
        path,
        bodies,
    })
}

/// Send one of the load's requests before any is counted: a request the
/// server refuses as bad (4xx: wrong --features, --model or --protocol)
/// would be refused every time, so the load stops with the server's own
/// message instead of measuring a run of errors. Load-related answers
/// (429, 503) and connection failures are left to the run to count.
async fn probe(target: &Target, path: &str, body: Bytes, timeout: Duration) -> Result<()> {
    let Ok(mut conn) = Conn::open(target, timeout).await else {
        return Ok(());
    };
    let Ok(Ok(reply)) = tokio::time::timeout(timeout, conn.call(Method::POST, path, body)).await
    else {
        return Ok(());
    };
    if (400..500).contains(&reply.status) && !matches!(reply.status, 408 | 429) {
        let said = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
        return Err(Error::usage(format!(
            "{}{path} refused the load's request ({}: {said}); fix --features, --model or --protocol",
            target.host, reply.status
        )));
    }
    Ok(())
}

/// The model's v2 metadata (its path, and the document): works against
/// any Open Inference Protocol server.
async fn v2_metadata(
    target: &Target,
    model: &str,
    timeout: Duration,
) -> Result<(String, serde_json::Value)> {
    let path = format!("/v2/models/{model}");
    let reply = get(target, &path, timeout).await.map_err(|e| {
        Error::Runtime(format!(
            "cannot read {}{path} ({e}); is the server running? (or give --features N)",
            target.host
        ))
    })?;
    if reply.status == 404 {
        return Err(Error::usage(format!(
            "the server has no model '{model}' ({}{path} answered 404); pass a model it serves to --model",
            target.host
        )));
    }
    let meta: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    if meta["inputs"][0]["shape"].is_array() {
        return Ok((path, meta));
    }
    Err(Error::Runtime(format!(
        "{}{path} (status {}) names no input shape [N, F]; give --features N",
        target.host, reply.status
    )))
}

/// The feature count in v2 metadata: `inputs[0].shape`'s last dimension.
fn features_in((path, meta): &(String, serde_json::Value)) -> Result<usize> {
    meta["inputs"][0]["shape"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|d| d.as_u64())
        .map(|d| d as usize)
        .ok_or_else(|| {
            Error::Runtime(format!(
                "{path} names no input shape [N, F]; give --features N"
            ))
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

pub async fn measure(config: &LoadConfig, p: &Prepared) -> Result<LoadRun> {
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
        Mode::Rate(rate) if rate < SELF_PACED_FROM_RPS => Some(pacer_thread(start, end, rate, tx)),
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
