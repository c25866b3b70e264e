//! One exporter per output format behind one trait; adding a format
//! touches one file and its line in `sweep::for_extension`.

use super::baseline::BaselineCell;
use crate::measure::results::{Cell, SweepResults};

/// Everything an exporter may show.
pub struct Doc<'a> {
    pub sources: Vec<String>,
    pub results: Vec<&'a SweepResults>,
    pub cells: Vec<Cell>,
    pub baseline: Vec<BaselineCell>,
    /// Per model: (wall, cpu/wall, speedup) plot file names, relative to the report.
    pub plots: Vec<(String, [String; 3])>,
}

impl Doc<'_> {
    pub fn complete(&self) -> bool {
        self.results.iter().all(|r| r.complete)
    }
}

pub trait Exporter {
    fn extension(&self) -> &'static str;
    fn render(&self, doc: &Doc) -> String;
}
