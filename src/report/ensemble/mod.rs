//! The CNN study's outputs: cpuwall's strategies beside TensorFlow's designs
//! (the re-run of the study on a 2-core machine), with GFLOP/s,
//! CPU/wall, accuracy and agreement, computed from bench cells.
//!
//! `study.rs`: the markdown report and its files; `plots.rs`: its SVG
//! plots; `console.rs`: what the commands print.

mod console;
mod plots;
mod study;

pub use console::{
    cell_line, predict_json, predict_line, raw_csv, render_markdown_table, render_table,
    trained_lines,
};
pub use study::{study_files, study_markdown, write_report};
