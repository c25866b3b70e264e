//! Build a sweep report: merge results files, draw the plots, render.

use std::path::{Path, PathBuf};

use super::analysis::{backends, models, sizes};
use super::baseline::BaselineCell;
use super::export::{for_extension, Doc};
use super::svg::{line_chart, Series};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::measure::results::{Cell, SweepResults};

/// The three plots of one model: wall time, CPU/wall, speedup vs rows.
pub fn plots_for(cells: &[Cell], model: &str, base: &[BaselineCell]) -> [String; 3] {
    let series = |f: &dyn Fn(&Cell) -> Option<f64>| -> Vec<Series> {
        backends(cells, model)
            .into_iter()
            .map(|b| Series {
                points: cells
                    .iter()
                    .filter(|c| c.model == model && c.backend == b)
                    .filter_map(|c| Some((c.rows as f64, f(c)?)))
                    .collect(),
                name: format!("cpuwall {b}"),
                dashed: false,
            })
            .collect()
    };
    let base_series = |f: &dyn Fn(&BaselineCell) -> Option<f64>| -> Vec<Series> {
        ["direct", "threads", "processes"]
            .iter()
            .map(|b| Series {
                name: format!("scikit-learn {b}"),
                points: base
                    .iter()
                    .filter(|c| c.model == model && c.backend == *b)
                    .filter_map(|c| Some((c.rows as f64, f(c)?)))
                    .collect(),
                dashed: true,
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let mut wall = series(&|c| Some(c.wall_seconds.median));
    wall.extend(base_series(&|c| Some(c.wall_seconds)));
    let mut cpu = series(&|c| Some(c.cpu_per_wall));
    cpu.extend(base_series(&|c| {
        Some(c.cpu_incl_workers_seconds / c.wall_seconds)
    }));
    let speed = series(&|c| c.speedup_vs_direct);
    [
        line_chart(
            &format!("{model}: wall time per predict call"),
            "rows per call",
            "wall seconds (median)",
            &wall,
            true,
        ),
        line_chart(
            &format!("{model}: CPU / wall (workers counted)"),
            "rows per call",
            "CPU seconds / wall seconds",
            &cpu,
            false,
        ),
        line_chart(
            &format!("{model}: speedup vs direct"),
            "rows per call",
            "direct wall / backend wall",
            &speed,
            true,
        ),
    ]
}

/// Write the report to `out` (format from its extension) and, for
/// markdown, the SVG plots beside it. Returns the files written.
pub fn write_report(
    inputs: &[PathBuf],
    out: &Path,
    base: Vec<BaselineCell>,
) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(Error::usage("give at least one results file"));
    }
    let results: Vec<SweepResults> = inputs
        .iter()
        .map(|p| SweepResults::load(p))
        .collect::<Result<_>>()?;
    let ext = crate::data::extension(out);
    let exporter = for_extension(&ext).ok_or_else(|| {
        Error::usage(format!(
            "-o {}: use a .md, .json or .csv file name",
            out.display()
        ))
    })?;
    let mut cells: Vec<Cell> = Vec::new();
    for r in &results {
        for c in &r.cells {
            // A later file's cell replaces an earlier one for the same key.
            cells.retain(|x| !(x.model == c.model && x.backend == c.backend && x.rows == c.rows));
            cells.push(c.clone());
        }
    }
    if cells.is_empty() {
        return Err(Error::data(
            &inputs[0],
            "the results hold no measured cells",
        ));
    }
    let mut written = Vec::new();
    let mut plots = Vec::new();
    if exporter.extension() == "md" {
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
        for m in models(&cells) {
            if sizes(&cells, &m).is_empty() {
                continue;
            }
            let svgs = plots_for(&cells, &m, &base);
            let names = ["wall", "cpu", "speedup"].map(|k| format!("{stem}-{m}-{k}.svg"));
            for (svg, name) in svgs.iter().zip(&names) {
                let p = dir.join(name);
                write_atomic(&p, svg.as_bytes())?;
                written.push(p);
            }
            plots.push((m, names));
        }
    }
    let doc = Doc {
        sources: inputs.iter().map(|p| p.display().to_string()).collect(),
        results: results.iter().collect(),
        cells,
        baseline: base,
        plots,
    };
    write_atomic(out, exporter.render(&doc).as_bytes())?;
    written.push(out.to_path_buf());
    Ok(written)
}
