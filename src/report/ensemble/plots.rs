//! The CNN study's two SVG plots: wall time and GFLOP/s by batch size.

use crate::ensemble::native::MACS_PER_IMAGE;
use crate::ensemble::StrategyKind;
use crate::measure::ensemble::{BenchCell, StudyResults};
use crate::measure::results::tensorflow::TensorflowBaseline;
use crate::report::svg::{chart, Reference, Series, YAxis};
/// Strategies and batch sizes in the order the cells have them.
pub(super) fn axes(cells: &[BenchCell]) -> (Vec<StrategyKind>, Vec<usize>) {
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

pub(super) fn color(kind: StrategyKind) -> usize {
    match kind {
        StrategyKind::Sequential => 0,
        StrategyKind::Threads => 1,
        StrategyKind::Processes => 2,
        StrategyKind::Fused => 3,
    }
}

/// Wall time per strategy x batch size (TensorFlow's matching design dashed
/// in the same colour), and GFLOP/s against the measured GEMM roof.
pub(super) fn plots(r: &StudyResults, tf: Option<&TensorflowBaseline>) -> (String, String) {
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
