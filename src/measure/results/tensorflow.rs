//! TensorFlow's side of the CNN study, as `baselines/keras_ensembles.py`
//! writes it.

use std::path::Path;

use super::Kind;
use crate::ensemble::StrategyKind;

/// How the one reader knows a TensorFlow baseline file.
pub const KIND: Kind = Kind {
    format: super::TENSORFLOW,
    what: "TensorFlow baseline file",
    remedy: "write one with `python baselines/keras_ensembles.py --out FILE`",
    max_bytes: 16 << 20,
    headerless_is_version_1: false,
};

/// TensorFlow's run of the study's designs on the same machine: the
/// results file `baselines/keras_ensembles.py` writes (format
/// `cpuwall-baseline-tensorflow`, docs/results.md).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TensorflowBaseline {
    pub format: String,
    pub version: u32,
    pub environment: TensorflowEnvironment,
    pub training: Option<super::ensemble::Training>,
    pub cells: Vec<TensorflowCell>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TensorflowEnvironment {
    pub cpu_model: String,
    pub cores: usize,
    pub tensorflow: String,
    pub date: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TensorflowCell {
    /// `sequential`, `multiprocessing` or `one_graph`.
    pub design: String,
    pub batch_size: usize,
    pub images: usize,
    pub members: usize,
    pub runs: usize,
    /// Median over the runs.
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    pub cpu_per_wall: f64,
}

impl TensorflowBaseline {
    pub fn load(path: &Path) -> crate::Result<Self> {
        super::read(path, &KIND)
    }

    /// TensorFlow's time for the design matching `kind` (threads has none):
    /// sequential, multiprocessing (processes) or one graph (fused).
    pub fn seconds(&self, kind: StrategyKind, batch: usize) -> Option<f64> {
        let design = match kind {
            StrategyKind::Sequential => "sequential",
            StrategyKind::Processes => "multiprocessing",
            StrategyKind::Fused => "one_graph",
            StrategyKind::Threads => return None,
        };
        self.cells
            .iter()
            .find(|c| c.design == design && c.batch_size == batch)
            .map(|c| c.wall_seconds)
            .filter(|w| w.is_finite() && *w > 0.0)
    }
}
