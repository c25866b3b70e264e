//! The CNN study's markdown report and its files: the study's table beside
//! TensorFlow's, GFLOP/s against the measured roof, what limits each design.

use std::path::{Path, PathBuf};

use super::plots::*;
use crate::ensemble::native::MACS_PER_IMAGE;
use crate::ensemble::StrategyKind;
use crate::measure::ensemble::{agreement, StudyResults};
use crate::measure::results::tensorflow::TensorflowBaseline;
use crate::report::table;
use crate::units;

/// The report of saved study results (markdown only; see [`study_files`]
/// for the plots).
pub fn study_markdown(r: &StudyResults, tf: Option<&TensorflowBaseline>) -> String {
    markdown(r, tf, None)
}

/// `cpuwall ensemble report`: read the results (and TensorFlow's), write the
/// report and its plots together, none over an input; the paths written.
pub fn write_report(
    results: &Path,
    tensorflow: Option<&Path>,
    out: &Path,
) -> crate::Result<Vec<PathBuf>> {
    use crate::atomic::refuse_overwriting_inputs;
    let mut inputs = vec![("--results", results)];
    if let Some(t) = tensorflow {
        inputs.push(("--tensorflow", t));
    }
    refuse_overwriting_inputs(&[("--out", out)], &inputs)?;
    let r = StudyResults::load(results)?;
    let tf = tensorflow.map(TensorflowBaseline::load).transpose()?;
    let files = study_files(&r, tf.as_ref(), out);
    for (p, _) in &files {
        refuse_overwriting_inputs(&[("--out (its plot)", p)], &inputs)?;
    }
    crate::atomic::write_set(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// The report and its two plots, `{stem}-wall.svg` and `{stem}-gflops.svg`
/// beside `out`, as files to write together.
pub fn study_files(
    r: &StudyResults,
    tf: Option<&TensorflowBaseline>,
    out: &Path,
) -> Vec<(PathBuf, Vec<u8>)> {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
    let names = [format!("{stem}-wall.svg"), format!("{stem}-gflops.svg")];
    let (wall, gflops) = plots(r, tf);
    vec![
        (dir.join(&names[0]), wall.into_bytes()),
        (dir.join(&names[1]), gflops.into_bytes()),
        (
            out.to_path_buf(),
            markdown(r, tf, Some(&names)).into_bytes(),
        ),
    ]
}

pub(super) fn markdown(
    r: &StudyResults,
    tf: Option<&TensorflowBaseline>,
    plots: Option<&[String; 2]>,
) -> String {
    let cells = &r.cells;
    let env = &r.header.environment;
    let mut md = String::from("# CNN ensemble: execution strategies, measured\n\n");
    if let Some(c) = cells.first() {
        md.push_str(&format!(
            "{} members x {} images (CIFAR-10 shaped, synthetic), on `{}` ({} cores, vector ISA {}), {}; cpuwall {} ({}), {}.\n\n",
            c.members,
            c.images,
            env.cpu_model,
            env.cores,
            if env.isa.is_empty() { "not recorded" } else { &env.isa },
            env.os,
            env.cpuwall_version,
            env.git_commit,
            env.date
        ));
        let gflop = 2.0 * MACS_PER_IMAGE as f64 * c.members as f64 * c.images as f64 / 1e9;
        md.push_str(&format!(
            "Each cell: median wall time over the runs, CPU/wall (this process plus member processes), and GFLOP/s (2 FLOP per multiply-add of the ensemble, {gflop:.0} GFLOP per run).{}\n\n",
            match tf {
                Some(t) => format!(
                    " TensorFlow's time for the same design in brackets: TensorFlow {} on `{}` ({} cores), {}, measured by `baselines/keras_ensembles.py`.",
                    t.environment.tensorflow, t.environment.cpu_model, t.environment.cores, t.environment.date
                ),
                None => " No TensorFlow baseline was given (`--tensorflow FILE`, made by `baselines/keras_ensembles.py`).".into(),
            }
        ));
    }
    let (kinds, batches) = axes(cells);
    let tf_seconds = |k: StrategyKind, b: usize| tf.and_then(|t| t.seconds(k, b));
    let mut header = vec!["batch"];
    header.extend(kinds.iter().map(|k| k.name()));
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|&b| {
            let mut row = vec![b.to_string()];
            for &k in &kinds {
                let cell = cells.iter().find(|c| c.strategy == k && c.batch_size == b);
                row.push(cell.map_or("-".into(), |c| {
                    let tfs = tf_seconds(k, b)
                        .map(|t| format!(" [TF {}]", units::seconds(t)))
                        .unwrap_or_default();
                    format!(
                        "{} ({:.2}, {:.0} GFLOP/s){tfs}",
                        units::seconds(c.measured.wall_seconds.median),
                        c.measured.cpu_per_wall,
                        c.gflops
                    )
                }));
            }
            row
        })
        .collect();
    md.push_str(&table::markdown(&header, &rows));
    if let Some([wall, gflops]) = plots {
        md.push_str(&format!("\n![wall time per strategy and batch size]({wall})\n\n![GFLOP/s against the measured GEMM roof]({gflops})\n"));
    }

    if let Some(tf) = tf {
        md.push_str("\n## Against TensorFlow\n\n");
        let mut lines = Vec::new();
        for c in cells {
            if let Some(t) = tf.seconds(c.strategy, c.batch_size) {
                let ours = c.measured.wall_seconds.median;
                lines.push(format!(
                    "- {} at batch {}: {} vs TensorFlow {} ({} {}).",
                    c.strategy.name(),
                    c.batch_size,
                    units::seconds(ours),
                    units::seconds(t),
                    units::times(if ours <= t { t / ours } else { ours / t }),
                    if ours <= t { "faster" } else { "slower" }
                ));
            }
        }
        md.push_str(&lines.join("\n"));
        let best_tf = tf
            .cells
            .iter()
            .filter(|c| c.wall_seconds > 0.0 && c.wall_seconds.is_finite())
            .min_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
        let best_ours = cells
            .iter()
            .filter(|c| c.measured.wall_seconds.median > 0.0)
            .min_by(|a, b| {
                a.measured
                    .wall_seconds
                    .median
                    .total_cmp(&b.measured.wall_seconds.median)
            });
        if let (Some(t), Some(o)) = (best_tf, best_ours) {
            md.push_str(&format!(
                "\n\nFastest against fastest: cpuwall {} at batch {} took {}, TensorFlow's {} at batch {} {} ({} {}).\n",
                o.strategy.name(),
                o.batch_size,
                units::seconds(o.measured.wall_seconds.median),
                t.design.replace('_', " "),
                t.batch_size,
                units::seconds(t.wall_seconds),
                units::times(if o.measured.wall_seconds.median <= t.wall_seconds { t.wall_seconds / o.measured.wall_seconds.median } else { o.measured.wall_seconds.median / t.wall_seconds }),
                if o.measured.wall_seconds.median <= t.wall_seconds { "faster" } else { "slower" }
            ));
        }
    }

    if let Some(t) = &r.training {
        md.push_str(&format!(
            "\n## Training\n\n{} members, {} epoch(s) at batch {} on {} images: {:.1} s, members training concurrently, one per core.{}\n",
            t.members,
            t.epochs,
            t.batch_size,
            t.images,
            t.seconds,
            tf.and_then(|b| b.training.as_ref()).map_or(String::new(), |b| format!(
                " TensorFlow: {:.1} s for {} epoch(s) of {} members one after another at batch {} on {} images.",
                b.seconds, b.epochs, b.members, b.batch_size, b.images
            ))
        ));
    }

    if let Some((_, _, accuracy, per_member, worst)) = agreement(cells) {
        md.push_str(&format!(
            "\n## Accuracy and agreement\n\nEnsemble accuracy {accuracy:.4} (members {per_member}), computed from the predictions. Largest difference between any strategy's averaged probabilities and sequential's: {worst:.1e}.\n"
        ));
    }
    md.push_str(&limits(r));
    md
}

/// "What limits each strategy", from what this run measured: the ISA the
/// kernels used, the measured GEMM roof, and each strategy's best cell.
pub(super) fn limits(r: &StudyResults) -> String {
    let env = &r.header.environment;
    let mut s = String::from("\n## What limits each strategy\n\n");
    let conv1 = match env.isa.as_str() {
        "avx512" => "conv1 runs as a direct AVX-512 convolution with bias, ReLU and 2x2 max-pool in registers (this CPU has AVX-512F)",
        "" => "conv1 runs as a direct AVX-512 convolution when the CPU has AVX-512F, else as im2col + GEMM (this results file does not record which)",
        _ => "conv1 runs as im2col + one GEMM, like the other layers: this CPU has no AVX-512F, which the direct conv1 kernel needs",
    };
    s.push_str(&format!(
        "- Kernels (vector ISA detected: {}): {conv1}; conv2, conv3 and the dense layers run as im2col + one GEMM each (the `gemm` crate, which picks its kernels for the CPU at run time) with ReLU and pooling applied while the tile is in cache.\n",
        if env.isa.is_empty() { "not recorded" } else { &env.isa }
    ));
    let best = |k: StrategyKind| {
        r.cells
            .iter()
            .filter(|c| c.strategy == k)
            .max_by(|a, b| a.gflops.total_cmp(&b.gflops))
    };
    match &r.roofline {
        Some(rf) => {
            s.push_str(&format!(
                "- The measured roof: {:.0} GFLOP/s on one core and {:.0} GFLOP/s on all {} ({}x{} f32 products, one per core at once, through the same GEMM).\n",
                rf.gemm_gflops_one_core, rf.gemm_gflops_all_cores, rf.cores, rf.size, rf.size
            ));
            let (kinds, _) = axes(&r.cells);
            for k in kinds {
                if let Some(c) = best(k) {
                    s.push_str(&format!(
                        "- {} peaks at batch {}: {:.0} GFLOP/s, {:.0}% of the all-core roof, CPU/wall {:.2}{}.\n",
                        k.name(),
                        c.batch_size,
                        c.gflops,
                        100.0 * c.gflops / rf.gemm_gflops_all_cores.max(1e-9),
                        c.measured.cpu_per_wall,
                        if c.measured.cpu_per_wall < 0.8 * env.cores as f64 {
                            format!(": cores sat idle (CPU/wall under {:.1} of {}), so start-up, synchronisation or a serial part limits it, not arithmetic", 0.8 * env.cores as f64, env.cores)
                        } else {
                            ": every core busy, so what separates it from the roof is work outside the GEMMs (im2col copies, pooling passes, small GEMM shapes)".into()
                        }
                    ));
                }
            }
        }
        None => s.push_str("- This results file has no measured GEMM roof (written before cpuwall measured one); re-run the bench to see each strategy against it.\n"),
    }
    s.push_str("- How they differ: sequential and fused split each batch over the cores with a spinning team (one synchronisation per call, which small batches feel); threads runs whole members concurrently (no synchronisation per batch); processes adds process start-up and weight loading per run and copies segments back through shared memory; fused runs conv1 of all members as one wider convolution and the rest per member.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use std::path::Path;

    // A frozen copy of one committed run (reports/ is regenerated; this
    // test checks rendering, not the latest figures).
    const RESULTS: &str = include_str!("../../../tests/fixtures/cnn-study/results.json");

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
        let md = study_markdown(&r, None);
        assert!(md.contains("1.416 s (1.99, 154 GFLOP/s)"), "{md}");
        assert!(!md.contains("[TF "), "{md}");
        // With TensorFlow's run of the same machine: its one graph beside fused.
        let tf: TensorflowBaseline = serde_json::from_str(include_str!(
            "../../../tests/fixtures/cnn-study/tensorflow.json"
        ))
        .unwrap();
        let md = study_markdown(&r, Some(&tf));
        assert!(
            md.contains("1.416 s (1.99, 154 GFLOP/s) [TF 5.219 s]"),
            "{md}"
        );
        assert!(
            md.contains("- fused at batch 500: 1.416 s vs TensorFlow 5.219 s (3.68× faster)."),
            "{md}"
        );
        // Limits from this run: the ISA it recorded and the measured roof.
        assert!(md.contains("vector ISA detected: avx2"), "{md}");
        assert!(
            md.contains("fused peaks at batch 500: 154 GFLOP/s, 94% of the all-core roof"),
            "{md}"
        );
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
                let _ = study_files(&r, None, Path::new("r.md"));
            }
        }
    }
}
