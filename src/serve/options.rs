//! The command lines of `cpuwall serve` and `cpuwall load` (clap), checked
//! and turned into the configs [`super::server::serve`] and
//! [`super::load::measure_server`] take. `cli/` adds the output options and
//! prints.

use std::time::Duration;

use clap::Args;

use super::batcher::Batching;
use super::load::{LoadConfig, Search};
use super::server::{ServeConfig, ServedModel};
use crate::data::count::{
    bytes_arg, count_arg, parallelism_arg, positive_arg, positive_count_arg, seconds_arg,
};
use crate::error::{Error, Result};
use crate::exec::BackendKind;
use crate::measure::results::load::{Mode, Protocol};

#[derive(Debug, Args)]
pub struct ServeOptions {
    /// Models to serve: nb, lr, svc, rf (the file in --models-dir, trained if missing), paths
    /// (served under their file name) or NAME=PATH; comma-separated.
    #[arg(long)]
    pub model: String,
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the one chosen is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How batches are predicted: auto (direct or threads by batch size, from the measured
    /// crossover), direct or threads.
    #[arg(long, default_value = "auto")]
    pub backend: BackendKind,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub threads: Option<usize>,
    /// Threads answering connections; each also predicts the batches it leads (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub io_threads: Option<usize>,
    /// Batch size from which auto uses threads (default: measured once, cached).
    #[arg(long, value_parser = count_arg)]
    pub threads_from: Option<u64>,
    /// Most rows predicted as one batch (1 turns micro-batching off).
    #[arg(long, default_value = "1024", value_parser = positive_count_arg)]
    pub max_batch: u64,
    /// Longest a request waits for others to join its batch, from its arrival (only when
    /// others are already queued; a lone request goes at once). E.g. 500us, 2ms.
    #[arg(long, default_value = "500us", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub max_wait: f64,
    /// Rows that may wait per model; a request that does not fit gets 503 with Retry-After.
    #[arg(long, default_value = "10000", value_parser = positive_count_arg)]
    pub queue: u64,
    /// Largest request body (413 above), e.g. 8MiB, 64KiB.
    #[arg(long, default_value = "8MiB", value_parser = bytes_arg)]
    pub max_body: usize,
    /// Seconds a client may take to send a request (headers or body); idle keep-alive
    /// connections are closed after it too.
    #[arg(long, default_value = "30s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub client_timeout: f64,
    /// On SIGTERM/Ctrl-C, seconds to wait for in-flight requests before exiting.
    #[arg(long, default_value = "30s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub grace: f64,
    /// Connections held open at once; one more closes the connection idle longest (or, when
    /// every one is mid-request, is answered 503).
    #[arg(long, default_value = "1024", value_parser = positive_count_arg)]
    pub max_connections: u64,
    /// Bytes of request bodies read and parsed at once, all connections together (503
    /// beyond), e.g. 256MiB: with --queue, what bounds the server's memory.
    #[arg(long, default_value = "256MiB", value_parser = bytes_arg)]
    pub body_memory: usize,
}

impl ServeOptions {
    /// Check the options and load the models (training a missing default
    /// one, with a notice): the server's config.
    pub fn config(&self, resolve: Resolver<'_>, notify: &dyn Fn(&str)) -> Result<ServeConfig> {
        let a = self;
        if !matches!(
            a.backend,
            BackendKind::Auto | BackendKind::Direct | BackendKind::Threads
        ) {
            return Err(Error::usage(format!(
                "--backend {} cannot serve; choose auto, direct or threads",
                a.backend
            )));
        }
        if a.client_timeout <= 0.0 {
            return Err(Error::usage("--client-timeout must be above 0"));
        }
        if a.body_memory < a.max_body {
            return Err(Error::usage(format!(
                "--body-memory ({} bytes) is below --max-body ({} bytes): no body that large could be read; raise --body-memory",
                a.body_memory, a.max_body
            )));
        }
        let models = resolve_models(&a.model, resolve, notify)?;
        let config = ServeConfig {
            models,
            host: a.host.clone(),
            port: a.port,
            backend: a.backend,
            threads: a.threads.unwrap_or_else(crate::exec::build::cores),
            threads_from: a.threads_from.map(|v| v as usize),
            io_threads: a.io_threads.unwrap_or_else(crate::exec::build::cores),
            batching: Batching {
                max_batch: a.max_batch as usize,
                max_wait: Duration::from_secs_f64(a.max_wait),
                queue_rows: a.queue as usize,
            },
            max_body: a.max_body,
            client_timeout: Duration::from_secs_f64(a.client_timeout),
            grace: Duration::from_secs_f64(a.grace),
            max_connections: a.max_connections.clamp(1, 1 << 20) as usize,
            body_memory: a.body_memory,
        };
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct LoadOptions {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The model to request (POST /v1/models/MODEL/predict, or /v2/models/MODEL/infer).
    #[arg(long)]
    pub model: String,
    /// What the requests speak: native (cpuwall's {"rows": ...}) or v2 (the Open Inference
    /// Protocol, KServe v2 REST, JSON tensors; any v2 server: Triton, MLServer, KServe).
    #[arg(long, default_value = "native")]
    pub protocol: Protocol,
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
    #[arg(long, default_value = "10s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub duration: f64,
    /// Load sent before measuring, at the same rate.
    #[arg(long, default_value = "1s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub warmup: f64,
    /// Rows in each request.
    #[arg(long, default_value = "1", value_parser = positive_count_arg)]
    pub rows_per_request: u64,
    /// The model's feature count (default: read from the server's /models).
    #[arg(long, value_parser = count_arg)]
    pub features: Option<u64>,
    /// Longest wait for one answer; slower ones count as timeout errors.
    #[arg(long, default_value = "10s", value_parser = seconds_arg, allow_hyphen_values = true)]
    pub timeout: f64,
    /// Raise the rate (x2 from --rate, then bisect) to the highest one whose p99 stays under --p99.
    #[arg(long)]
    pub find_max: bool,
    /// --find-max's latency target (e.g. 10ms).
    #[arg(long, default_value = "10ms", value_parser = seconds_arg, allow_hyphen_values = true)]
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
}

impl LoadOptions {
    /// Check the options: the load, the `--find-max` search if asked, and
    /// the server's label.
    pub fn plan(&self) -> Result<(LoadConfig, Option<Search>, String)> {
        let a = self;
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
            protocol: a.protocol,
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
            if crate::clock::process_tree_cpu(pid).is_none() {
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
        Ok((config, search, label))
    }
}

/// What turns a `--model` entry (`nb`, a path) into its model file: the
/// command passes it in (serve trains nothing itself).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<crate::model::store::Resolved>;

/// The models `--model` names: `nb,lr` (found by `resolve`), paths (served
/// under their file stem) or `NAME=PATH`.
pub fn resolve_models(
    spec: &str,
    resolve: Resolver<'_>,
    notify: &dyn Fn(&str),
) -> Result<Vec<ServedModel>> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(Error::usage(format!(
                "--model '{spec}' has an empty entry; write nb,lr or NAME=PATH"
            )));
        }
        let (name, target) = match item.split_once('=') {
            Some((n, p)) => (n.trim().to_string(), p.trim()),
            None => {
                let p = std::path::Path::new(item);
                let stem = match item.parse::<crate::model::ModelKind>() {
                    Ok(_) => item.to_string(),
                    Err(_) => p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| item.to_string()),
                };
                (stem, item)
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::usage(format!(
                "model name '{name}' must be letters, digits, '-', '_' or '.' (it is part of the URL); write NAME=PATH"
            )));
        }
        let resolved = resolve(target)?;
        if let Some(n) = resolved.notice() {
            notify(&n);
        }
        out.push(ServedModel {
            name,
            path: resolved.path,
            stored: resolved.stored,
        });
    }
    Ok(out)
}
