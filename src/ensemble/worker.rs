//! The `cpuwall ensemble-worker` process: one ensemble member, on the
//! worker loop of `exec::child`. Protocol on its pipes (one line each):
//!
//! ```text
//! worker: ready                                  (weights loaded)
//! parent: job <shm path> <shm bytes> <n> <batch> <segment> <out offset>
//! worker: seg <start> <end>                      (per finished segment)
//! worker: done <process CPU nanoseconds>         (all images predicted)
//! parent: quit
//! ```
//! The worker reads the images from the shared segment and writes its
//! `n x 10` probabilities into its own block there. It exits on `quit`, at
//! end of input, or (Linux) when the parent dies.

use std::path::Path;

use super::devices::DeviceSpec;
use super::processes::FAULT_ENV;
use super::weights::MemberWeights;
use super::Runner;
use crate::clock::process_cpu;
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::Result;
use crate::exec::child::{numbers, serve, Fault};
use crate::exec::shm::{map_peer, view_mut};

pub fn run(weights: &Path, device: DeviceSpec, member: usize) -> Result<()> {
    let w = MemberWeights::load(weights)?;
    let runner = Runner::new(&w, device)?;
    let fault = Fault::from_env(FAULT_ENV);
    serve("ready", |cmd, parent| {
        let ["job", path, rest @ ..] = cmd else {
            return Ok(false);
        };
        if rest.len() != 5 {
            return Ok(false);
        }
        let [bytes, n, batch, segment, out_off] = numbers::<5>(rest, cmd)?;
        let mut map = map_peer(path, bytes)?;
        let (images, rest) = map.split_at_mut(out_off);
        let probs = view_mut::<f32>(rest, member * n * CLASSES * 4, n * CLASSES);
        for start in (0..n).step_by(segment.max(1)) {
            let end = (start + segment).min(n);
            for b in (start..end).step_by(batch.max(1)) {
                let e = (b + batch).min(end);
                runner.forward(
                    &images[b * PIXELS..e * PIXELS],
                    &mut probs[b * CLASSES..e * CLASSES],
                    None,
                )?;
            }
            parent.say(&format!("seg {start} {end}"))?;
            fault.strike(Some(member));
        }
        parent.say(&format!("done {}", process_cpu().as_nanos()))?;
        Ok(true)
    })
}
