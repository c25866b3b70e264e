//! `cpuwall predict --format json` / `--export-json` (format
//! `cpuwall-predict`, docs/results.md): the job, and each backend's
//! figures by backend name, every timed sample included.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Header;
use crate::measure::predict::{PredictOutcome, PredictSettings};
use crate::measure::run::RawSamples;

#[derive(Debug, Clone, Serialize)]
pub struct PredictDocument<'a> {
    #[serde(flatten)]
    pub header: Header,
    pub settings: &'a PredictSettings,
    pub model: &'static str,
    pub model_path: String,
    pub rows: usize,
    pub features: usize,
    pub data: &'a str,
    pub backends: BTreeMap<&'static str, BackendFigures<'a>>,
    pub predictions_identical: bool,
}

/// One backend's figures, per call.
#[derive(Debug, Clone, Serialize)]
pub struct BackendFigures<'a> {
    pub name: &'a str,
    pub runs: usize,
    pub samples: usize,
    pub wall_seconds: f64,
    pub wall_seconds_ci95: [f64; 2],
    pub wall_seconds_min: f64,
    pub wall_seconds_max: f64,
    pub cpu_seconds: f64,
    pub worker_cpu_seconds: f64,
    pub parallelism: usize,
    pub cpu_per_wall: f64,
    pub rows_per_second: f64,
    pub speedup_vs_direct: Option<f64>,
    pub predictions_identical: bool,
    pub cold_start_seconds: Option<f64>,
    pub raw: &'a RawSamples,
}

impl<'a> PredictDocument<'a> {
    pub fn of(o: &'a PredictOutcome) -> Self {
        let backends = o
            .backends
            .iter()
            .map(|r| {
                let m = &r.measured;
                let figures = BackendFigures {
                    name: &r.name,
                    runs: m.runs,
                    samples: m.samples,
                    wall_seconds: m.wall_seconds.median,
                    wall_seconds_ci95: m.wall_seconds_ci95,
                    wall_seconds_min: m.wall_seconds.min,
                    wall_seconds_max: m.wall_seconds.max,
                    cpu_seconds: m.cpu_per_call(),
                    worker_cpu_seconds: m.worker_cpu_seconds.median,
                    parallelism: m.parallelism,
                    cpu_per_wall: m.cpu_per_wall,
                    rows_per_second: m.rows_per_second,
                    speedup_vs_direct: r.speedup_vs_direct,
                    predictions_identical: r.identical,
                    cold_start_seconds: r.cold_start_seconds,
                    raw: &m.raw,
                };
                (r.kind.as_str(), figures)
            })
            .collect();
        PredictDocument {
            header: Header::with(super::PREDICT, o.environment.clone()),
            settings: &o.settings,
            model: o.model.short(),
            model_path: o.model_path.display().to_string(),
            rows: o.rows,
            features: o.features,
            data: &o.data,
            backends,
            predictions_identical: o.identical(),
        }
    }
}
