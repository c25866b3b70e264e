//! Measurement: clocks (wall, this process's CPU, children's CPU) and the
//! statistics of repeated runs.

pub mod clock;
pub mod env;
pub mod floor;
pub mod results;
pub mod run;
pub mod stats;
pub mod sweep;
