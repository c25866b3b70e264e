//! Build a sweep report: merge results files, draw the plots, render.

use std::path::{Path, PathBuf};

use super::analysis::{backends, models, sizes};
use super::baseline::BaselineCell;
use super::exporter::{Doc, Exporter};
use super::svg::{chart, Reference, Series, YAxis};
use crate::atomic::{refuse_overwriting_inputs, write_set};
use crate::error::{Error, Result};
use crate::measure::results::{Cell, SweepResults};

/// The three plots of one model: wall time, CPU/wall, speedup vs rows.
/// A backend has one colour everywhere, scikit-learn's run of it the same
/// colour dashed; `threads` is the thread count the sweep ran with (the
/// ideal speedup and the N-core line).
pub fn plots_for(
    cells: &[Cell],
    model: &str,
    base: &[BaselineCell],
    threads: usize,
) -> [String; 3] {
    let series = |f: &dyn Fn(&Cell) -> Option<f64>| -> Vec<Series> {
        backends(cells, model)
            .into_iter()
            .map(|b| {
                let points = cells
                    .iter()
                    .filter(|c| c.model == model && c.backend == b)
                    .filter_map(|c| Some((c.rows as f64, f(c)?)))
                    .collect();
                Series::for_backend(format!("cpuwall {b}"), &b, points, false)
            })
            .collect()
    };
    // scikit-learn's three backends, then any peer the baseline holds
    // (ONNX Runtime's `onnxruntime-1t`, ...), each dashed.
    let base_series = |f: &dyn Fn(&BaselineCell) -> Option<f64>| -> Vec<Series> {
        super::baseline::backends(base, model)
            .into_iter()
            .map(|b| {
                let points = base
                    .iter()
                    .filter(|c| c.model == model && c.backend == b)
                    .filter_map(|c| Some((c.rows as f64, f(c)?)))
                    .collect();
                Series::for_backend(super::baseline::label(&b), &b, points, true)
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
    let mut speed = series(&|c| c.speedup_vs_direct);
    // scikit-learn's own speedup: its backend's wall over its direct's.
    speed.extend(base_series(&|c| {
        let direct = base
            .iter()
            .find(|d| d.model == model && d.backend == "direct" && d.rows == c.rows)?;
        ["threads", "processes"]
            .contains(&c.backend.as_str())
            .then(|| direct.wall_seconds / c.wall_seconds)
    }));
    let n = threads.max(1) as f64;
    let cores = |what: &str| {
        vec![
            Reference {
                y: 1.0,
                label: format!("1 {what}"),
            },
            Reference {
                y: n,
                label: format!("{threads} {what}s"),
            },
        ]
    };
    [
        chart(
            &format!("{model}: wall time per predict call"),
            "rows per call",
            "wall time (median)",
            &wall,
            YAxis::Seconds,
            &[],
        ),
        chart(
            &format!("{model}: CPU / wall (workers counted)"),
            "rows per call",
            "CPU seconds / wall seconds",
            &cpu,
            YAxis::Linear,
            &cores("core"),
        ),
        chart(
            &format!("{model}: speedup vs direct"),
            "rows per call",
            "direct wall / backend wall",
            &speed,
            YAxis::Linear,
            &[
                Reference {
                    y: 1.0,
                    label: "direct (1×)".into(),
                },
                Reference {
                    y: n,
                    label: format!("ideal ({threads} threads)"),
                },
            ],
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
    let files = render(inputs, &results, out, &base)?;
    for (path, _) in &files {
        refuse_overwriting_inputs(&[("-o (its plot)", path)], &sources)?;
    }
    // The report and its plots land together or not at all.
    write_set(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// The report of `results` (read from `inputs`) as the files to write:
/// `out` and, for markdown, its SVG plots beside it.
pub fn render(
    inputs: &[PathBuf],
    results: &[SweepResults],
    out: &Path,
    base: &[BaselineCell],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let ext = crate::data::extension(out);
    let exporter = for_extension(&ext).ok_or_else(|| {
        Error::usage(format!(
            "-o {}: use a .md, .json or .csv file name",
            out.display()
        ))
    })?;
    let mut cells: Vec<Cell> = Vec::new();
    for r in results {
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
            let threads = results
                .iter()
                .map(|r| r.settings.threads)
                .max()
                .unwrap_or(1);
            let svgs = plots_for(&cells, &m, base, threads);
            let names = ["wall", "cpu", "speedup"].map(|k| format!("{stem}-{m}-{k}.svg"));
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
        baseline: base.to_vec(),
        plots,
    };
    files.push((out.to_path_buf(), exporter.render(&doc).into_bytes()));
    Ok(files)
}

/// `sweep --export-markdown`: the report of one results document, without
/// plots (one file; `cpuwall report` draws them).
pub fn markdown_without_plots(source: &Path, results: &SweepResults) -> String {
    let doc = Doc {
        sources: vec![source.display().to_string()],
        results: vec![results],
        cells: results.cells.clone(),
        baseline: Vec::new(),
        plots: Vec::new(),
    };
    super::markdown::Markdown.render(&doc)
}

/// `sweep --export-csv`: one line per timed sample of every cell.
pub fn raw_csv(cells: &[Cell]) -> String {
    let rows: Vec<(Vec<String>, &crate::measure::run::RawSamples)> = cells
        .iter()
        .map(|c| {
            (
                vec![c.model.clone(), c.backend.clone(), c.rows.to_string()],
                &c.raw,
            )
        })
        .collect();
    super::export_flags::raw_csv(&["model", "backend", "rows"], &rows)
}

/// The committed reference sweep (the sklearn study's) without its raw
/// samples, parsed once: a real results file for the tests below.
#[cfg(test)]
fn reference_sweep_text() -> &'static str {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../reports/sklearn-study/sweep.json")).unwrap();
        for c in v["cells"].as_array_mut().unwrap() {
            c.as_object_mut().unwrap().remove("raw");
        }
        v.to_string()
    });
    &TEXT
}

/// The exporter for a file extension (`md`, `json`, `csv`).
fn for_extension(ext: &str) -> Option<Box<dyn Exporter>> {
    match ext {
        "md" | "markdown" => Some(Box::new(super::markdown::Markdown)),
        "json" => Some(Box::new(super::json::Json)),
        "csv" => Some(Box::new(super::csv::Csv)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The committed reference sweep, one model of it: a real results file.
    fn reference() -> Value {
        let text = reference_sweep_text();
        let mut v: Value = serde_json::from_str(text).unwrap();
        let cells = v["cells"].as_array_mut().unwrap();
        cells.retain(|c| c["model"] == "nb");
        v
    }

    /// Hostile values for a number, a string, or anything.
    fn hostile() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::from(0)),
            Just(Value::from(-1.0)),
            Just(Value::from(1e308)),
            Just(Value::from(-1e308)),
            Just(Value::from(5e-324)),
            Just(Value::from(u64::MAX)),
            Just(Value::from(i64::MIN)),
            Just(Value::from("../../escape")),
            Just(Value::from("")),
            Just(Value::from("<script>&")),
            Just(Value::Null),
            Just(Value::Array(vec![])),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
        ]
    }

    /// Every leaf of `v` (strings only if `strings`), as JSON pointers.
    fn leaves(v: &Value, at: String, strings: bool, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), strings, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), strings, out)),
            Value::String(_) => out.push(at),
            _ if !strings => out.push(at),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(300)))]

        /// A results file with leaves replaced by hostile values: a typed
        /// error or a report, never a panic, and plots only beside `out`.
        #[test]
        fn hostile_results_files_never_panic_the_report(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), hostile()), 1..6),
            names in proptest::collection::vec((any::<prop::sample::Index>(), hostile()), 0..2),
            ext in prop::sample::select(vec!["md", "json", "csv"]),
        ) {
            let mut v = reference();
            for (strings, edits) in [(false, edits), (true, names)] {
                let mut paths = Vec::new();
                leaves(&v, String::new(), strings, &mut paths);
                for (at, value) in edits {
                    *v.pointer_mut(&paths[at.index(paths.len())]).unwrap() = value;
                }
            }
            let p = Path::new("fuzz.json");
            if let Ok(r) = SweepResults::from_text(p, &v.to_string()) {
                let out = PathBuf::from(format!("dir/report.{ext}"));
                if let Ok(files) = render(&[p.to_path_buf()], &[r], &out, &[]) {
                    for (f, _) in files {
                        prop_assert_eq!(f.parent(), Some(Path::new("dir")), "{}", f.display());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn a_model_name_with_a_path_in_it_is_refused() {
        let text = reference_sweep_text();
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["cells"][0]["model"] = "../../escape".into();
        let p = Path::new("r.json");
        let e = SweepResults::from_text(p, &v.to_string()).map(|r| {
            render(&[p.to_path_buf()], &[r], Path::new("dir/report.md"), &[])
                .map(|f| f.into_iter().map(|(p, _)| p).collect::<Vec<_>>())
        });
        assert!(
            format!("{e:?}").contains("cell 1 names model '../../escape', not a model name"),
            "{e:?}"
        );
    }
}

#[cfg(test)]
mod baseline_fuzz {
    use super::*;
    use proptest::prelude::*;

    const CSV: &str = include_str!("../../reports/sklearn-study/sklearn_sweep.csv");

    #[test]
    fn the_committed_baseline_reads_whole() {
        let cells = crate::report::baseline::parse(Path::new("b.csv"), CSV.as_bytes()).unwrap();
        assert_eq!(cells.len(), CSV.lines().count() - 1);
        assert!(cells
            .iter()
            .all(|c| c.wall_seconds > 0.0 && !c.model.is_empty()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(300)))]

        /// A baseline with bytes overwritten: a typed error, or a report
        /// beside the reference sweep; never a panic.
        #[test]
        fn mutated_baselines_never_panic_the_report(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"0123456789.-e,\n\"x".to_vec())), 1..8),
        ) {
            let mut b = CSV.as_bytes().to_vec();
            for (at, v) in edits {
                let k = at.index(b.len());
                b[k] = v;
            }
            if let Ok(base) = crate::report::baseline::parse(Path::new("b.csv"), &b) {
                let text = reference_sweep_text();
                let p = Path::new("r.json");
                let r = SweepResults::from_text(p, text).unwrap();
                let _ = render(&[p.to_path_buf()], &[r], Path::new("report.md"), &base);
            }
        }
    }
}

/// The line for people after each measured cell: `lr threads 1e6: 12.3 ms (1.9x)`.
pub fn cell_line(c: &crate::measure::results::Cell) -> String {
    format!(
        "{} {} {}: {} ({})",
        c.model,
        c.backend,
        crate::data::count::format_count(c.rows as u64),
        crate::units::seconds(c.wall_seconds.median),
        c.speedup_vs_direct.map_or("-".into(), crate::units::times)
    )
}

/// The line for people after each MPI cell (rank 0), `k` cells done, on `ranks` ranks.
pub fn mpi_cell_line(k: usize, c: &crate::measure::results::Cell, ranks: usize) -> String {
    format!(
        "[{k}] {} mpi({ranks}) {}: {}{}",
        c.model,
        crate::data::count::format_count(c.rows as u64),
        crate::units::seconds(c.wall_seconds.median),
        c.speedup_vs_direct.map_or(String::new(), |s| format!(
            " ({} direct)",
            crate::units::times(s)
        ))
    )
}

/// The last line of a sweep: cells, time, noise and where they went.
pub fn done_line(r: &crate::measure::results::SweepResults, out: &std::path::Path) -> String {
    format!(
        "{} cells in {:.1} s (noise: a typical repeat is {:.1}% slower than the best) -> {}",
        r.cells.len(),
        r.elapsed_seconds,
        r.noise * 100.0,
        out.display()
    )
}
