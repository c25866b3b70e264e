//! What `cpuwall load` prints: one row per run, then the verdict.

use crate::measure::results::load::{LoadResults, LoadRun, Mode};
use crate::report::table;
use crate::units;

fn ms(v: f64) -> String {
    units::seconds(v / 1e3)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// One table row per run.
pub fn rows(runs: &[LoadRun], verdicts: &[Option<bool>]) -> Vec<Vec<String>> {
    runs.iter()
        .zip(verdicts.iter().chain(std::iter::repeat(&None)))
        .map(|(r, ok)| {
            let l = r.latency_ms;
            let p = |f: fn(&crate::measure::results::load::Percentiles) -> f64| {
                l.as_ref().map_or("-".into(), |l| ms(f(l)))
            };
            vec![
                match r.mode {
                    Mode::Rate(x) => format!("{} req/s", units::rate(x)),
                    Mode::Concurrency(n) => format!("{n} conns"),
                },
                format!("{} req/s", units::rate(r.throughput_rps)),
                p(|l| l.p50),
                p(|l| l.p90),
                p(|l| l.p99),
                p(|l| l.p999),
                p(|l| l.max),
                if r.errors.is_empty() {
                    "0".into()
                } else {
                    r.errors
                        .iter()
                        .map(|(k, v)| format!("{v}x{k}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                opt(r.server_cpu_per_wall, 2),
                opt(r.mean_batch_rows, 1),
                format!("{:.2}", r.client_cpu_per_wall),
                match ok {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => String::new(),
                },
            ]
        })
        .collect()
}

pub const HEADER: [&str; 12] = [
    "offered",
    "answered",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "errors",
    "server cpu/wall",
    "mean batch",
    "client cpu/wall",
    "meets p99",
];

/// The whole terminal output.
pub fn table(res: &LoadResults) -> String {
    let first = &res.runs[0];
    let mut out = format!(
        "load: model {} at {} ({}, {} protocol), {} per request, {} s per run{}\n",
        res.model,
        res.url,
        res.label,
        res.protocol,
        if first.rows_per_request == 1 {
            "1 row".to_string()
        } else {
            format!("{} rows", first.rows_per_request)
        },
        first.duration_s,
        match first.mode {
            Mode::Rate(_) => format!(
                ", open loop over {} connections: latency from each request's due time",
                first.connections
            ),
            Mode::Concurrency(_) => ", closed loop: latency from send".into(),
        }
    );
    let verdicts: Vec<Option<bool>> = match res.find_max {
        Some(f) => res
            .runs
            .iter()
            .map(|r| Some(crate::measure::results::load::meets(r, f.p99_target_ms)))
            .collect(),
        None => vec![None; res.runs.len()],
    };
    let mut header = HEADER.to_vec();
    if res.find_max.is_none() {
        header.pop();
    }
    let mut body = rows(&res.runs, &verdicts);
    if res.find_max.is_none() {
        for r in &mut body {
            r.pop();
        }
    }
    out.push_str(&table::render(&header, &body));
    if let Some(f) = res.find_max {
        out.push_str(&match f.best_rps {
            Some(b) => format!(
                "highest rate with p99 <= {} (no errors, throughput kept up): {} req/s\n",
                ms(f.p99_target_ms),
                units::rate(b)
            ),
            None => format!(
                "no rate tried met p99 <= {}; start lower (--rate)\n",
                ms(f.p99_target_ms)
            ),
        });
    }
    out
}

/// `cpuwall serve`'s line once it listens.
/// `max_wait` in seconds.
pub fn listening(
    addr: std::net::SocketAddr,
    names: &[String],
    backend: &str,
    max_batch: u64,
    max_wait: f64,
) -> String {
    format!(
        "listening on http://{addr} (models {}; backend {backend}; max batch {max_batch}, max wait {}); Ctrl-C stops",
        names.join(", "),
        units::seconds(max_wait)
    )
}

/// `cpuwall serve`'s last line.
/// `answered` requests; `abandoned` connections closed at the end of `--grace`.
pub fn stopped(answered: u64, abandoned: usize) -> String {
    let mut line = format!("stopped: {answered} requests answered");
    if abandoned > 0 {
        line.push_str(&format!(
            "; {abandoned} connections still open after --grace were closed"
        ));
    }
    line
}
