//! JSON export (schema `cpuwall-cells`, docs/results.md): the merged cells
//! with their environment(s).

use super::exporter::{Doc, Exporter};

pub struct Json;

impl Exporter for Json {
    fn extension(&self) -> &'static str {
        "json"
    }
    fn render(&self, doc: &Doc) -> String {
        let v = crate::measure::results::cells::CellsDocument {
            format: crate::measure::results::CELLS,
            version: crate::measure::results::VERSION,
            sources: &doc.sources,
            complete: doc.complete(),
            environments: doc.results.iter().map(|r| &r.header.environment).collect(),
            cells: &doc.cells,
        };
        serde_json::to_string_pretty(&v).expect("json") + "\n"
    }
}
