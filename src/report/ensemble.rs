//! The CNN study's report: cpuwall's strategies beside TensorFlow's designs
//! (the re-run of the study on a 2-core machine), with GFLOP/s,
//! CPU/wall, accuracy and agreement, computed from bench cells.

use std::path::{Path, PathBuf};

use crate::ensemble::native::MACS_PER_IMAGE;
use crate::ensemble::predict::Prediction;
use crate::ensemble::train::{TrainJob, TrainedEnsemble};
use crate::ensemble::StrategyKind;
use crate::measure::ensemble::{agreement, BenchCell, StudyResults};
use crate::measure::results::tensorflow::TensorflowBaseline;
use crate::report::svg::{chart, Reference, Series, YAxis};
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

/// Strategies and batch sizes in the order the cells have them.
fn axes(cells: &[BenchCell]) -> (Vec<StrategyKind>, Vec<usize>) {
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
    (kinds, batches)
}

fn color(kind: StrategyKind) -> usize {
    match kind {
        StrategyKind::Sequential => 0,
        StrategyKind::Threads => 1,
        StrategyKind::Processes => 2,
        StrategyKind::Fused => 3,
    }
}

/// Wall time per strategy x batch size (TensorFlow's matching design dashed
/// in the same colour), and GFLOP/s against the measured GEMM roof.
fn plots(r: &StudyResults, tf: Option<&TensorflowBaseline>) -> (String, String) {
    let (kinds, batches) = axes(&r.cells);
    let cell = |k: StrategyKind, b: usize| {
        r.cells
            .iter()
            .find(|c| c.strategy == k && c.batch_size == b)
    };
    let mut wall = Vec::new();
    let mut gflops = Vec::new();
    let flops_per_run = r.cells.first().map_or(0.0, |c| {
        2.0 * MACS_PER_IMAGE as f64 * c.members as f64 * c.images as f64
    });
    for &k in &kinds {
        let pts = |f: &dyn Fn(&BenchCell) -> f64| -> Vec<(f64, f64)> {
            batches
                .iter()
                .filter_map(|&b| cell(k, b).map(|c| (b as f64, f(c))))
                .collect()
        };
        let series =
            |name: String, points: Vec<(f64, f64)>, dashed: bool, out: &mut Vec<Series>| {
                out.push(Series {
                    name,
                    points,
                    dashed,
                    color: Some(color(k)),
                    square: false,
                })
            };
        series(
            format!("cpuwall {}", k.name()),
            pts(&|c| c.measured.wall_seconds.median),
            false,
            &mut wall,
        );
        series(
            format!("cpuwall {}", k.name()),
            pts(&|c| c.gflops),
            false,
            &mut gflops,
        );
        if let Some(tf) = tf {
            let tf_pts = |f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
                batches
                    .iter()
                    .filter_map(|&b| tf.seconds(k, b).map(|s| (b as f64, f(s))))
                    .collect()
            };
            let name = match k {
                StrategyKind::Processes => "TensorFlow multiprocessing",
                StrategyKind::Fused => "TensorFlow one graph",
                _ => "TensorFlow sequential",
            };
            let w = tf_pts(&|s| s);
            if !w.is_empty() {
                series(name.into(), w, true, &mut wall);
                series(
                    name.into(),
                    tf_pts(&|s| flops_per_run / s / 1e9),
                    true,
                    &mut gflops,
                );
            }
        }
    }
    let roofs: Vec<Reference> = r
        .roofline
        .iter()
        .flat_map(|rf| {
            [
                Reference {
                    y: rf.gemm_gflops_one_core,
                    label: "GEMM, 1 core".into(),
                },
                Reference {
                    y: rf.gemm_gflops_all_cores,
                    label: format!("GEMM, {} cores", rf.cores),
                },
            ]
        })
        .collect();
    (
        chart(
            "CNN ensemble: wall time per run",
            "predict batch size (images)",
            "wall time (median)",
            &wall,
            YAxis::Seconds,
            &[],
        ),
        chart(
            "CNN ensemble: GFLOP/s against the measured GEMM roof",
            "predict batch size (images)",
            "GFLOP/s",
            &gflops,
            YAxis::Linear,
            &roofs,
        ),
    )
}

fn markdown(
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
fn limits(r: &StudyResults) -> String {
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

/// The study's table: one row per device and batch size, one column per
/// strategy (median wall, CPU/wall, GFLOP/s), then accuracy and agreement.
pub fn render_table(cells: &[BenchCell]) -> String {
    let (header, rows) = table_rows(cells);
    table::render(&header, &rows) + &agreement_line(cells)
}

/// The study's table: header and one row per device and batch size.
fn table_rows(cells: &[BenchCell]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let (kinds, _) = axes(cells);
    let mut rows_key: Vec<(String, usize)> = Vec::new();
    for c in cells {
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
    (header, rows)
}

/// The line under the study's table: images, members, accuracy, agreement.
fn agreement_line(cells: &[BenchCell]) -> String {
    agreement(cells).map_or(String::new(), |(images, members, accuracy, per_member, worst)| {
        format!(
            "\n{images} images x {members} members; ensemble accuracy {accuracy:.4} (members {per_member}); largest |averaged probability - sequential's| over all cells: {worst:.1e}\n"
        )
    })
}

/// `ensemble bench --export-csv`: one line per timed sample of every cell.
pub fn raw_csv(r: &StudyResults) -> String {
    let rows: Vec<(Vec<String>, &crate::measure::run::RawSamples)> = r
        .cells
        .iter()
        .map(|c| {
            (
                vec![
                    c.strategy.name().to_string(),
                    c.device.clone(),
                    c.batch_size.to_string(),
                    c.images.to_string(),
                ],
                &c.measured.raw,
            )
        })
        .collect();
    super::exports::raw_csv(&["strategy", "device", "batch_size", "images"], &rows)
}

/// `ensemble bench --export-markdown`: the study's table in markdown.
pub fn render_markdown_table(cells: &[BenchCell]) -> String {
    let (header, rows) = table_rows(cells);
    format!(
        "# cpuwall ensemble bench\n\n{}{}",
        table::markdown(&header, &rows),
        agreement_line(cells)
    )
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
        let md = study_markdown(&r, None);
        assert!(md.contains("1.416 s (1.99, 154 GFLOP/s)"), "{md}");
        assert!(!md.contains("[TF "), "{md}");
        // With TensorFlow's run of the same machine: its one graph beside fused.
        let tf: TensorflowBaseline =
            serde_json::from_str(include_str!("../../reports/cnn-study/tensorflow.json")).unwrap();
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
