use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Format;
use crate::atomic::write_atomic;
use crate::data::count::{count_arg, parallelism_arg, positive_arg, seconds_arg};
use crate::error::{Error, Result};
use crate::report;
use crate::serve::load::{measure_server, LoadConfig, Mode, Search};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall load --url http://127.0.0.1:8080 --model nb --rate 5000 --duration 10s
  cpuwall load --url http://127.0.0.1:8080 --model rf --find-max --p99 10ms --out rf.json
  cpuwall load --url http://127.0.0.1:8080 --model lr --concurrency 1 --format json")]
pub struct LoadArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The model to request (POST /v1/models/MODEL/predict).
    #[arg(long)]
    pub model: String,
    /// Open loop: requests per second, sent on a fixed timetable; latency counts from each
    /// request's due time (coordinated omission corrected). The start rate for --find-max.
    #[arg(long, value_parser = positive_arg, conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Closed loop: this many connections sending back to back (latency from send).
    #[arg(long, value_parser = parallelism_arg)]
    pub concurrency: Option<usize>,
    /// Open loop: connections, the most requests in flight at once.
    #[arg(long, default_value_t = 64, value_parser = parallelism_arg)]
    pub connections: usize,
    /// Measured time per run (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = seconds_arg)]
    pub duration: f64,
    /// Load sent before measuring, at the same rate.
    #[arg(long, default_value = "1s", value_parser = seconds_arg)]
    pub warmup: f64,
    /// Rows in each request.
    #[arg(long, default_value = "1", value_parser = count_arg)]
    pub rows_per_request: u64,
    /// The model's feature count (default: read from the server's /models).
    #[arg(long, value_parser = count_arg)]
    pub features: Option<u64>,
    /// Longest wait for one answer; slower ones count as timeout errors.
    #[arg(long, default_value = "10s", value_parser = seconds_arg)]
    pub timeout: f64,
    /// Raise the rate (x2 from --rate, then bisect) to the highest one whose p99 stays under --p99.
    #[arg(long)]
    pub find_max: bool,
    /// --find-max's latency target (e.g. 10ms).
    #[arg(long, default_value = "10ms", value_parser = seconds_arg)]
    pub p99: f64,
    /// --find-max: most doubling steps.
    #[arg(long, default_value_t = 12)]
    pub max_steps: usize,
    /// What to call this server in the results and the report (default: the URL).
    #[arg(long)]
    pub label: Option<String>,
    /// A server process whose CPU time (its own and its children's, from /proc) gives the
    /// server's CPU/wall, for servers without cpuwall's /metrics.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seed of the synthetic rows sent.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Write the results (every run) as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// table: for people; json: the results document on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: LoadArgs) -> Result<()> {
    let mode = match (a.rate, a.concurrency) {
        (Some(r), None) => Mode::Rate(r),
        (None, Some(n)) => Mode::Concurrency(n),
        (None, None) if a.find_max => Mode::Rate(1000.0),
        _ => {
            return Err(Error::usage(
                "give --rate R (open loop) or --concurrency N (closed loop)",
            ))
        }
    };
    if a.duration <= 0.0 || a.timeout <= 0.0 || a.rows_per_request == 0 || a.p99 <= 0.0 {
        return Err(Error::usage(
            "--duration, --timeout, --p99 and --rows-per-request must be above 0",
        ));
    }
    let config = LoadConfig {
        url: a.url.clone(),
        model: a.model.clone(),
        mode,
        connections: a.connections,
        duration: Duration::from_secs_f64(a.duration),
        warmup: Duration::from_secs_f64(a.warmup),
        rows_per_request: a.rows_per_request as usize,
        features: a.features.map(|d| d as usize),
        timeout: Duration::from_secs_f64(a.timeout),
        seed: a.seed,
        server_pid: a.server_pid,
    };
    if let Some(pid) = a.server_pid {
        if crate::serve::load::process_tree_cpu(pid).is_none() {
            return Err(Error::usage(format!(
                "--server-pid {pid}: no such process (or no /proc to read it from)"
            )));
        }
    }
    let search = a.find_max.then_some(Search {
        p99_ms: a.p99 * 1e3,
        max_steps: a.max_steps.max(1),
    });
    let label = a.label.clone().unwrap_or_else(|| a.url.clone());
    let results = measure_server(&config, search, &label, &|r, ok| {
        if search.is_some() {
            let row = report::load::rows(std::slice::from_ref(r), &[ok]);
            eprintln!("  {}", row[0].join("  "));
        }
    })?;
    let json = serde_json::to_string_pretty(&results).expect("json");
    if let Some(p) = &a.out {
        write_atomic(p, format!("{json}\n").as_bytes())?;
    }
    match a.format {
        Format::Json => println!("{json}"),
        Format::Table => print!("{}", report::load::table(&results)),
    }
    Ok(())
}
