//! The sweep results file: versioned JSON, written after every cell so an
//! interrupted sweep keeps what it measured (marked incomplete).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Header, Kind};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::measure::env::Environment;
use crate::measure::run::Measured;
use crate::measure::stats::{speedup, Spread};

pub const FORMAT: &str = super::SWEEP;

/// How the one reader knows a sweep results file. The largest `report`
/// reads is 256 MB (a sweep's is a few hundred KB).
pub const KIND: Kind = Kind {
    format: FORMAT,
    what: "cpuwall sweep results file",
    remedy: "write one with `cpuwall sweep --out`",
    max_bytes: 256 << 20,
    headerless_is_version_1: false,
};

/// A model or backend name: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One (model, backend, rows) measurement: the model and backend names,
/// the measurement itself (its fields flattened into the cell's JSON), and
/// how it compares with direct at the same size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub model: String,
    pub backend: String,
    #[serde(flatten)]
    pub measured: Measured,
    pub speedup_vs_direct: Option<f64>,
    pub identical_to_direct: bool,
}

/// A cell reads as its measurement (`cell.wall_seconds`), so the report's
/// code says what it reads without naming the nesting.
impl std::ops::Deref for Cell {
    type Target = Measured;
    fn deref(&self) -> &Measured {
        &self.measured
    }
}

impl Cell {
    /// The cell of one backend of a comparison.
    pub fn from_compared(model: &str, c: &crate::measure::compare::Compared) -> Self {
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
            measured: m.clone(),
            speedup_vs_direct: direct_wall.map(|d| speedup(d, m.wall_seconds.median)),
            identical_to_direct,
        }
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
    #[serde(flatten)]
    pub header: Header,
    pub complete: bool,
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
            header: Header::with(FORMAT, environment),
            complete: false,
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
        Self::checked(path, super::read(path, &KIND)?)
    }

    /// Results from the text of a results file (`path` names it in errors).
    pub fn from_text(path: &Path, text: &str) -> Result<Self> {
        Self::checked(path, super::from_text(path, text, &KIND)?)
    }

    /// Version 1 files lack only the raw samples: still read.
    fn checked(path: &Path, results: Self) -> Result<Self> {
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

/// One cell measured outside cpuwall's own runner (the Python package's
/// `study` of any estimator): its samples as the clocks read them, per call.
#[derive(Debug, Clone, Deserialize)]
pub struct SampledCell {
    pub model: String,
    pub backend: String,
    pub rows: usize,
    pub usages: Vec<crate::clock::Usage>,
    pub identical_to_direct: bool,
}

impl SweepResults {
    /// A complete results document from cells measured elsewhere, with
    /// this machine's environment and the same statistics (median, its 95%
    /// CI, CPU/wall, speedup over direct at the same size, noise) a sweep
    /// computes; `origin` names the caller in errors.
    pub fn from_samples(
        origin: &Path,
        settings: Settings,
        cells: Vec<SampledCell>,
        elapsed_seconds: f64,
    ) -> Result<Self> {
        let mut out = SweepResults::new(Environment::capture(), settings);
        let measured: Vec<Measured> = cells
            .iter()
            .map(|c| {
                if c.usages.is_empty() || c.rows == 0 {
                    return Err(Error::data(
                        origin,
                        format!(
                            "cell {} {} {}: no samples, or no rows",
                            c.model, c.backend, c.rows
                        ),
                    ));
                }
                Ok(Measured::from_runs(c.rows, &c.usages))
            })
            .collect::<Result<_>>()?;
        for (c, m) in cells.iter().zip(&measured) {
            let direct = cells
                .iter()
                .zip(&measured)
                .find(|(d, _)| d.model == c.model && d.rows == c.rows && d.backend == "direct")
                .map(|(_, d)| d.wall_seconds.median);
            out.cells.push(Cell::from_measured(
                &c.model,
                &c.backend,
                m,
                direct,
                c.identical_to_direct,
            ));
        }
        out.complete = true;
        out.elapsed_seconds = elapsed_seconds;
        out.update_noise();
        // The names a results file may hold, as a file read back is checked.
        Self::checked(origin, out)
    }
}

/// The sweep CSV: one line per cell.
pub fn cells_csv(cells: &[Cell]) -> String {
    let mut s = String::from("model,backend,rows,runs,wall_s_min,wall_s_median,wall_s_max,cpu_s_median,worker_cpu_s_median,cpu_per_wall,rows_per_second,speedup_vs_direct,identical_to_direct,samples,wall_s_ci95_low,wall_s_ci95_high,cpu_s_per_call,parallelism\n");
    for c in cells {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            c.model,
            c.backend,
            c.rows,
            c.runs,
            c.wall_seconds.min,
            c.wall_seconds.median,
            c.wall_seconds.max,
            c.cpu_seconds.median,
            c.worker_cpu_seconds.median,
            c.cpu_per_wall,
            c.rows_per_second,
            c.speedup_vs_direct.map_or(String::new(), |v| v.to_string()),
            c.identical_to_direct,
            c.samples,
            c.wall_seconds_ci95[0],
            c.wall_seconds_ci95[1],
            c.cpu_per_call(),
            c.parallelism
        ));
    }
    s
}
