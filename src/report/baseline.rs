//! The scikit-learn study's sweep (`sklearn_sweep.csv`) as a baseline.

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct BaselineCell {
    /// nb, lr, svc, rf.
    pub model: String,
    /// direct, threads, processes.
    pub backend: String,
    pub rows: u64,
    pub wall_seconds: f64,
    /// CPU of the calling process only (what `time.process_time()` saw).
    pub cpu_seconds: f64,
    /// CPU with the worker processes counted.
    pub cpu_incl_workers_seconds: f64,
}

pub fn read(path: &Path) -> Result<Vec<BaselineCell>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::data(path, format!("cannot read baseline: {e}")))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            Error::data(
                path,
                format!("baseline has no '{name}' column; expected the sklearn_sweep.csv format"),
            )
        })
    };
    let (m, b, r, w, c, cw) = (
        col("model")?,
        col("backend")?,
        col("rows")?,
        col("wall_s")?,
        col("cpu_s")?,
        col("cpu_incl_workers_s")?,
    );
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let num = |k: usize| {
            f.get(k).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| {
                Error::data(
                    path,
                    format!("line {}: bad number in column {}", i + 2, header[k]),
                )
            })
        };
        out.push(BaselineCell {
            model: f.get(m).unwrap_or(&"").to_ascii_lowercase(),
            backend: f.get(b).unwrap_or(&"").to_string(),
            rows: num(r)? as u64,
            wall_seconds: num(w)?,
            cpu_seconds: num(c)?,
            cpu_incl_workers_seconds: num(cw)?,
        });
    }
    Ok(out)
}

pub fn find<'a>(
    cells: &'a [BaselineCell],
    model: &str,
    backend: &str,
    rows: u64,
) -> Option<&'a BaselineCell> {
    cells
        .iter()
        .find(|c| c.model == model && c.backend == backend && c.rows == rows)
}
