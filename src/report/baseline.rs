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
    let bytes = crate::data::bounded::read(
        path,
        &crate::data::bounded::Limit {
            what: "baseline CSV",
            max: 64 << 20,
            not_found: "baseline not found; write one with baselines/sklearn_sweep.py",
        },
        &|b| match std::str::from_utf8(b) {
            Err(e) if e.error_len().is_some() => Err("not a baseline CSV: not UTF-8 text".into()),
            _ => Ok(()),
        },
    )?;
    parse(path, &bytes)
}

/// The cells of a baseline CSV from its bytes (`path` names it in errors),
/// read by the `csv` crate like every other CSV.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<BaselineCell>> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let bad = |e: ::csv::Error| Error::data(path, format!("not a baseline CSV: {e}"));
    let header: Vec<String> = rdr
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
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
    for rec in rdr.records() {
        let rec = rec.map_err(bad)?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line());
        let num = |k: usize| {
            rec.get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Error::data(
                        path,
                        format!(
                            "line {line}: column {} is not a number of zero or more",
                            header[k]
                        ),
                    )
                })
        };
        let text = |k: usize| rec.get(k).unwrap_or("").to_string();
        let rows = num(r)?;
        if rows.fract() != 0.0 || rows > 1e15 {
            return Err(Error::data(
                path,
                format!("line {line}: rows {rows} is not a whole count"),
            ));
        }
        out.push(BaselineCell {
            model: text(m).to_ascii_lowercase(),
            backend: text(b),
            rows: rows as u64,
            wall_seconds: num(w)?,
            cpu_seconds: num(c)?,
            cpu_incl_workers_seconds: num(cw)?,
        });
    }
    Ok(out)
}

/// The baseline's backends for `model`: scikit-learn's direct, threads and
/// processes first, then other peers in file order.
pub fn backends(cells: &[BaselineCell], model: &str) -> Vec<String> {
    let mut out: Vec<String> = ["direct", "threads", "processes"]
        .iter()
        .filter(|b| cells.iter().any(|c| c.model == model && c.backend == **b))
        .map(|b| b.to_string())
        .collect();
    for c in cells.iter().filter(|c| c.model == model) {
        if !out.contains(&c.backend) {
            out.push(c.backend.clone());
        }
    }
    out
}

/// How a baseline backend is named in plots and findings: scikit-learn's
/// own (`scikit-learn threads`), or a peer's (`onnxruntime-2t` is
/// `ONNX Runtime, 2 threads`).
pub fn label(backend: &str) -> String {
    match backend {
        "direct" | "threads" | "processes" => format!("scikit-learn {backend}"),
        _ => match backend
            .strip_prefix("onnxruntime-")
            .and_then(|t| t.strip_suffix('t'))
        {
            Some(n) => format!(
                "ONNX Runtime, {n} thread{}",
                if n == "1" { "" } else { "s" }
            ),
            None => backend.to_string(),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_follow_scikit_learns_backends_and_are_named_for_people() {
        let text = "model,backend,rows,wall_s,cpu_s,cpu_incl_workers_s\n\
                    rf,onnxruntime-2t,10,1,1,1\nrf,threads,10,1,1,1\nrf,direct,10,1,1,1\n\
                    rf,onnxruntime-1t,10,1,1,1\nnb,processes,10,1,1,1\n";
        let cells = parse(Path::new("b.csv"), text.as_bytes()).unwrap();
        assert_eq!(
            backends(&cells, "rf"),
            ["direct", "threads", "onnxruntime-2t", "onnxruntime-1t"]
        );
        assert_eq!(label("onnxruntime-1t"), "ONNX Runtime, 1 thread");
        assert_eq!(label("onnxruntime-16t"), "ONNX Runtime, 16 threads");
        assert_eq!(label("threads"), "scikit-learn threads");
    }
}
