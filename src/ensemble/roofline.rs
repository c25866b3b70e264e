//! The machine's measured compute roof for the ensemble: what the GEMM the
//! native kernels call (the `gemm` crate, one thread per call, as
//! `native.rs` calls it) reaches on square f32 products, on one core and on
//! every core at once (one product per core, as members run side by side).
//! The CNN report draws GFLOP/s against these lines instead of a datasheet
//! peak, so a strategy's distance to the roof is measured on the machine
//! that ran it.

use std::time::Instant;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    /// GFLOP/s (2 per multiply-add) of one `size`^3 product on one core:
    /// the median of the timed calls.
    pub gemm_gflops_one_core: f64,
    /// GFLOP/s of `cores` such products running at once, one per core.
    pub gemm_gflops_all_cores: f64,
    pub cores: usize,
    /// Side of the square matrices.
    pub size: usize,
}

/// Calls timed per thread after one untimed call.
const CALLS: usize = 5;

/// Measure the roof with `size` x `size` products on 1 and `cores` threads.
pub fn measure(size: usize, cores: usize) -> Roofline {
    let flops = 2.0 * (size as f64).powi(3);
    let one = run_threads(size, 1);
    let all = run_threads(size, cores.max(1));
    Roofline {
        gemm_gflops_one_core: flops / one / 1e9,
        gemm_gflops_all_cores: cores.max(1) as f64 * flops / all / 1e9,
        cores: cores.max(1),
        size,
    }
}

/// The median wall of one product while `threads` threads each run their
/// own products at the same time.
fn run_threads(size: usize, threads: usize) -> f64 {
    let barrier = std::sync::Barrier::new(threads);
    let mut medians: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let a: Vec<f32> = (0..size * size)
                        .map(|i| ((i + t) % 7) as f32 * 0.25)
                        .collect();
                    let b: Vec<f32> = (0..size * size)
                        .map(|i| ((i * 3 + t) % 5) as f32 * 0.5)
                        .collect();
                    let mut c = vec![0f32; size * size];
                    let call = |c: &mut [f32]| {
                        super::conv_op::gemm_strided(
                            (size, size, size),
                            c,
                            false,
                            &a,
                            (size, 1),
                            &b,
                            (size, 1),
                        )
                    };
                    call(&mut c);
                    barrier.wait();
                    let mut walls: Vec<f64> = (0..CALLS)
                        .map(|_| {
                            let t0 = Instant::now();
                            call(&mut c);
                            t0.elapsed().as_secs_f64()
                        })
                        .collect();
                    std::hint::black_box(&c);
                    walls.sort_by(f64::total_cmp);
                    walls[CALLS / 2]
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("gemm thread"))
            .collect()
    });
    // The slowest thread's median: all products share the machine.
    medians.sort_by(f64::total_cmp);
    medians[medians.len() - 1].max(1e-12)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_roof_is_positive_and_finite() {
        let r = super::measure(64, 2);
        assert!(r.gemm_gflops_one_core > 0.0 && r.gemm_gflops_one_core.is_finite());
        assert!(r.gemm_gflops_all_cores > 0.0 && r.gemm_gflops_all_cores.is_finite());
        assert_eq!((r.cores, r.size), (2, 64));
    }
}
