//! `cpuwall ensemble predict`: one strategy over a CIFAR-10 binary file,
//! timed on the same clocks as everything else, scored against the file's
//! labels, the averaged probabilities optionally written as CSV.

use std::path::PathBuf;

use super::devices::DeviceSpec;
use super::native::average;
use super::processes::Settings;
use super::{accuracies, argmax, StrategyKind};
use crate::atomic::{refuse_overwriting_inputs, write_atomic};
use crate::clock::{Snapshot, Usage};
use crate::data::cifar::{self, CLASSES};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct PredictJob {
    /// A CIFAR-10 binary file (records of 1 label byte + 3072 pixel bytes).
    pub images: PathBuf,
    pub models: PathBuf,
    pub strategy: StrategyKind,
    pub batch_size: usize,
    pub devices: Vec<DeviceSpec>,
    /// Per-image predictions (index,label,predicted,p0..p9) as CSV.
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Prediction {
    pub images: usize,
    pub members: usize,
    pub strategy: StrategyKind,
    pub batch_size: usize,
    pub usage: Usage,
    pub accuracy: f64,
    pub member_accuracy: Vec<f64>,
    /// The ensemble's class per image.
    pub predicted: Vec<usize>,
}

/// Run `job`; `notify` hears lines for people (a default ensemble trained).
pub fn predict(job: &PredictJob, notify: &dyn Fn(&str)) -> Result<Prediction> {
    if job.batch_size == 0 {
        return Err(Error::usage("--batch-size must be at least 1"));
    }
    if let Some(out) = &job.out {
        refuse_overwriting_inputs(&[("--out", out)], &[("--images", &job.images)])?;
    }
    let images = cifar::read_batch(&job.images)?;
    let ensemble = super::train::load_or_train(&job.models, &job.devices, notify)?;
    let members = ensemble.len();
    let mut strategy = job.strategy.build(
        &ensemble,
        &Settings::new(crate::exec::build::current_exe()?),
    )?;
    let mut probs = vec![0f32; images.len() * members * CLASSES];
    let start = Snapshot::now();
    let cost = strategy.run(&images.pixels, job.batch_size, &mut probs)?;
    let usage = Usage::between(start, Snapshot::end(), cost.worker_cpu_seconds);
    let mean = average(&probs, members);
    let (accuracy, member_accuracy) = accuracies(&probs, members, &images.labels);
    if let Some(out) = &job.out {
        let mut csv = String::from("index,label,predicted");
        for k in 0..CLASSES {
            csv.push_str(&format!(",p{k}"));
        }
        csv.push('\n');
        for (i, p) in mean.chunks_exact(CLASSES).enumerate() {
            csv.push_str(&format!("{i},{},{}", images.labels[i], argmax(p)));
            for v in p {
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
        }
        write_atomic(out, csv.as_bytes())?;
    }
    Ok(Prediction {
        images: images.len(),
        members,
        strategy: job.strategy,
        batch_size: job.batch_size,
        usage,
        accuracy,
        member_accuracy,
        predicted: mean.chunks_exact(CLASSES).map(argmax).collect(),
    })
}
