//! `cpuwall load`'s results: one run (latency percentiles, errors, the
//! server's and the client's CPU/wall), or the steps of `--find-max`, and
//! the rule a step passes by.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Header, Kind};
use crate::error::{Error, Result};

pub const FORMAT: &str = super::LOAD;

/// How the one reader knows a load results file.
pub const KIND: Kind = Kind {
    format: FORMAT,
    what: "cpuwall load results file",
    remedy: "write one with `cpuwall load --out`",
    max_bytes: 64 << 20,
    headerless_is_version_1: false,
};

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Open loop at this many requests per second.
    Rate(f64),
    /// Closed loop with this many connections.
    Concurrency(usize),
}

/// Which protocol the requests spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// cpuwall's own `POST /v1/models/{name}/predict` with `{"rows": ...}`.
    #[default]
    Native,
    /// The Open Inference Protocol (KServe v2 REST): `POST
    /// /v2/models/{name}/infer` with one FP64 `[N, F]` input in JSON, asking
    /// for the `label` output (what the native body answers).
    V2,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Native => "native",
            Protocol::V2 => "v2",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "native" => Ok(Protocol::Native),
            "v2" => Ok(Protocol::V2),
            other => Err(format!("{other:?} is no protocol; use native or v2")),
        }
    }
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
    /// `cpuwall-load`.
    #[serde(flatten)]
    pub header: Header,
    pub url: String,
    pub model: String,
    /// The requests' protocol (files from before it was recorded: native).
    #[serde(default)]
    pub protocol: Protocol,
    /// What the user called the server (the report's legend).
    pub label: String,
    pub cpuwall_version: String,
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

/// A run passes `--find-max` when nothing failed, the server kept up with
/// the offered rate, and p99 met the target.
pub fn meets(run: &LoadRun, p99_ms: f64) -> bool {
    run.error_count() == 0 && kept_up(run) && run.latency_ms.is_some_and(|l| l.p99 <= p99_ms)
}

/// The answers kept up with the offered rate (within 5%).
pub fn kept_up(run: &LoadRun) -> bool {
    run.offered_rps
        .is_none_or(|r| run.throughput_rps >= 0.95 * r)
}

impl LoadResults {
    /// The server as reports name it: the label, marked when the requests
    /// spoke the Open Inference Protocol (one label can be run both ways).
    pub fn server_name(&self) -> String {
        match self.protocol {
            Protocol::Native => self.label.clone(),
            Protocol::V2 => format!("{} (v2)", self.label),
        }
    }

    /// Read a results file written by `cpuwall load --out`.
    pub fn load(path: &Path) -> Result<LoadResults> {
        Self::checked(path, super::read(path, &KIND)?)
    }

    pub fn from_text(path: &Path, text: &str) -> Result<LoadResults> {
        Self::checked(path, super::from_text(path, text, &KIND)?)
    }

    fn checked(path: &Path, r: LoadResults) -> Result<LoadResults> {
        if r.runs.is_empty() {
            return Err(Error::data(
                path,
                format!("load results with no runs; {}", KIND.remedy),
            ));
        }
        Ok(r)
    }

    /// Whether a file starts like a load results document.
    pub fn sniff(path: &Path) -> bool {
        super::sniff(path, FORMAT)
    }
}
