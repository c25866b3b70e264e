//! CSV export: one line per cell.

use super::exporter::{Doc, Exporter};
use crate::measure::results::sweep::cells_csv;

pub struct Csv;

impl Exporter for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn render(&self, doc: &Doc) -> String {
        cells_csv(&doc.cells)
    }
}
