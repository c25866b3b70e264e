//! Build a sweep report: merge results files, draw the plots, render.

use std::path::{Path, PathBuf};

use super::analysis::{backends, models, sizes};
use super::baseline::BaselineCell;
use super::export::{for_extension, Doc};
use super::svg::{line_chart, Series};
use crate::atomic::{refuse_overwriting_inputs, write_set};
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

/// Write the report of the results files `inputs` to `out` (format from its
/// extension) and, for markdown, the SVG plots beside it, with scikit-learn's
/// sweep from `baseline` beside cpuwall's. No output may be one of the
/// inputs. Returns the files written.
pub fn write_report(
    inputs: &[PathBuf],
    out: &Path,
    baseline: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(Error::usage("give at least one results file"));
    }
    let mut sources: Vec<(&str, &Path)> = inputs.iter().map(|p| ("results", p.as_path())).collect();
    if let Some(b) = baseline {
        sources.push(("--baseline", b));
    }
    refuse_overwriting_inputs(&[("-o", out)], &sources)?;
    let base = match baseline {
        Some(p) => super::baseline::read(p)?,
        None => Vec::new(),
    };
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
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
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
            for name in &names {
                refuse_overwriting_inputs(&[("-o (its plot)", &dir.join(name))], &sources)?;
            }
            for (svg, name) in svgs.into_iter().zip(&names) {
                files.push((dir.join(name), svg.into_bytes()));
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
    files.push((out.to_path_buf(), exporter.render(&doc).into_bytes()));
    // The report and its plots land together or not at all.
    write_set(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}
