//! JSON export (schema `cpuwall-cells`, docs/results.md): the merged cells
//! with their environment(s).

use super::export::{Doc, Exporter};

pub struct Json;

impl Exporter for Json {
    fn extension(&self) -> &'static str {
        "json"
    }
    fn render(&self, doc: &Doc) -> String {
        let v = serde_json::json!({
            "format": crate::measure::schema::CELLS,
            "version": crate::measure::schema::VERSION,
            "sources": doc.sources,
            "complete": doc.complete(),
            "environments": doc.results.iter().map(|r| &r.environment).collect::<Vec<_>>(),
            "cells": doc.cells,
        });
        serde_json::to_string_pretty(&v).expect("json") + "\n"
    }
}
