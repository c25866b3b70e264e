//! cpuwall: train classical classifiers by grid search, store them safely,
//! predict through interchangeable execution backends and measure wall and
//! CPU time honestly. The library is usable without the CLI (`cli/` is glue).

// Index loops over several parallel arrays are the clearest form of the
// numeric kernels here (and compile to the same code).
#![allow(clippy::needless_range_loop)]

pub mod atomic;
pub mod cli;
pub mod clock;
pub mod data;
pub mod ensemble;
pub mod error;
pub mod exec;
pub mod interrupt;
pub mod measure;
pub mod model;
pub mod report;
pub mod rng;
pub mod tune;
pub mod units;

pub use error::{Error, Result};
