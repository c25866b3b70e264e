//! The CNN study's report: cpuwall's strategies beside TensorFlow's designs
//! (the re-run of the study on a 2-core machine), with GFLOP/s,
//! CPU/wall, accuracy and agreement, computed from bench cells.

use super::bench::BenchCell;
use super::StrategyKind;
use crate::measure::env::Environment;
use crate::report::table;
use crate::units;

/// TensorFlow 2.21 (oneDNN), 4 members x 6000 synthetic images, 2 cores,
/// median of 3: (batch, sequential, multiprocessing, one graph) seconds.
pub const TENSORFLOW: [(usize, f64, f64, f64); 3] = [
    (4, 10.9, 8.0, 5.3),
    (64, 2.58, 3.41, 1.77),
    (500, 2.77, 2.87, 1.46),
];
/// TensorFlow: one epoch of 4 members one after another at batch 4, seconds.
pub const TENSORFLOW_TRAIN_SECONDS: f64 = 25.0;

/// TensorFlow's time for the design matching `kind` (threads has none).
pub fn tensorflow_seconds(kind: StrategyKind, batch: usize) -> Option<f64> {
    let row = TENSORFLOW.iter().find(|r| r.0 == batch)?;
    match kind {
        StrategyKind::Sequential => Some(row.1),
        StrategyKind::Processes => Some(row.2),
        StrategyKind::Fused => Some(row.3),
        StrategyKind::Threads => None,
    }
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
/// made from, so `cpuwall ensemble report` can regenerate it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StudyResults {
    pub environment: Environment,
    pub training: Option<Training>,
    pub cells: Vec<BenchCell>,
}

impl StudyResults {
    pub fn save(&self, path: &std::path::Path) -> crate::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::atomic::write_atomic(path, text.as_bytes())
    }

    pub fn load(path: &std::path::Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::Error::data(path, format!("cannot read the results file: {e}")))?;
        serde_json::from_str(&text).map_err(|e| {
            crate::Error::data(
                path,
                format!("not an ensemble results file ({e}); write one with `cargo run --release --example cnn_study` or `cpuwall ensemble bench --out`"),
            )
        })
    }

    pub fn markdown(&self) -> String {
        markdown(&self.cells, self.training.as_ref(), &self.environment)
    }
}

pub fn markdown(cells: &[BenchCell], training: Option<&Training>, env: &Environment) -> String {
    let mut md = String::from("# CNN ensemble: execution strategies, measured\n\n");
    if let Some(c) = cells.first() {
        md.push_str(&format!(
            "{} members x {} images (CIFAR-10 shaped, synthetic), on `{}` ({} cores), {}; cpuwall {} ({}), {}.\n\n",
            c.members,
            c.images,
            env.cpu_model,
            env.cores,
            env.os,
            env.cpuwall_version,
            env.git_commit,
            env.date
        ));
    }
    md.push_str("Each cell: median wall time over the runs, CPU/wall (this process plus member processes), and GFLOP/s (2 FLOP per multiply-add of the ensemble, 218 GFLOP for 4 x 6000). TensorFlow's time for the same design in brackets, from the study's re-run on a 2-core machine.\n\n");
    let mut kinds: Vec<StrategyKind> = Vec::new();
    let mut batches: Vec<usize> = Vec::new();
    for c in cells {
        if !kinds.contains(&c.strategy) {
            kinds.push(c.strategy);
        }
        if !batches.contains(&c.batch_size) {
            batches.push(c.batch_size);
        }
    }
    let mut header = vec!["batch"];
    header.extend(kinds.iter().map(|k| k.name()));
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|&b| {
            let mut row = vec![b.to_string()];
            for &k in &kinds {
                let cell = cells.iter().find(|c| c.strategy == k && c.batch_size == b);
                row.push(cell.map_or("-".into(), |c| {
                    let tf = tensorflow_seconds(k, b)
                        .map(|t| format!(" [TF {}]", units::seconds(t)))
                        .unwrap_or_default();
                    format!(
                        "{} ({:.2}, {:.0} GFLOP/s){tf}",
                        units::seconds(c.measured.wall_seconds.median),
                        c.measured.cpu_per_wall,
                        c.gflops
                    )
                }));
            }
            row
        })
        .collect();
    md.push_str(&table::render(&header, &rows));
    md.push('\n');

    md.push_str("\n## Against TensorFlow\n\n");
    let mut lines = Vec::new();
    for c in cells {
        if let Some(tf) = tensorflow_seconds(c.strategy, c.batch_size) {
            let ours = c.measured.wall_seconds.median;
            lines.push(format!(
                "- {} at batch {}: {} vs TensorFlow {} ({:.1}x {}).",
                c.strategy.name(),
                c.batch_size,
                units::seconds(ours),
                units::seconds(tf),
                if ours <= tf { tf / ours } else { ours / tf },
                if ours <= tf { "faster" } else { "slower" }
            ));
        }
    }
    md.push_str(&lines.join("\n"));
    md.push_str(
        "\n\nTensorFlow's best design (one graph at batch 500) took 1.46 s, about 150 GFLOP/s.\n",
    );

    if let Some(t) = training {
        md.push_str(&format!(
            "\n## Training\n\n{} members, {} epoch(s) at batch {} on {} images: {:.1} s (TensorFlow: {:.0} s for one epoch of 4 members one after another). Members train concurrently, one per core.\n",
            t.members, t.epochs, t.batch_size, t.images, t.seconds, TENSORFLOW_TRAIN_SECONDS
        ));
    }

    if let Some((_, _, accuracy, per_member, worst)) = super::bench::agreement(cells) {
        md.push_str(&format!(
            "\n## Accuracy and agreement\n\nEnsemble accuracy {accuracy:.4} (members {per_member}), computed from the predictions. Largest difference between any strategy's averaged probabilities and sequential's: {worst:.1e}.\n"
        ));
    }
    md.push_str("\n## What limits each strategy\n\n- All four run the same kernels on the CPU: conv1 as a direct AVX-512 convolution with bias, ReLU and 2x2 max-pool in registers; conv2, conv3 and the dense layers as im2col + one GEMM (the `gemm` crate's AVX-512 kernels) with the bias preloaded, ReLU and pool applied while the tile is in cache. The GEMM microkernels run near the cores' FMA peak, so what is left is the im2col copies and the pooling passes.\n- sequential and fused split each batch over the cores with a spinning team; at batch 4 that is two images per core per call, and the per-call sync is what separates them from threads.\n- threads runs whole members concurrently (no sync per batch); processes adds process start-up and weight loading (a few ms) and copies segments back through shared memory.\n- fused shares conv1's input unpacking and runs conv1 of all members as one 128-channel convolution; the rest is per member, so it gains little over sequential once both keep every core busy.\n");
    md
}
