//! The sweep results file: versioned JSON, written after every cell so an
//! interrupted sweep keeps what it measured (marked incomplete).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::env::Environment;
use super::run::Measured;
use super::stats::{is_shaky, speedup, Spread};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};

pub const FORMAT: &str = super::schema::SWEEP;
pub const VERSION: u32 = super::schema::VERSION;
/// The largest results file `report` reads (a sweep's is a few hundred KB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// A model or backend name: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One (model, backend, rows) measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub model: String,
    pub backend: String,
    pub rows: u64,
    /// Calls timed.
    pub runs: usize,
    /// Timed samples (a sample of a tiny call is several calls); the wall
    /// statistics are over samples, per call.
    #[serde(default)]
    pub samples: usize,
    pub wall_seconds: Spread,
    /// 95% confidence interval of the median wall (order statistics).
    #[serde(default)]
    pub wall_seconds_ci95: [f64; 2],
    pub cpu_seconds: Spread,
    pub worker_cpu_seconds: Spread,
    pub cpu_per_wall: f64,
    pub rows_per_second: f64,
    pub speedup_vs_direct: Option<f64>,
    pub identical_to_direct: bool,
    /// Most threads and processes that did part of one call (0: not known).
    #[serde(default)]
    pub parallelism: usize,
    /// Every timed sample (schema version 2; absent before).
    #[serde(default, skip_serializing_if = "super::run::RawSamples::is_empty")]
    pub raw: super::run::RawSamples,
}

impl Cell {
    /// The cell of one backend of a comparison.
    pub fn from_compared(model: &str, c: &super::compare::Compared) -> Self {
        let mut cell = Cell::from_measured(model, c.kind.as_str(), &c.measured, None, c.identical);
        cell.speedup_vs_direct = c.speedup_vs_direct;
        cell
    }

    /// The cell of a measurement; `direct_wall` (direct's median wall at the
    /// same size) gives the speedup.
    pub fn from_measured(
        model: &str,
        backend: &str,
        m: &Measured,
        direct_wall: Option<f64>,
        identical_to_direct: bool,
    ) -> Self {
        Cell {
            model: model.into(),
            backend: backend.into(),
            rows: m.rows as u64,
            runs: m.runs,
            samples: m.samples,
            wall_seconds: m.wall_seconds,
            wall_seconds_ci95: m.wall_seconds_ci95,
            cpu_seconds: m.cpu_seconds,
            worker_cpu_seconds: m.worker_cpu_seconds,
            cpu_per_wall: m.cpu_per_wall,
            rows_per_second: m.rows_per_second,
            speedup_vs_direct: direct_wall.map(|d| speedup(d, m.wall_seconds.median)),
            identical_to_direct,
            parallelism: m.parallelism,
            raw: m.raw.clone(),
        }
    }

    /// CPU per call at the median wall (the aggregation of CPU/wall).
    pub fn cpu_per_call(&self) -> f64 {
        self.cpu_per_wall * self.wall_seconds.median
    }

    /// Too few samples for a 95% CI, or a CI wider than +-10% of the median.
    pub fn is_shaky(&self) -> bool {
        is_shaky(
            self.samples,
            self.wall_seconds_ci95,
            self.wall_seconds.median,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub models: Vec<String>,
    pub backends: Vec<String>,
    pub rows: Vec<u64>,
    pub min_time_seconds: f64,
    pub max_repeats: usize,
    pub threads: usize,
    pub workers: usize,
    pub seed: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    pub format: String,
    pub version: u32,
    pub complete: bool,
    pub environment: Environment,
    pub settings: Settings,
    pub cells: Vec<Cell>,
    /// Wall seconds the sweep took (so far).
    pub elapsed_seconds: f64,
    /// Median over cells of (median - min) / min wall time: how far a
    /// typical repeat sits from the best one (0 on a quiet machine).
    pub noise: f64,
}

impl SweepResults {
    pub fn new(environment: Environment, settings: Settings) -> Self {
        SweepResults {
            format: FORMAT.into(),
            version: VERSION,
            complete: false,
            environment,
            settings,
            cells: Vec::new(),
            elapsed_seconds: 0.0,
            noise: 0.0,
        }
    }

    pub fn update_noise(&mut self) {
        let ranges: Vec<f64> = self
            .cells
            .iter()
            .filter(|c| c.runs > 1 && c.wall_seconds.min > 0.0)
            .map(|c| (c.wall_seconds.median - c.wall_seconds.min) / c.wall_seconds.min)
            .collect();
        self.noise = if ranges.is_empty() {
            0.0
        } else {
            Spread::of(&ranges).median
        };
    }

    /// Written compact (a sweep holds tens of thousands of raw samples;
    /// `jq .` or `cpuwall report` is for reading it).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(
            path,
            (serde_json::to_string(self).expect("json") + "\n").as_bytes(),
        )
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::data::bounded::read_json_text(
            path,
            &crate::data::bounded::Limit {
                what: "cpuwall sweep results file",
                max: MAX_FILE_BYTES,
                not_found: "results file not found; run `cpuwall sweep` first",
            },
        )?;
        Self::from_text(path, &text)
    }

    /// Results from the text of a results file (`path` names it in errors).
    pub fn from_text(path: &Path, text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::data(
                path,
                format!("corrupted results file (not valid JSON: {e}); re-run the sweep"),
            )
        })?;
        // Version 1 files lack only the raw samples: still read.
        super::schema::check(
            path,
            &v,
            FORMAT,
            "cpuwall sweep results file",
            "write one with `cpuwall sweep --out`",
        )?;
        let results: SweepResults = serde_json::from_value(v).map_err(|e| {
            Error::data(
                path,
                format!("corrupted results file ({e}); re-run the sweep"),
            )
        })?;
        // Names become file names (the report's plots): nothing but a name.
        for (i, c) in results.cells.iter().enumerate() {
            for (what, name) in [("model", &c.model), ("backend", &c.backend)] {
                if !is_name(name) {
                    return Err(Error::data(
                        path,
                        format!(
                            "cell {} names {what} '{name}', not a {what} name (letters, digits, '-', '_'); re-run the sweep",
                            i + 1
                        ),
                    ));
                }
            }
        }
        Ok(results)
    }
}
