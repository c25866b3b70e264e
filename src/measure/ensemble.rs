//! `cpuwall ensemble bench`: every strategy x predict batch size over the
//! same images, measured by the same runner and clocks as the classical backends
//! (wall, CPU of this process and of the workers), with accuracy computed
//! from the predictions and each strategy's averaged probabilities
//! compared with sequential's.

use super::env::{load_average, Environment};
pub use super::results::ensemble::{BenchCell, StudyResults, Training};
use super::run::{time_interleaved, Repeats, Timed};
use crate::data::cifar::{Images, CLASSES};
use crate::data::count::{count_arg, timeout_arg};
use crate::ensemble::native::{average, MACS_PER_IMAGE};
use crate::ensemble::processes::Settings;
use crate::ensemble::{accuracies, Ensemble, Strategy, StrategyKind};
use crate::error::{Error, Result};
use crate::exec::CallCost;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub strategies: Vec<StrategyKind>,
    pub batch_sizes: Vec<usize>,
    pub repeats: usize,
    pub processes: Settings,
}

/// `ensemble bench`'s measurement options (clap, flattened into the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Ensemble directory (trained with the defaults first if it is the default and missing).
    #[arg(long, default_value = crate::ensemble::train::DEFAULT_DIR)]
    pub models: PathBuf,
    /// sequential, threads, processes, fused or all (comma-separated).
    #[arg(long, default_value = "all")]
    pub strategy: String,
    /// Synthetic images to predict.
    #[arg(long, value_parser = count_arg, default_value = "6000", conflicts_with = "data")]
    pub images: u64,
    /// Predict a CIFAR-10 binary file instead (its labels give the accuracy).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Predict batch sizes (comma-separated).
    #[arg(long, default_value = "4,64,500")]
    pub batch_size: String,
    /// Timed runs per cell (median reported).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Device per member: cpu or cuda:N, one for all or one per member.
    #[arg(long, default_value = "cpu")]
    pub devices: String,
    /// Images per segment a member process streams back.
    #[arg(long, default_value_t = 500)]
    pub segment: usize,
    /// Seconds a member process may stay silent before it is killed.
    #[arg(long, default_value_t = 120.0, value_parser = timeout_arg, allow_hyphen_values = true)]
    pub worker_timeout: f64,
}

impl BenchOptions {
    pub fn job(&self) -> Result<BenchJob> {
        use crate::data::count::parse_batch_list;
        Ok(BenchJob {
            strategies: StrategyKind::parse_list(&self.strategy)?,
            batch_sizes: parse_batch_list(&self.batch_size)?,
            devices: crate::ensemble::devices::DeviceSpec::parse_list(&self.devices)?,
            models: self.models.clone(),
            images: self.images,
            data: self.data.clone(),
            repeats: self.repeat,
            segment: self.segment,
            worker_timeout: self.worker_timeout,
        })
    }
}

impl BenchJob {
    /// The files the bench reads (`--data`) and writes (`out`), by option.
    pub fn paths(
        &self,
        out: Option<&std::path::Path>,
    ) -> (crate::atomic::NamedPaths, crate::atomic::NamedPaths) {
        (
            self.data.iter().map(|d| ("--data", d.clone())).collect(),
            out.iter().map(|o| ("--out", o.to_path_buf())).collect(),
        )
    }
}

/// What `cpuwall ensemble bench` measures.
#[derive(Debug, Clone)]
pub struct BenchJob {
    /// Ensemble directory (the default one is trained first if missing).
    pub models: std::path::PathBuf,
    pub strategies: Vec<StrategyKind>,
    pub batch_sizes: Vec<usize>,
    /// Synthetic images to predict, unless `data` names a CIFAR-10 file.
    pub images: u64,
    pub data: Option<std::path::PathBuf>,
    /// Timed runs per cell.
    pub repeats: usize,
    pub devices: Vec<crate::ensemble::devices::DeviceSpec>,
    /// Member processes: images per streamed segment, seconds of silence allowed.
    pub segment: usize,
    pub worker_timeout: f64,
}

/// Run `job`: every strategy at every batch size, with the environment.
/// `notify` hears lines for people (a default ensemble trained),
/// `progress` each finished cell.
pub fn bench(
    job: &BenchJob,
    notify: &dyn Fn(&str),
    progress: impl FnMut(&BenchCell),
) -> Result<StudyResults> {
    if job.repeats == 0 {
        return Err(Error::usage("--repeat must be at least 1"));
    }
    if !(job.worker_timeout > 0.0 && job.worker_timeout.is_finite()) {
        return Err(Error::usage(
            "--worker-timeout must be a positive number of seconds",
        ));
    }
    let images = match &job.data {
        Some(p) => crate::data::cifar::read_batch(p)?,
        None if job.images == 0 => return Err(Error::usage("--images must be at least 1")),
        None => crate::ensemble::train::synthetic(job.images, crate::ensemble::train::EVAL_SEED)?,
    };
    let ensemble = crate::ensemble::train::load_or_train(&job.models, &job.devices, notify)?;
    let mut processes = Settings::new(crate::exec::build::current_exe()?);
    processes.segment = job.segment;
    processes.timeout = std::time::Duration::from_secs_f64(job.worker_timeout);
    let cfg = BenchConfig {
        strategies: job.strategies.clone(),
        batch_sizes: job.batch_sizes.clone(),
        repeats: job.repeats,
        processes,
    };
    let mut environment = Environment::capture();
    let cells = run_bench(&ensemble, &images, &cfg, progress)?;
    let roofline = crate::ensemble::roofline::measure(ROOFLINE_SIZE, environment.cores);
    environment.load_average_end = load_average();
    Ok(StudyResults::new(environment, None, cells, Some(roofline)))
}

/// `cpuwall ensemble bench` whole: refuse an `out` that is the `--data`
/// file, run the bench, save the results to `out` (if given).
pub fn bench_to(
    job: &BenchJob,
    out: Option<&std::path::Path>,
    notify: &dyn Fn(&str),
    progress: impl FnMut(&BenchCell),
) -> Result<StudyResults> {
    if let (Some(out), Some(data)) = (out, &job.data) {
        crate::atomic::refuse_overwriting_inputs(&[("--out", out)], &[("--data", data)])?;
    }
    let results = bench(job, notify, progress)?;
    if let Some(path) = out {
        results.save(path)?;
    }
    Ok(results)
}

/// Cells a bench measures.
impl BenchJob {
    pub fn cells(&self) -> usize {
        self.strategies.len() * self.batch_sizes.len()
    }
}

/// One strategy predicting every image at one batch size, as a [`Timed`]
/// call; `out` keeps its last probabilities.
struct StrategyCall<'a> {
    strategy: &'a mut dyn Strategy,
    pixels: &'a [u8],
    batch: usize,
    out: Vec<f32>,
}

impl Timed for StrategyCall<'_> {
    fn call(&mut self) -> Result<CallCost> {
        let cost = self.strategy.run(self.pixels, self.batch, &mut self.out)?;
        // Strategies do not account for their threads (candle, the team):
        // their in-process CPU comes from the process clock.
        Ok(CallCost {
            worker_cpu_seconds: cost.worker_cpu_seconds,
            helper_cpu_seconds: None,
            parallelism: 0,
        })
    }
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
        // Every strategy of one batch size on the classical backends' runner:
        // interleaved rounds, each call timed on both clocks plus the CPU
        // its member processes report. No warm-up: the study timed each
        // design from a standing start (process members spawn every run).
        let mut calls: Vec<StrategyCall> = strategies
            .iter_mut()
            .map(|(_, s)| StrategyCall {
                strategy: s.as_mut(),
                pixels: &images.pixels,
                batch,
                out: vec![0f32; n * members * CLASSES],
            })
            .collect();
        let measured = {
            let mut jobs: Vec<&mut dyn Timed> = Vec::with_capacity(calls.len());
            for c in calls.iter_mut() {
                jobs.push(c);
            }
            time_interleaved(
                &mut jobs,
                n,
                Repeats::fixed(cfg.repeats),
                false,
                |_| {},
                &|| false,
            )?
        };
        let outputs: Vec<Vec<f32>> = calls.into_iter().map(|c| c.out).collect();
        let mut reference: Option<Vec<f32>> = None;
        for (((kind, _), measured), out) in strategies.iter().zip(measured).zip(outputs) {
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

/// Side of the square GEMM products of the measured roof.
pub const ROOFLINE_SIZE: usize = 1024;
