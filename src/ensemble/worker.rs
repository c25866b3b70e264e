//! The `cpuwall ensemble-worker` process: one ensemble member. Protocol on
//! its pipes (one line each):
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

use std::io::{BufRead, Write};
use std::path::Path;

use memmap2::MmapMut;

use super::devices::DeviceSpec;
use super::processes::FAULT_ENV;
use super::weights::MemberWeights;
use super::Runner;
use crate::clock::process_cpu;
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::exec::shm::view_mut;

pub fn run(weights: &Path, device: DeviceSpec, member: usize) -> Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let w = MemberWeights::load(weights)?;
    let runner = Runner::new(&w, device)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let say = |out: &mut std::io::StdoutLock, line: String| {
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("ensemble worker: cannot write", e))
    };
    say(&mut out, "ready".into())?;
    let fault = std::env::var(FAULT_ENV).unwrap_or_default();
    let faulty = |kind: &str| fault.strip_prefix(kind) == Some(&member.to_string());
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::io("ensemble worker: cannot read", e))?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["job", path, bytes, n, batch, segment, out_off] => {
                let num = |s: &str| {
                    s.parse::<usize>()
                        .map_err(|_| Error::Runtime(format!("ensemble worker: bad job '{line}'")))
                };
                let (bytes, n, batch, segment, out_off) = (
                    num(bytes)?,
                    num(n)?,
                    num(batch)?,
                    num(segment)?,
                    num(out_off)?,
                );
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io(format!("ensemble worker: cannot open {path}"), e))?;
                // SAFETY: the parent keeps the segment alive and does not
                // touch this member's output block until we announce it.
                let mut map = unsafe { MmapMut::map_mut(&file) }
                    .map_err(|e| Error::io("ensemble worker: cannot map shared memory", e))?;
                if map.len() < bytes {
                    return Err(Error::Runtime(
                        "ensemble worker: shared memory too small".into(),
                    ));
                }
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
                    say(&mut out, format!("seg {start} {end}"))?;
                    if faulty("die:") {
                        std::process::exit(101);
                    }
                    if faulty("hang:") {
                        loop {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                        }
                    }
                }
                say(&mut out, format!("done {}", process_cpu().as_nanos()))?;
            }
            ["quit"] => break,
            _ => say(&mut out, format!("error unknown command '{line}'"))?,
        }
    }
    Ok(())
}
