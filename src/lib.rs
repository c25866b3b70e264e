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
pub mod interop;
pub mod interrupt;
pub mod isa;
pub mod measure;
pub mod model;
pub mod report;
pub mod rng;
pub mod serve;
pub mod tune;
pub mod units;

pub use error::{Error, Result};

/// Cases per fuzz property: `default` (a few seconds in all under `cargo
/// test`), or `CPUWALL_FUZZ_CASES` times as many for a longer run, e.g.
/// `CPUWALL_FUZZ_CASES=100 cargo test --release --lib`.
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    let times = std::env::var("CPUWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    default.saturating_mul(times.max(1))
}

/// A fuzz case's mutation of a valid file: bytes overwritten at `edits`,
/// then cut at `cut` when `truncate`.
#[cfg(test)]
pub(crate) fn mutate(
    bytes: &mut Vec<u8>,
    edits: &[(proptest::sample::Index, u8)],
    cut: proptest::sample::Index,
    truncate: bool,
) {
    for (at, v) in edits {
        let k = at.index(bytes.len());
        bytes[k] = *v;
    }
    if truncate {
        bytes.truncate(cut.index(bytes.len()));
    }
}
