//! The `cpuwall worker` process: loads a model once, then serves jobs from
//! its parent over a pipe. Protocol, one line each way per job:
//!
//! ```text
//! parent: job <shm path> <shm bytes> <rows> <cols> <start> <end>
//! worker: done <cpu nanoseconds spent on the job>   |   error <message>
//! ```
//! The worker predicts rows `start..end` of the shared batch into the
//! shared output. It exits on `quit`, on end of input, or (Linux) when the
//! parent dies.

use std::io::{BufRead, Write};
use std::path::Path;

use memmap2::MmapMut;
use ndarray::ArrayView2;

use super::shm::view_mut;
use crate::clock::process_cpu;
use crate::error::{Error, Result};
use crate::model::store;
use crate::model::Classifier;

/// Test hook: `die-once:<marker file>` dies on its first job unless the
/// marker exists (creating it), `hang` never answers a job.
pub const FAULT_ENV: &str = "CPUWALL_WORKER_FAULT";

pub fn run(model_path: &Path) -> Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let stored = store::load(model_path)?;
    let model = stored.model;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "ready {}", model.n_features())
        .map_err(|e| Error::io("worker: cannot write", e))?;
    out.flush().ok();
    let fault = std::env::var(FAULT_ENV).unwrap_or_default();
    let mut mapped: Option<(String, usize, MmapMut)> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::io("worker: cannot read", e))?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["job", path, bytes, rows, cols, start, end] => {
                let num = |s: &str| {
                    s.parse::<usize>()
                        .map_err(|_| Error::Runtime(format!("worker: bad job line '{line}'")))
                };
                let (bytes, rows, cols, start, end) =
                    (num(bytes)?, num(rows)?, num(cols)?, num(start)?, num(end)?);
                inject_fault(&fault);
                let t0 = process_cpu();
                let reply = match serve(&model, &mut mapped, path, bytes, rows, cols, start, end) {
                    Ok(()) => format!("done {}", (process_cpu() - t0).as_nanos()),
                    Err(e) => format!("error {}", e.to_string().replace('\n', " ")),
                };
                writeln!(out, "{reply}").map_err(|e| Error::io("worker: cannot write", e))?;
                out.flush().ok();
            }
            ["quit"] => break,
            _ => {
                writeln!(out, "error unknown command '{line}'").ok();
                out.flush().ok();
            }
        }
    }
    Ok(())
}

fn inject_fault(fault: &str) {
    if let Some(marker) = fault.strip_prefix("die-once:") {
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(marker)
            .is_ok()
        {
            std::process::exit(101);
        }
    } else if fault == "hang" {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn serve(
    model: &crate::model::Model,
    mapped: &mut Option<(String, usize, MmapMut)>,
    path: &str,
    bytes: usize,
    rows: usize,
    cols: usize,
    start: usize,
    end: usize,
) -> Result<()> {
    if cols != model.n_features() || start > end || end > rows || rows * cols * 8 + rows * 8 > bytes
    {
        return Err(Error::Runtime(format!(
            "job does not fit the model or the segment: rows {start}..{end} of {rows}x{cols}"
        )));
    }
    let stale = !matches!(mapped, Some((p, b, _)) if p == path && *b == bytes);
    if stale {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("worker: cannot open shared memory {path}"), e))?;
        // SAFETY: the parent keeps the segment alive and sized while jobs run.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|e| Error::io("worker: cannot map shared memory", e))?;
        if map.len() < bytes {
            return Err(Error::Runtime(
                "shared memory is smaller than announced".into(),
            ));
        }
        *mapped = Some((path.to_string(), bytes, map));
    }
    let map = &mut mapped.as_mut().expect("mapped above").2;
    let (input_bytes, output_bytes) = map.split_at_mut(rows * cols * 8);
    let input = view_mut::<f64>(input_bytes, 0, rows * cols);
    let x = ArrayView2::from_shape((end - start, cols), &input[start * cols..end * cols])
        .map_err(|e| Error::Runtime(format!("worker: {e}")))?;
    let output = view_mut::<i64>(output_bytes, 0, rows);
    model.predict_into(x, &mut output[start..end]);
    Ok(())
}
