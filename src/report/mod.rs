//! Reports for people (markdown, plots) and machines (JSON, CSV), generated
//! from results files, never typed by hand.

pub mod analysis;
pub mod baseline;
pub mod csv;
pub mod ensemble;
pub mod export_flags;
pub mod exporter;
pub mod json;
pub mod load;
pub mod markdown;
pub mod model;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod predict;
pub mod progress;
pub mod serving;
pub mod style;
pub mod svg;
pub mod sweep;
pub mod table;
pub mod training;
