//! Reports for people (markdown, plots) and machines (JSON, CSV), generated
//! from results files, never typed by hand.

pub mod analysis;
pub mod baseline;
pub mod csv;
pub mod export;
pub mod json;
pub mod markdown;
pub mod svg;
pub mod sweep;
pub mod table;
pub mod training;
pub mod units;
