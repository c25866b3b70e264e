//! The `cpuwall worker` process: loads a model once, then serves jobs from
//! its parent over a pipe (`exec::child`). Protocol, one line each way per job:
//!
//! ```text
//! worker: ready <features>                        (model loaded)
//! parent: job <shm path> <shm bytes> <rows> <cols> <start> <end>
//! worker: done <cpu nanoseconds spent on the job>   |   error <message>
//! ```
//! The worker predicts rows `start..end` of the shared batch into the
//! shared output. It exits on `quit`, on end of input, or (Linux) when the
//! parent dies.

use std::path::Path;

use memmap2::MmapMut;
use ndarray::ArrayView2;

use super::child::{numbers, serve, Fault};
use super::shm::{map_peer, view_mut};
use crate::clock::process_cpu;
use crate::error::{Error, Result};
use crate::model::{store, Model, Predictor};

/// Test hook (`exec::child::Fault`): `die-once:<marker file>` dies on its
/// first job unless the marker exists, `hang` never answers a job.
pub const FAULT_ENV: &str = "CPUWALL_WORKER_FAULT";

pub fn run(model_path: &Path) -> Result<()> {
    let model = store::load(model_path)?.model;
    let fault = Fault::from_env(FAULT_ENV);
    let mut mapped: Option<(String, usize, MmapMut)> = None;
    let mut jobs = 0;
    serve(
        &format!("ready {} {}", model.n_features(), model.n_outputs()),
        |cmd, parent| {
            let ["job", path, rest @ ..] = cmd else {
                return Ok(false);
            };
            if rest.len() != 5 {
                return Ok(false);
            }
            let [bytes, rows, cols, start, end] = numbers::<5>(rest, cmd)?;
            fault.strike(None);
            let t0 = process_cpu();
            let reply = match job(&model, &mut mapped, path, bytes, [rows, cols, start, end]) {
                Ok(()) => format!("done {}", (process_cpu() - t0).as_nanos()),
                Err(e) => format!("error {}", e.to_string().replace('\n', " ")),
            };
            jobs += 1;
            let gone = fault.before_answer(jobs);
            parent.say(&reply)?;
            if gone {
                std::process::exit(0);
            }
            Ok(true)
        },
    )
}

/// Predict rows `start..end` of the `rows x cols` batch in the segment.
fn job(
    model: &Model,
    mapped: &mut Option<(String, usize, MmapMut)>,
    path: &str,
    bytes: usize,
    [rows, cols, start, end]: [usize; 4],
) -> Result<()> {
    let k = model.n_outputs();
    if cols != model.n_features()
        || start > end
        || end > rows
        || super::shm::SharedBatch::bytes_for(rows, cols, k) > bytes
    {
        return Err(Error::Runtime(format!(
            "job does not fit the model or the segment: rows {start}..{end} of {rows}x{cols}"
        )));
    }
    if !matches!(mapped, Some((p, b, _)) if p == path && *b == bytes) {
        *mapped = Some((path.to_string(), bytes, map_peer(path, bytes)?));
    }
    let map = &mut mapped.as_mut().expect("mapped above").2;
    let (input_bytes, output_bytes) = map.split_at_mut(rows * cols * 8);
    let input = view_mut::<f64>(input_bytes, 0, rows * cols);
    let x = ArrayView2::from_shape((end - start, cols), &input[start * cols..end * cols])
        .map_err(|e| Error::Runtime(format!("worker: {e}")))?;
    let output = view_mut::<i64>(output_bytes, 0, rows * k);
    model.predict_into(x, &mut output[start * k..end * k]);
    Ok(())
}
