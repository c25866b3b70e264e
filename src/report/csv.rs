//! CSV export: one line per cell.

use super::export::{Doc, Exporter};
use crate::measure::results::Cell;

pub struct Csv;

impl Exporter for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn render(&self, doc: &Doc) -> String {
        cells_csv(&doc.cells)
    }
}

/// The sweep CSV: one line per cell.
pub fn cells_csv(cells: &[Cell]) -> String {
    let mut s = String::from("model,backend,rows,runs,wall_s_min,wall_s_median,wall_s_max,cpu_s_median,worker_cpu_s_median,cpu_per_wall,rows_per_second,speedup_vs_direct,identical_to_direct,samples,wall_s_ci95_low,wall_s_ci95_high,cpu_s_per_call,parallelism\n");
    for c in cells {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            c.model,
            c.backend,
            c.rows,
            c.runs,
            c.wall_seconds.min,
            c.wall_seconds.median,
            c.wall_seconds.max,
            c.cpu_seconds.median,
            c.worker_cpu_seconds.median,
            c.cpu_per_wall,
            c.rows_per_second,
            c.speedup_vs_direct.map_or(String::new(), |v| v.to_string()),
            c.identical_to_direct,
            c.samples,
            c.wall_seconds_ci95[0],
            c.wall_seconds_ci95[1],
            c.cpu_per_call(),
            c.parallelism
        ));
    }
    s
}
