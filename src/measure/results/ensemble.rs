//! The CNN study's results (`cpuwall ensemble bench --out`, the
//! `cnn_study` example): every strategy x batch size cell, the training
//! run and the machine's measured GEMM roof.

use serde::{Deserialize, Serialize};

use super::{Header, Kind};
use crate::ensemble::StrategyKind;
use crate::measure::env::Environment;
use crate::measure::run::Measured;

pub const FORMAT: &str = super::ENSEMBLE;

/// How the one reader knows an ensemble results file; files from before
/// schema version 2 had no `format`, `version` or `roofline` and still read.
pub const KIND: Kind = Kind {
    format: FORMAT,
    what: "ensemble results file",
    remedy:
        "write one with `cargo run --release --example cnn_study` or `cpuwall ensemble bench --out`",
    max_bytes: 64 << 20,
    headerless_is_version_1: true,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchCell {
    pub strategy: StrategyKind,
    pub device: String,
    pub batch_size: usize,
    pub images: usize,
    pub members: usize,
    #[serde(flatten)]
    pub measured: Measured,
    /// Floating-point operations per second (2 per multiply-add) at the median wall.
    pub gflops: f64,
    pub ensemble_accuracy: f64,
    pub member_accuracy: Vec<f64>,
    /// Largest |averaged probability - sequential's| over all images and classes.
    pub max_abs_diff_vs_sequential: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Training {
    pub seconds: f64,
    pub members: usize,
    pub images: usize,
    pub batch_size: usize,
    pub epochs: usize,
}

/// What `cnn_study` (or a saved bench) writes: everything the report is
/// made from, so `cpuwall ensemble report` can regenerate it. Schema
/// `cpuwall-ensemble` (docs/results.md); files from before schema version 2
/// had no `format`, `version` or `roofline` and still read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StudyResults {
    #[serde(flatten)]
    pub header: Header,
    pub training: Option<Training>,
    pub cells: Vec<BenchCell>,
    /// The machine's measured GEMM roof (None in files from before it).
    #[serde(default)]
    pub roofline: Option<crate::ensemble::roofline::Roofline>,
}

impl StudyResults {
    pub fn new(
        environment: Environment,
        training: Option<Training>,
        cells: Vec<BenchCell>,
        roofline: Option<crate::ensemble::roofline::Roofline>,
    ) -> Self {
        StudyResults {
            header: Header::with(FORMAT, environment),
            training,
            cells,
            roofline,
        }
    }

    pub fn save(&self, path: &std::path::Path) -> crate::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::atomic::write_atomic(path, text.as_bytes())
    }

    pub fn load(path: &std::path::Path) -> crate::Result<Self> {
        super::read(path, &KIND)
    }

    /// Results from the text of a results file (`path` names it in errors).
    pub fn from_text(path: &std::path::Path, text: &str) -> crate::Result<Self> {
        super::from_text(path, text, &KIND)
    }
}
