//! CSV export: one line per cell.

use super::export::{Doc, Exporter};
use crate::measure::results::SweepResults;

pub struct Csv;

impl Exporter for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn render(&self, doc: &Doc) -> String {
        let mut merged = doc
            .results
            .first()
            .map(|r| (*r).clone())
            .expect("at least one results file");
        merged.cells = doc.cells.clone();
        SweepResults::to_csv(&merged)
    }
}
