//! Measurement: clocks (wall, this process's CPU, children's CPU) and the
//! statistics of repeated runs.

pub mod compare;
pub mod ensemble;
pub mod env;
pub mod floor;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod predict;
pub mod results;
pub mod run;
pub mod stats;
pub mod sweep;
