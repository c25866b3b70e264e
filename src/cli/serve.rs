use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::models_dir;
use crate::data::count::{bytes_arg, count_arg, parallelism_arg, seconds_arg};
use crate::error::{Error, Result};
use crate::exec::BackendKind;
use crate::serve::batcher::Batching;
use crate::serve::server::{resolve_models, serve, ServeConfig};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall serve --model nb,lr,rf --port 8080
  curl -s localhost:8080/v1/models/nb/predict -d '{\"rows\": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]}'
  cpuwall serve --model iris=models/iris.cpuwall --max-batch 1 --port 0")]
pub struct ServeArgs {
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
    #[arg(long, default_value = "1024", value_parser = count_arg)]
    pub max_batch: u64,
    /// Longest a request waits for others to join its batch, from its arrival (only when
    /// others are already queued; a lone request goes at once). E.g. 500us, 2ms.
    #[arg(long, default_value = "500us", value_parser = seconds_arg)]
    pub max_wait: f64,
    /// Rows that may wait per model; a request that does not fit gets 503 with Retry-After.
    #[arg(long, default_value = "10000", value_parser = count_arg)]
    pub queue: u64,
    /// Largest request body (413 above), e.g. 8MiB, 64KiB.
    #[arg(long, default_value = "8MiB", value_parser = bytes_arg)]
    pub max_body: usize,
    /// Seconds a client may take to send a request (headers or body); idle keep-alive
    /// connections are closed after it too.
    #[arg(long, default_value = "30s", value_parser = seconds_arg)]
    pub client_timeout: f64,
    /// On SIGTERM/Ctrl-C, seconds to wait for in-flight requests before exiting.
    #[arg(long, default_value = "30s", value_parser = seconds_arg)]
    pub grace: f64,
    /// Connections served at once (more wait to be accepted); with --max-body it bounds the
    /// memory request bodies take.
    #[arg(long, default_value = "1024", value_parser = count_arg)]
    pub max_connections: u64,
    /// Where nb/lr/svc/rf model files live (default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

pub fn run(a: ServeArgs) -> Result<()> {
    if !matches!(
        a.backend,
        BackendKind::Auto | BackendKind::Direct | BackendKind::Threads
    ) {
        return Err(Error::usage(format!(
            "--backend {} cannot serve; choose auto, direct or threads",
            a.backend
        )));
    }
    if a.max_batch == 0 || a.queue == 0 || a.client_timeout <= 0.0 {
        return Err(Error::usage(
            "--max-batch, --queue and --client-timeout must be above 0",
        ));
    }
    let dir = models_dir(&a.models_dir)?;
    let models = resolve_models(&a.model, &dir, &|line| eprintln!("{line}"))?;
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
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
    };
    let summary = serve(config, &|addr| {
        eprintln!(
            "listening on http://{addr} (models {}; backend {}; max batch {}, max wait {}); Ctrl-C stops",
            names.join(", "),
            a.backend,
            a.max_batch,
            crate::units::seconds(a.max_wait)
        );
    })?;
    eprintln!(
        "stopped: {} requests answered{}",
        summary.answered,
        if summary.abandoned > 0 {
            format!(
                "; {} connections still open after --grace were closed",
                summary.abandoned
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
