//! A CNN ensemble (4 members, CIFAR-10 shaped) and the classic ways to run
//! it: `sequential` (members one after another), `threads` (members
//! concurrently in this process), `processes` (one worker process per
//! member, results streamed back in segments) and `fused` (all members as
//! one graph). Every strategy returns the same per-member probabilities and
//! is measured with the same wall/CPU clock as the classical backends.
//!
//! Members on the CPU run through cpuwall's own kernels ([`native`]);
//! members mapped to a CUDA device run through candle on that device
//! (cargo feature `cuda`). candle defines, trains and stores the members
//! and is the reference the native kernels are tested against.

pub mod conv_op;
pub mod devices;
pub mod fused;
pub mod native;
pub mod net;
pub mod predict;
pub mod processes;
pub mod roofline;

pub mod sequential;
pub use crate::exec::team;
pub mod threads;
pub mod train;
pub mod weights;
pub mod worker;

use std::path::PathBuf;

use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use devices::DeviceSpec;
use native::NativeNet;
use team::Team;
use weights::MemberWeights;

/// The members of an ensemble, where they live and where they run.
#[derive(Clone)]
pub struct Ensemble {
    pub members: Vec<MemberWeights>,
    /// The weights file of each member (process workers load it).
    pub paths: Vec<PathBuf>,
    pub devices: Vec<DeviceSpec>,
}

impl Ensemble {
    pub fn load(dir: &std::path::Path, devices: &[DeviceSpec]) -> Result<Self> {
        let members = weights::load_ensemble(dir)?;
        let paths = weights::member_paths(dir)?;
        let devices = devices::assign(devices, members.len())?;
        Ok(Ensemble {
            members,
            paths,
            devices,
        })
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Every member ready to predict on its device.
    pub fn runners(&self) -> Result<Vec<Runner>> {
        self.members
            .iter()
            .zip(&self.devices)
            .map(|(w, &d)| Runner::new(w, d))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// One member ready to predict on its device.
pub enum Runner {
    Native(NativeNet),
    Candle(Box<net::Trainable>),
}

impl Runner {
    pub fn new(w: &MemberWeights, device: DeviceSpec) -> Result<Self> {
        Ok(match device {
            DeviceSpec::Cpu => Runner::Native(NativeNet::new(&[w])),
            DeviceSpec::Cuda(_) => Runner::Candle(Box::new(net::Trainable::from_weights(
                w,
                &device.candle()?,
            )?)),
        })
    }

    /// Probabilities of `pixels` into `out` (`n x 10`); a CPU member splits
    /// the images over `team` when given one.
    pub fn forward(&self, pixels: &[u8], out: &mut [f32], team: Option<&Team>) -> Result<()> {
        match self {
            Runner::Native(net) => {
                net.forward(pixels, out, team);
                Ok(())
            }
            Runner::Candle(t) => {
                out.copy_from_slice(&t.probabilities(pixels)?);
                Ok(())
            }
        }
    }
}

/// What a run cost beyond this process's own clocks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunCost {
    /// CPU seconds reported by worker processes (the `processes` strategy).
    pub worker_cpu_seconds: f64,
}

/// One way of running the whole ensemble over a set of images.
pub trait Strategy {
    fn name(&self) -> &'static str;

    /// Per-member probabilities of `pixels` (`n x 3072` bytes) into `out`
    /// (`n x members x 10`), each member predicting `batch_size` images per call.
    fn run(&mut self, pixels: &[u8], batch_size: usize, out: &mut [f32]) -> Result<RunCost>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    Sequential,
    Threads,
    Processes,
    Fused,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Sequential,
        StrategyKind::Threads,
        StrategyKind::Processes,
        StrategyKind::Fused,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Sequential => "sequential",
            StrategyKind::Threads => "threads",
            StrategyKind::Processes => "processes",
            StrategyKind::Fused => "fused",
        }
    }

    /// `sequential,fused` or `all` → kinds in the order given, without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<StrategyKind>> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kinds: Vec<StrategyKind> = match part {
                "all" => Self::ALL.to_vec(),
                other => vec![Self::ALL
                    .into_iter()
                    .find(|k| k.name() == other)
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "unknown strategy '{other}'; choose from sequential, threads, processes, fused, all"
                        ))
                    })?],
            };
            for k in kinds {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        if out.is_empty() {
            return Err(Error::usage(
                "--strategy is empty; name some of sequential, threads, processes, fused, all",
            ));
        }
        Ok(out)
    }

    /// Build this strategy for `ensemble`; `processes` uses `settings`.
    pub fn build(
        self,
        ensemble: &Ensemble,
        settings: &processes::Settings,
    ) -> Result<Box<dyn Strategy>> {
        Ok(match self {
            StrategyKind::Sequential => Box::new(sequential::Sequential::new(ensemble)?),
            StrategyKind::Threads => Box::new(threads::Threads::new(ensemble)?),
            StrategyKind::Processes => {
                Box::new(processes::Processes::new(ensemble, settings.clone())?)
            }
            StrategyKind::Fused => Box::new(fused::Fused::new(ensemble)?),
        })
    }
}

/// Check a run's buffers: whole images in, `n x members x 10` out, batch ≥ 1.
pub fn check_run(pixels: &[u8], members: usize, batch_size: usize, out: &[f32]) -> Result<usize> {
    if batch_size == 0 {
        return Err(Error::usage("--batch-size must be at least 1"));
    }
    let n = pixels.len() / PIXELS;
    if pixels.len() != n * PIXELS || out.len() != n * members * CLASSES {
        return Err(Error::Runtime(format!(
            "ensemble run given {} pixel bytes and {} outputs for {members} members; expected whole 3072-byte images and n x members x 10 outputs",
            pixels.len(),
            out.len()
        )));
    }
    Ok(n)
}

/// Copy one member's `n x 10` probabilities into slot `member` of `n x members x 10`.
pub fn scatter_member(member_probs: &[f32], member: usize, members: usize, out: &mut [f32]) {
    for (src, dst) in member_probs
        .chunks_exact(CLASSES)
        .zip(out.chunks_exact_mut(members * CLASSES))
    {
        dst[member * CLASSES..(member + 1) * CLASSES].copy_from_slice(src);
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

/// Accuracy of the averaged ensemble and of each member, from `n x members x 10`.
pub fn accuracies(member_probs: &[f32], members: usize, labels: &[u8]) -> (f64, Vec<f64>) {
    let n = labels.len();
    if n == 0 {
        return (0.0, vec![0.0; members]);
    }
    let mean = native::average(member_probs, members);
    let ens = mean
        .chunks_exact(CLASSES)
        .zip(labels)
        .filter(|(p, &y)| argmax(p) == y as usize)
        .count();
    let per = (0..members)
        .map(|m| {
            member_probs
                .chunks_exact(members * CLASSES)
                .zip(labels)
                .filter(|(p, &y)| argmax(&p[m * CLASSES..(m + 1) * CLASSES]) == y as usize)
                .count() as f64
                / n as f64
        })
        .collect();
    (ens as f64 / n as f64, per)
}
