//! Measurement: clocks (wall, this process's CPU, children's CPU) and the
//! statistics of repeated runs.

pub mod clock;
pub mod run;
pub mod stats;
