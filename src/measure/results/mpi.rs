//! `cpuwall predict --backend mpi --format json` (format
//! `cpuwall-mpi-predict`, docs/results.md), written by rank 0.

use serde::Serialize;

use super::Header;
use crate::exec::mpi::RankReport;

#[derive(Debug, Clone, Serialize)]
pub struct MpiPredictDocument<'a> {
    #[serde(flatten)]
    pub header: Header,
    pub model: &'static str,
    pub model_path: String,
    pub rows: usize,
    pub features: usize,
    pub data: &'a str,
    pub ranks: usize,
    pub runs: usize,
    pub wall_seconds: f64,
    pub wall_seconds_ci95: [f64; 2],
    pub wall_seconds_min: f64,
    pub wall_seconds_max: f64,
    /// CPU inside the predict calls, all ranks.
    pub cpu_seconds: f64,
    /// CPU of the gather.
    pub mpi_cpu_seconds: f64,
    pub cpu_per_wall: f64,
    pub rows_per_second: f64,
    pub direct_wall_seconds: Option<f64>,
    pub speedup_vs_direct: Option<f64>,
    pub predictions_identical: Option<bool>,
    pub per_rank: &'a [RankReport],
    pub raw: MpiRaw<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MpiRaw<'a> {
    /// Every run's wall seconds, in order.
    pub wall_seconds: &'a [f64],
}

impl<'a> MpiPredictDocument<'a> {
    pub fn of(o: &'a crate::measure::mpi::MpiPredictOutcome) -> Self {
        MpiPredictDocument {
            header: Header::with(super::MPI_PREDICT, o.environment.clone()),
            model: o.model.short(),
            model_path: o.model_path.display().to_string(),
            rows: o.rows,
            features: o.features,
            data: &o.data,
            ranks: o.ranks,
            runs: o.runs,
            wall_seconds: o.wall_seconds.median,
            wall_seconds_ci95: o.wall_seconds_ci95,
            wall_seconds_min: o.wall_seconds.min,
            wall_seconds_max: o.wall_seconds.max,
            cpu_seconds: o.predict_cpu(),
            mpi_cpu_seconds: o.gather_cpu(),
            cpu_per_wall: o.cpu_per_wall(),
            rows_per_second: o.rows as f64 / o.median.wall_seconds,
            direct_wall_seconds: o.check.map(|c| c.1),
            speedup_vs_direct: o.speedup_vs_direct(),
            predictions_identical: o.check.map(|c| c.0),
            per_rank: &o.median.ranks,
            raw: MpiRaw {
                wall_seconds: &o.walls,
            },
        }
    }
}
