//! `cpuwall ensemble bench`: every strategy x predict batch size over the
//! same images, measured on the same clocks as the classical backends
//! (wall, CPU of this process and of the workers), with accuracy computed
//! from the predictions and each strategy's averaged probabilities
//! compared with sequential's.

use serde::{Deserialize, Serialize};

use super::native::{average, MACS_PER_IMAGE};
use super::processes::Settings;
use super::{accuracies, Ensemble, StrategyKind};
use crate::clock::{Snapshot, Usage};
use crate::data::cifar::{Images, CLASSES};
use crate::error::Result;
use crate::measure::run::Measured;
use crate::report::table;
use crate::units;

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub strategies: Vec<StrategyKind>,
    pub batch_sizes: Vec<usize>,
    pub repeats: usize,
    pub processes: Settings,
}

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

/// Run every strategy at every batch size; `progress` hears each finished cell.
pub fn run_bench(
    ensemble: &Ensemble,
    images: &Images,
    cfg: &BenchConfig,
    mut progress: impl FnMut(&BenchCell),
) -> Result<Vec<BenchCell>> {
    let members = ensemble.len();
    let n = images.len();
    let device = device_label(ensemble);
    let flops = 2.0 * MACS_PER_IMAGE as f64 * members as f64 * n as f64;
    let mut strategies = cfg
        .strategies
        .iter()
        .map(|k| Ok((*k, k.build(ensemble, &cfg.processes)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut reference_runner = None;
    let mut cells = Vec::new();
    for &batch in &cfg.batch_sizes {
        let mut reference: Option<Vec<f32>> = None;
        for (kind, strategy) in strategies.iter_mut() {
            let mut out = vec![0f32; n * members * CLASSES];
            let mut usages = Vec::with_capacity(cfg.repeats);
            for _ in 0..cfg.repeats.max(1) {
                let start = Snapshot::now();
                let cost = strategy.run(&images.pixels, batch, &mut out)?;
                let end = Snapshot::now();
                usages.push(Usage::between(start, end, cost.worker_cpu_seconds));
            }
            let mean = average(&out, members);
            if reference.is_none() {
                reference = Some(if *kind == StrategyKind::Sequential {
                    mean.clone()
                } else {
                    // The comparison needs sequential's answer even when it is not benched.
                    let seq = reference_runner
                        .get_or_insert(StrategyKind::Sequential.build(ensemble, &cfg.processes)?);
                    let mut seq_out = vec![0f32; n * members * CLASSES];
                    seq.run(&images.pixels, batch, &mut seq_out)?;
                    average(&seq_out, members)
                });
            }
            let diff = reference
                .as_ref()
                .expect("set above")
                .iter()
                .zip(&mean)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let (ens_acc, member_acc) = accuracies(&out, members, &images.labels);
            let measured = Measured::from_runs(n, &usages);
            let cell = BenchCell {
                strategy: *kind,
                device: device.clone(),
                batch_size: batch,
                images: n,
                members,
                gflops: if measured.wall_seconds.median > 0.0 {
                    flops / measured.wall_seconds.median / 1e9
                } else {
                    0.0
                },
                measured,
                ensemble_accuracy: ens_acc,
                member_accuracy: member_acc,
                max_abs_diff_vs_sequential: diff as f64,
            };
            progress(&cell);
            cells.push(cell);
        }
    }
    Ok(cells)
}

/// From the first cell: images, members, ensemble accuracy, member
/// accuracies (text); and the largest difference from sequential over all.
pub fn agreement(cells: &[BenchCell]) -> Option<(usize, usize, f64, String, f64)> {
    let first = cells.first()?;
    let worst = cells
        .iter()
        .map(|c| c.max_abs_diff_vs_sequential)
        .fold(0f64, f64::max);
    let per_member = first
        .member_accuracy
        .iter()
        .map(|a| format!("{a:.4}"))
        .collect::<Vec<_>>()
        .join(" ");
    Some((
        first.images,
        first.members,
        first.ensemble_accuracy,
        per_member,
        worst,
    ))
}

/// `cpu` when every member is on the CPU, else the whole map.
pub fn device_label(ensemble: &Ensemble) -> String {
    let first = ensemble
        .devices
        .first()
        .map(|d| d.to_string())
        .unwrap_or_default();
    if ensemble.devices.iter().all(|d| d.to_string() == first) {
        first
    } else {
        ensemble
            .devices
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
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
