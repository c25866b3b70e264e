//! `cpuwall report -o FILE.json` (format `cpuwall-cells`, docs/results.md):
//! the cells of one or more sweep results files merged, with the files they
//! came from and each file's environment.

use serde::Serialize;

use super::sweep::Cell;
use crate::measure::env::Environment;

#[derive(Debug, Clone, Serialize)]
pub struct CellsDocument<'a> {
    pub format: &'static str,
    pub version: u32,
    pub sources: &'a [String],
    /// Every source sweep ran to its end.
    pub complete: bool,
    pub environments: Vec<&'a Environment>,
    pub cells: &'a [Cell],
}
