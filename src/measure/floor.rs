//! The memory floor a prediction pass is held to: the same rows read with
//! the least arithmetic there is, and one label per row written.

/// Read every value of `flat` (rows of `d` values) and write one label per
/// row into `out`; returns the sum so the read cannot be optimised away.
/// With `prefetch`, lines are requested 16 KiB ahead, as the row kernel does.
pub fn stream(flat: &[f64], d: usize, out: &mut [i64], prefetch: bool) -> f64 {
    assert_eq!(flat.len(), out.len() * d, "flat must hold out.len() rows");
    #[cfg(target_arch = "x86_64")]
    if crate::isa::current() == crate::isa::Isa::Avx512 {
        // SAFETY: the CPU runs AVX-512 (isa); lengths checked above.
        return unsafe { avx512::stream(flat, out, prefetch) };
    }
    let _ = prefetch;
    let mut lanes = [0.0f64; 8];
    for chunk in flat.chunks(8) {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    out.iter_mut().for_each(|o| *o = 1);
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const AHEAD_BYTES: usize = 16 << 10;

    /// # Safety
    /// AVX-512F; `flat.len()` a multiple of `out.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn stream(flat: &[f64], out: &mut [i64], prefetch: bool) -> f64 {
        let p = flat.as_ptr();
        let n = flat.len();
        let mut acc = [_mm512_setzero_pd(); 4];
        // 32 vectors (2 KiB) per step: four independent sums, and the
        // prefetch for the step 16 KiB ahead.
        let steps = n / 256;
        for step in 0..steps {
            if prefetch {
                let at = step * 2048 + AHEAD_BYTES;
                let mut off = 0;
                while off < 2048 && at + off < n * 8 {
                    _mm_prefetch::<_MM_HINT_T0>((p as *const i8).add(at + off));
                    off += 64;
                }
            }
            let block = p.add(step * 256);
            for v in 0..32 {
                acc[v % 4] = _mm512_add_pd(acc[v % 4], _mm512_loadu_pd(block.add(v * 8)));
            }
        }
        let mut rest = 0.0;
        for v in &flat[steps * 256..] {
            rest += v;
        }
        let ones = _mm512_set1_epi64(1);
        let o = out.as_mut_ptr();
        let full = out.len() / 8 * 8;
        for i in (0..full).step_by(8) {
            _mm512_storeu_si512(o.add(i) as *mut __m512i, ones);
        }
        out[full..].iter_mut().for_each(|v| *v = 1);
        let s = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
        _mm512_reduce_add_pd(s) + rest
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_every_value_and_writes_every_label() {
        let flat: Vec<f64> = (0..10 * 1003).map(|i| (i % 7) as f64).collect();
        let expect: f64 = flat.iter().sum();
        for prefetch in [false, true] {
            let mut out = vec![0i64; 1003];
            let s = super::stream(&flat, 10, &mut out, prefetch);
            assert_eq!(s, expect);
            assert!(out.iter().all(|&o| o == 1));
        }
    }
}
