//! The CNN study's report: cpuwall's strategies beside TensorFlow's designs
//! (the re-run of the study on a 2-core machine), with GFLOP/s,
//! CPU/wall, accuracy and agreement, computed from bench cells.

use crate::ensemble::predict::Prediction;
use crate::ensemble::train::{TrainJob, TrainedEnsemble};
use crate::ensemble::StrategyKind;
use crate::measure::ensemble::{agreement, BenchCell, StudyResults};
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

/// The report of saved study results.
pub fn study_markdown(r: &StudyResults) -> String {
    markdown(&r.cells, r.training.as_ref(), &r.environment)
}

pub fn markdown(
    cells: &[BenchCell],
    training: Option<&crate::measure::ensemble::Training>,
    env: &Environment,
) -> String {
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
                "- {} at batch {}: {} vs TensorFlow {} ({} {}).",
                c.strategy.name(),
                c.batch_size,
                units::seconds(ours),
                units::seconds(tf),
                units::times(if ours <= tf { tf / ours } else { ours / tf }),
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

    if let Some((_, _, accuracy, per_member, worst)) = agreement(cells) {
        md.push_str(&format!(
            "\n## Accuracy and agreement\n\nEnsemble accuracy {accuracy:.4} (members {per_member}), computed from the predictions. Largest difference between any strategy's averaged probabilities and sequential's: {worst:.1e}.\n"
        ));
    }
    md.push_str("\n## What limits each strategy\n\n- All four run the same kernels on the CPU: conv1 as a direct AVX-512 convolution with bias, ReLU and 2x2 max-pool in registers; conv2, conv3 and the dense layers as im2col + one GEMM (the `gemm` crate's AVX-512 kernels) with the bias preloaded, ReLU and pool applied while the tile is in cache. The GEMM microkernels run near the cores' FMA peak, so what is left is the im2col copies and the pooling passes.\n- sequential and fused split each batch over the cores with a spinning team; at batch 4 that is two images per core per call, and the per-call sync is what separates them from threads.\n- threads runs whole members concurrently (no sync per batch); processes adds process start-up and weight loading (a few ms) and copies segments back through shared memory.\n- fused shares conv1's input unpacking and runs conv1 of all members as one 128-channel convolution; the rest is per member, so it gains little over sequential once both keep every core busy.\n");
    md
}

/// The study's table: one row per device and batch size, one column per
/// strategy (median wall, CPU/wall, GFLOP/s), then accuracy and agreement.
pub fn render_table(cells: &[BenchCell]) -> String {
    let mut kinds: Vec<StrategyKind> = Vec::new();
    let mut rows_key: Vec<(String, usize)> = Vec::new();
    for c in cells {
        if !kinds.contains(&c.strategy) {
            kinds.push(c.strategy);
        }
        let key = (c.device.clone(), c.batch_size);
        if !rows_key.contains(&key) {
            rows_key.push(key);
        }
    }
    let mut header = vec!["device", "batch"];
    header.extend(kinds.iter().map(|k| k.name()));
    let rows: Vec<Vec<String>> = rows_key
        .iter()
        .map(|(dev, batch)| {
            let mut row = vec![dev.clone(), batch.to_string()];
            for k in &kinds {
                row.push(
                    cells
                        .iter()
                        .find(|c| c.strategy == *k && &c.device == dev && c.batch_size == *batch)
                        .map(|c| {
                            format!(
                                "{} ({:.2} cpu/wall, {:.0} GFLOP/s)",
                                units::seconds(c.measured.wall_seconds.median),
                                c.measured.cpu_per_wall,
                                c.gflops
                            )
                        })
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row
        })
        .collect();
    let mut text = table::render(&header, &rows);
    if let Some((images, members, accuracy, per_member, worst)) = agreement(cells) {
        text.push_str(&format!(
            "\n{images} images x {members} members; ensemble accuracy {accuracy:.4} (members {per_member}); largest |averaged probability - sequential's| over all cells: {worst:.1e}\n"
        ));
    }
    text
}

/// `ensemble bench`'s progress line for a finished cell.
pub fn cell_line(c: &BenchCell) -> String {
    format!(
        "  {:<10} batch {:>4}: {} ({:.2} cpu/wall)",
        c.strategy.name(),
        c.batch_size,
        units::seconds(c.measured.wall_seconds.median),
        c.measured.cpu_per_wall
    )
}

/// `ensemble train`'s summary: one line per member, one for the ensemble.
pub fn trained_lines(t: &TrainedEnsemble, job: &TrainJob) -> String {
    let mut s = String::new();
    for (m, member) in t.members.iter().enumerate() {
        s.push_str(&format!(
            "member {m}: trained in {:.1} s, accuracy on {} held-out images {:.4} -> {}\n",
            member.seconds,
            t.held_out,
            member.accuracy,
            member.path.display()
        ));
    }
    s.push_str(&format!(
        "ensemble of {} trained in {:.1} s ({} epoch(s), batch {}, {} images); ensemble accuracy {:.4}\n",
        t.members.len(),
        t.seconds,
        job.epochs,
        job.batch_size,
        t.images,
        t.accuracy
    ));
    s
}

/// `ensemble predict --format json`.
pub fn predict_json(p: &Prediction) -> serde_json::Value {
    serde_json::json!({
        "images": p.images,
        "members": p.members,
        "strategy": p.strategy.name(),
        "batch_size": p.batch_size,
        "wall_seconds": p.usage.wall_seconds,
        "cpu_seconds": p.usage.cpu_seconds(),
        "worker_cpu_seconds": p.usage.worker_cpu_seconds,
        "cpu_per_wall": p.usage.cpu_per_wall(),
        "accuracy": p.accuracy,
        "member_accuracy": p.member_accuracy,
        "predicted": p.predicted,
    })
}

/// `ensemble predict`'s summary line.
pub fn predict_line(p: &Prediction, out: Option<&std::path::Path>) -> String {
    format!(
        "{} images, {} members, {} batch {}: {} wall, {:.2} cpu/wall; accuracy {:.4} against the file's labels{}\n",
        p.images,
        p.members,
        p.strategy.name(),
        p.batch_size,
        units::seconds(p.usage.wall_seconds),
        p.usage.cpu_per_wall(),
        p.accuracy,
        out.map(|o| format!("; predictions in {}", o.display()))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use std::path::Path;

    const RESULTS: &str = include_str!("../../reports/cnn-study/results.json");

    fn numbers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| numbers(x, format!("{at}/{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| numbers(x, format!("{at}/{i}"), out)),
            Value::Number(_) => out.push(at),
            _ => {}
        }
    }

    #[test]
    fn the_committed_study_renders() {
        let r = StudyResults::from_text(Path::new("r.json"), RESULTS).unwrap();
        let md = study_markdown(&r);
        assert!(md.contains("1.061 s (1.99, 206 GFLOP/s)"), "{md}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(500)))]

        /// The study's results with numbers replaced by hostile ones: a
        /// typed error or a report; never a panic.
        #[test]
        fn hostile_study_results_never_panic_the_report(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![0.0, -1.0, 1e308, -1e308, 5e-324, 1e20, 0.5])), 1..6),
        ) {
            let mut v: Value = serde_json::from_str(RESULTS).unwrap();
            let mut paths = Vec::new();
            numbers(&v, String::new(), &mut paths);
            for (at, x) in edits {
                *v.pointer_mut(&paths[at.index(paths.len())]).unwrap() = Value::from(x);
            }
            if let Ok(r) = StudyResults::from_text(Path::new("r.json"), &v.to_string()) {
                let _ = study_markdown(&r);
            }
        }
    }
}
