//! Reports for people (markdown) generated from results, never typed by hand.

pub mod table;
pub mod training;
pub mod units;
