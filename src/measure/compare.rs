//! Comparing backends on one batch: each built by exec's factory, checked
//! against direct's labels, timed in interleaved blocks, its speedup over
//! direct computed once. `cpuwall predict` is one comparison; a sweep is
//! one per batch size, with the backends (and a warm process pool) reused.

use std::time::Instant;

use ndarray::ArrayView2;

use super::run::{measure_interleaved, Measured, Repeats};
use super::stats::speedup;
use crate::error::Result;
use crate::exec::build::BackendSetup;
use crate::exec::{Backend, BackendKind};

/// One backend taking part in a comparison.
pub struct Contender {
    pub kind: BackendKind,
    pub backend: Box<dyn Backend>,
}

/// Build every backend in `kinds` for `setup` (process pools start here).
pub fn build_all(kinds: &[BackendKind], setup: &BackendSetup) -> Result<Vec<Contender>> {
    kinds
        .iter()
        .map(|&kind| {
            Ok(Contender {
                kind,
                backend: kind.build(setup)?,
            })
        })
        .collect()
}

/// One backend's result in a comparison.
#[derive(Debug, Clone)]
pub struct Compared {
    pub kind: BackendKind,
    /// The backend's own name (`threads(2)`, `processes(2)`).
    pub name: String,
    pub measured: Measured,
    /// Its labels equal the reference's (direct's).
    pub identical: bool,
    /// Backends that start something (a process pool): start-up plus the
    /// first call, timed together. Only for freshly built backends.
    pub cold_start_seconds: Option<f64>,
    /// Direct's median wall / this median wall, when direct took part.
    pub speedup_vs_direct: Option<f64>,
}

/// Time every contender on `x` (interleaved, per `repeats`) and check its
/// labels against `reference`. With `cold`, backends that report a start-up
/// time first get one timed call, reported with it as the cold start. Once
/// `stop()` says so, timing ends as soon as every backend has a run.
pub fn compare(
    contenders: &mut [Contender],
    x: ArrayView2<'_, f64>,
    reference: &[i64],
    repeats: Repeats,
    cold: bool,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Compared>> {
    // The model's words for these rows (a row's outputs side by side).
    let mut out = vec![0i64; reference.len()];
    let mut cold_start = vec![None; contenders.len()];
    if cold {
        for (c, slot) in contenders.iter_mut().zip(cold_start.iter_mut()) {
            if let Some(startup) = c.backend.startup_seconds() {
                let t = Instant::now();
                c.backend.predict(x, &mut out)?;
                *slot = Some(startup + t.elapsed().as_secs_f64());
                c.backend.rest();
            }
        }
    }
    let mut identical = vec![false; contenders.len()];
    let measured = {
        let mut handles: Vec<&mut dyn Backend> = Vec::with_capacity(contenders.len());
        for c in contenders.iter_mut() {
            handles.push(c.backend.as_mut());
        }
        measure_interleaved(
            &mut handles,
            x,
            &mut out,
            repeats,
            |i, got| identical[i] = got == reference,
            stop,
        )?
    };
    let direct_wall = contenders
        .iter()
        .zip(&measured)
        .find(|(c, _)| c.kind == BackendKind::Direct)
        .map(|(_, m)| m.wall_seconds.median);
    Ok(contenders
        .iter()
        .zip(measured)
        .zip(identical)
        .zip(cold_start)
        .map(
            |(((c, measured), identical), cold_start_seconds)| Compared {
                kind: c.kind,
                name: c.backend.name(),
                speedup_vs_direct: direct_wall.map(|d| speedup(d, measured.wall_seconds.median)),
                measured,
                identical,
                cold_start_seconds,
            },
        )
        .collect())
}
